"""The face set of GJSCC and its recorded train / val / test split (8:1:1, Sec. V).

The set is the registry entry ``gjscc.data.faces``: ``faces_more`` (mini: 4,997 UTKFace faces
at 64 x 64 in ``faces_64.npz``) or ``celeba_hq`` (paper: a folder of image files). The split is a
permutation seeded by the profile seed and the stage name ``gjscc/split``, cut by
``gjscc.data.split``'s fractions (train and val rounded, test the rest), and written to
split.json with the data file's sha256 so every stage reads the same faces.

    python -m pipelines.gjscc.data split --profile mini --out results/mini/gjscc/split.json
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from jscc_core.determinism import stage_seed
from jscc_core.images import load_entry_images
from jscc_core.registry import entry_checksums, read_verified, sha256_file

SPLITS = ("train", "val", "test")
NPZ_NAME = "faces_64.npz"  # the packed face sets (faces_more, faces): uint8 (N, 64, 64, 3) under key "x"


def _fetch_hint(entry: str, root: Path) -> str:
    return (f"fetch it with `JSCC_DATA_MIRROR=<mirror> python -m jscc_core.registry fetch {entry} --root {root}` "
            f"(or `jscc-data fetch {entry} --root {root}`)")


def face_entry(profile) -> str:
    """Registry entry of the face set (``gjscc.data.faces``)."""
    return str(profile.get("gjscc.data.faces"))


def face_file(profile, root: str | os.PathLike = "data") -> Path:
    """The file (packed NPZ) or folder (image files) the face set is read from."""
    folder = Path(root) / face_entry(profile)
    npz = folder / NPZ_NAME
    return npz if npz.is_file() else folder


def read_npz(entry: str, root: str | os.PathLike = "data") -> bytes:
    """The bytes of ``<root>/<entry>/faces_64.npz``, checked against the registry's sha256 when the
    entry lists the file (:func:`jscc_core.registry.read_verified`; an edited file is a ModifiedDataError)."""
    if NPZ_NAME in entry_checksums(entry):
        return read_verified(entry, NPZ_NAME, root)
    return (Path(root) / entry / NPZ_NAME).read_bytes()


def load_faces(profile, root: str | os.PathLike = "data") -> np.ndarray:
    """All faces of ``gjscc.data.faces`` as uint8 (N, H, W, 3), in the entry's order.

    A missing entry is a FileNotFoundError naming it and the command that fetches it; a packed
    set is checked against the registry as it is read (:func:`read_npz`).
    """
    entry, root = face_entry(profile), Path(root)
    folder = root / entry
    if not folder.is_dir():
        raise FileNotFoundError(f"face set {entry!r} is not in {folder}; {_fetch_hint(entry, root)}")
    npz = folder / NPZ_NAME
    if npz.is_file():
        with np.load(io.BytesIO(read_npz(entry, root))) as data:
            if "x" not in data.files:
                raise ValueError(f"{npz} holds no array 'x' (it has {data.files}); {_fetch_hint(entry, root)} again")
            faces = data["x"]
        if faces.dtype != np.uint8 or faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"{npz}: 'x' must be uint8 (N, H, W, 3), got {faces.dtype} {faces.shape}")
        return faces
    images = load_entry_images(entry, root)
    if not images:
        raise FileNotFoundError(f"face set {entry!r} in {folder} holds no images; {_fetch_hint(entry, root)}")
    shapes = {im.shape for im in images.values()}
    if len(shapes) != 1:
        raise ValueError(f"faces of {folder} differ in size ({sorted(shapes)[:3]} ...); they must be one size")
    return np.stack(list(images.values()))


def split_sizes(n: int, fractions) -> dict[str, int]:
    """Images per split: train and val rounded from their fractions, test the rest (4,997 -> 3,998 / 500 / 499)."""
    fractions = [float(f) for f in fractions]
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"gjscc.data.split must be three fractions summing to 1, got {fractions}")
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    sizes = {"train": n_train, "val": n_val, "test": n - n_train - n_val}
    if min(sizes.values()) < 1:
        raise ValueError(f"split {fractions} of {n} images leaves a split empty: {sizes}")
    return sizes


def split_indices(profile, n: int) -> dict[str, np.ndarray]:
    """Indices of each split into the face set of ``n`` images (a seeded permutation, cut in order)."""
    rng = np.random.default_rng(stage_seed(int(profile["seed"]), "gjscc/split"))
    perm = rng.permutation(n)
    sizes = split_sizes(n, profile.get("gjscc.data.split"))
    out, at = {}, 0
    for name in SPLITS:
        out[name] = perm[at:at + sizes[name]]
        at += sizes[name]
    return out


def face_split(profile, root: str | os.PathLike = "data") -> dict[str, np.ndarray]:
    """``{"train", "val", "test"}`` -> uint8 (N_split, H, W, 3) faces of the recorded split."""
    faces = load_faces(profile, root)
    return {name: faces[idx] for name, idx in split_indices(profile, len(faces)).items()}


def write_split(profile, path: str | os.PathLike, root: str | os.PathLike = "data") -> dict:
    """Write split.json: the entry, its data file's sha256 (NPZ; a folder's file list digest
    otherwise), the seed and fractions, and the indices of each split; returns what it wrote."""
    faces = load_faces(profile, root)
    source = face_file(profile, root)
    if source.is_file():
        digest = sha256_file(source)
    else:
        import hashlib

        h = hashlib.sha256()
        for p in sorted(q for q in source.rglob("*") if q.is_file()):
            h.update(f"{p.relative_to(source)}\0{sha256_file(p)}\n".encode())
        digest = h.hexdigest()
    indices = split_indices(profile, len(faces))
    info = {"entry": face_entry(profile), "file": source.name, "sha256": digest, "images": int(len(faces)),
            "seed": int(profile["seed"]), "stage_seed": stage_seed(int(profile["seed"]), "gjscc/split"),
            "fractions": [float(f) for f in profile.get("gjscc.data.split")],
            "sizes": {k: int(len(v)) for k, v in indices.items()},
            "indices": {k: [int(i) for i in v] for k, v in indices.items()}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info) + "\n")
    os.replace(tmp, path)
    return info


def main(argv: list[str] | None = None) -> None:
    from jscc_core.profiles import ProfileError
    from pipelines.cli import run_stage, stage_cli
    from pipelines.profile import load

    parser, add = stage_cli("python -m pipelines.gjscc.data", __doc__)

    def cmd_split(args) -> None:
        info = write_split(load(args.profile), args.out, args.data)
        print(f"split of {info['entry']} ({info['images']} faces): {info['sizes']} -> {args.out}")

    add("split", cmd_split, data=True)
    run_stage(parser, argv, (ProfileError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    main()
