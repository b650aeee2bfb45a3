"""Stages check the registry files they read and record the digests they read (separation, NTSCC, GJSCC)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jscc_core import registry
from jscc_core.registry import ModifiedDataError
from pipelines.gjscc.common import ood_faces
from pipelines.gjscc.data import load_faces
from pipelines.gjscc.evaluate import checksums
from pipelines.ntscc import images
from pipelines.profile import load
from pipelines.separation import run
from tampering import paint_box, sha256

REPO = Path(__file__).resolve().parents[1]
BOX = (slice(100, 300), slice(100, 300))  # a white box across the middle of a 768 x 512 Kodak picture


def _fetch(root: Path, *names: str) -> None:
    for name in names:
        try:
            registry.fetch(name, root=root, progress=False)
        except registry.DataUnavailableError as exc:
            pytest.skip(f"data mirror lacks {name}: {exc}")


@pytest.fixture(autouse=True)
def _nothing_read_yet(monkeypatch):
    monkeypatch.setattr(registry, "_READ_DIGESTS", {})


def test_separation_sweep_refuses_a_painted_kodak_png_before_coding(tmp_path, capsys, monkeypatch):
    root = tmp_path / "data"
    _fetch(root, "kodak")
    paint_box(root / "kodak" / "kodim01.png", BOX)
    profile = tmp_path / "painted.yaml"
    profile.write_text(f"""extends: {REPO / 'pipelines/profiles/mini.yaml'}
separation:
  mode: exact
  workers: 1
  sweeps:
    kodak_two: {{dataset: kodak, limit: 2, bandwidth_ratio: [0.0625], snr_db: [6.0], mcs: [capacity], runtime_min: 1}}
""")

    def fail(*a, **k):
        raise AssertionError("images were coded from a file that differs from the registry")

    monkeypatch.setattr(run, "evaluate_separation", fail)
    out = tmp_path / "out" / "kodak_two.csv"
    with pytest.raises(SystemExit) as exc:
        run.main(["sweep", "--profile", str(profile), "--sweep", "kodak_two", "--data", str(root),
                  "--bler-dir", str(tmp_path / "bler"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "\n" not in err
    assert err.startswith(f"python -m pipelines.separation.run sweep: error: {root / 'kodak' / 'kodim01.png'} "
                          "does not match registry entry 'kodak': expected sha256 6b4fbe6f3e8e0e20..., got ")
    assert err.endswith(f"restore it with `jscc-data fetch kodak --root {root} --force`")
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_ntscc_records_the_digests_of_the_images_it_read(tmp_path):
    root = tmp_path / "data"
    _fetch(root, "kodak")
    path = tmp_path / "two.yaml"  # only the images read are recorded, not the entry's listing
    path.write_text(f"extends: {REPO / 'pipelines/profiles/mini.yaml'}\nntscc:\n  images:\n    test_limit: 2\n")
    profile = load(str(path))
    test = images.test_images(profile, root)
    assert list(test) == ["kodim01", "kodim02"]
    assert images.data_checksums(profile) == {f"kodak/{n}.png": sha256(root / "kodak" / f"{n}.png") for n in test}
    paint_box(root / "kodak" / "kodim02.png", BOX)
    with pytest.raises(ModifiedDataError, match=r"kodim02\.png does not match registry entry 'kodak'"):
        images.test_images(profile, root)


def test_gjscc_face_sets_are_checked_as_read_and_their_digests_recorded(tmp_path):
    mini = load("mini")
    root = tmp_path / "data"
    _fetch(root, "faces")
    assert checksums(mini) == {}
    entry, ids, faces = ood_faces(mini, root, limit=2)
    npz = root / "faces" / "faces_64.npz"
    assert entry == "faces" and faces.shape == (2, 64, 64, 3)
    assert checksums(mini) == {"faces/faces_64.npz": sha256(npz)}

    # the training faces: an edited NPZ is refused by the split, train and evaluation commands' reader
    shutil.copytree(root / "faces", root / "faces_more")  # faces_more's registry digest is another file's
    with pytest.raises(ModifiedDataError, match=r"faces_more/faces_64\.npz does not match registry entry "
                                                r"'faces_more'.*jscc-data fetch faces_more"):
        load_faces(mini, root)
