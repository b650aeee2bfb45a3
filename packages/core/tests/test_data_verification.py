"""Registry data is checked where it is read: an edited file is refused, the digests read are recorded."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from jscc_core import registry
from jscc_core.images import load_cifar_subset, load_dataset, load_entry_images, load_folder
from jscc_core.registry import ChecksumError, ModifiedDataError
from tampering import paint_box, sha256

KODIM01_SHA = "6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f"


@pytest.fixture
def kodak_root(tmp_path, monkeypatch) -> Path:
    """A data root holding a fresh copy of the kodak entry; the digests read so far are forgotten."""
    monkeypatch.setattr(registry, "_READ_DIGESTS", {})
    try:
        registry.fetch("kodak", root=tmp_path, progress=False)
    except registry.DataUnavailableError as exc:
        pytest.skip(f"data mirror lacks kodak: {exc}")
    return tmp_path




def test_a_painted_png_is_refused_where_it_is_read_even_when_the_fetch_stamp_matches(kodak_root):
    png = kodak_root / "kodak" / "kodim01.png"
    paint_box(png)
    # the stamp as if the edit had kept the size and mtime: fetch's fast path trusts it
    stamp_path = kodak_root / "kodak" / registry.STAMP_NAME
    stamp = json.loads(stamp_path.read_text())
    stamp["files"]["kodim01.png"].update(size=png.stat().st_size, mtime_ns=png.stat().st_mtime_ns)
    stamp_path.write_text(json.dumps(stamp))
    registry.fetch("kodak", root=kodak_root, progress=False)
    painted = sha256(png)
    assert painted != KODIM01_SHA

    for read in (lambda: load_entry_images("kodak", kodak_root, limit=2),
                 lambda: load_dataset("kodak", kodak_root)):
        with pytest.raises(ModifiedDataError) as exc:
            read()
        msg = str(exc.value)
        assert "\n" not in msg and str(png) in msg and "'kodak'" in msg
        assert f"expected sha256 {KODIM01_SHA[:16]}" in msg and f"got {painted[:16]}" in msg
        assert f"jscc-data fetch kodak --root {kodak_root} --force" in msg
        assert isinstance(exc.value, ChecksumError) and isinstance(exc.value, ValueError)
    assert registry.read_checksums(["kodak"]) == {}  # nothing was recorded as read

    # the command the message names restores the file from the mirror
    assert registry.main(["fetch", "kodak", "--root", str(kodak_root), "--force", "-q"]) == 0
    assert sha256(png) == KODIM01_SHA and sha256(png.with_name("kodim01.png.corrupt")) == painted
    assert list(load_entry_images("kodak", kodak_root, limit=1)) == ["kodim01"]


def test_the_digests_recorded_are_those_of_the_files_read(kodak_root):
    load_dataset("kodak", kodak_root, limit=2)
    folder = kodak_root / "kodak"
    assert registry.read_checksums(["kodak"]) == {
        "kodak/kodim01.png": sha256(folder / "kodim01.png"), "kodak/kodim02.png": sha256(folder / "kodim02.png")}
    assert registry.read_checksums(["cifar10_subset"]) == {}
    # a folder of images outside the registry is read as it is, and recorded nowhere
    other = kodak_root / "mine"
    other.mkdir()
    shutil.copy(folder / "kodim03.png", other / "kodim03.png")
    paint_box(other / "kodim03.png")
    assert list(load_folder(other)) == ["kodim03"]
    assert "kodak/kodim03.png" not in registry.read_checksums(["kodak"])


def test_an_edited_cifar_npz_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_READ_DIGESTS", {})
    try:
        registry.fetch("cifar10_subset", root=tmp_path, progress=False)
    except registry.DataUnavailableError as exc:
        pytest.skip(f"data mirror lacks cifar10_subset: {exc}")
    npz = tmp_path / "cifar10_subset" / "cifar10_subset.npz"
    assert load_cifar_subset(tmp_path, "test").shape == (1000, 32, 32, 3)
    assert registry.read_checksums(["cifar10_subset"]) == {"cifar10_subset/cifar10_subset.npz": sha256(npz)}
    with npz.open("ab") as fh:  # a trailing byte: numpy would still read it
        fh.write(b"\0")
    with pytest.raises(ModifiedDataError, match=r"cifar10_subset\.npz does not match registry entry 'cifar10_subset'"):
        load_cifar_subset(tmp_path, "test")


PAYLOAD = b"weights of a test entry\n" * 100


def _tiny_registry(tmp_path: Path, checksum: str, field: str) -> Path:
    p = tmp_path / "registry.yaml"
    p.write_text(f"""
entries:
  tiny:
    kind: weights
    description: test entry
    licence: none
    mirror_folder: tinyfolder
    checksum: {checksum}
    files:
      - {{path: w.bin, {field}}}
""")
    (tmp_path / "mirror" / "tinyfolder").mkdir(parents=True)
    (tmp_path / "mirror" / "tinyfolder" / "w.bin").write_bytes(PAYLOAD)
    return p


def test_a_resolved_file_is_hashed_once_and_an_edit_with_its_mtime_restored_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_READ_DIGESTS", {})
    full = hashlib.sha256(PAYLOAD).hexdigest()
    reg = _tiny_registry(tmp_path, "sha256_prefix", f'sha256_prefix: "{full[:8]}"')
    kw = dict(root=tmp_path / "data", mirror=tmp_path / "mirror", registry=reg, progress=False)
    hashed = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    path = registry.resolve_file("tiny", **kw)  # fetch hashes the copy it installs as it copies
    for _ in range(3):
        assert registry.resolve_file("tiny", **kw) == path
    assert hashed == ["w.bin"]  # checked at the first read only
    # the full digest read is recorded, not the published prefix
    assert registry.read_checksums(["tiny"]) == {"tiny/w.bin": full}

    st = path.stat()
    path.write_bytes(PAYLOAD.replace(b"test", b"TEST"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    with pytest.raises(ModifiedDataError, match=rf"w\.bin does not match registry entry 'tiny': expected sha256 "
                                                 rf"{full[:8]}\.\.\., got"):
        registry.resolve_file("tiny", **kw)
    with pytest.raises(ModifiedDataError):  # read_verified, too, sees the bytes
        registry.read_verified("tiny", "w.bin", tmp_path / "data", registry=reg)
    registry.fetch("tiny", force=True, **{k: v for k, v in kw.items()})
    assert registry.read_verified("tiny", "w.bin", tmp_path / "data", registry=reg) == PAYLOAD


def test_files_without_a_published_checksum_are_recorded_as_read(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_READ_DIGESTS", {})
    reg = _tiny_registry(tmp_path, "unknown", 'url: "https://example.invalid/w.bin"')
    path = registry.resolve_file("tiny", root=tmp_path / "data", mirror=tmp_path / "mirror", registry=reg,
                                 allow_unverified=True, progress=False)
    assert registry.read_checksums(["tiny"]) == {"tiny/w.bin": hashlib.sha256(PAYLOAD).hexdigest()}
    with pytest.raises(registry.RegistryError, match="has no file 'other.bin'"):
        registry.check_file("tiny", "other.bin", tmp_path / "data", registry=reg)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=r"w\.bin is missing; run `jscc-data fetch tiny"):
        registry.check_file("tiny", "w.bin", tmp_path / "data", registry=reg)
