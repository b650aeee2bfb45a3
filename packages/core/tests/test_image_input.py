"""Bad image input is named up front: empty and truncated files, two files of one stem, 16-bit PNGs, --out."""
from __future__ import annotations

import io
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from jscc_core.digital import separation
from jscc_core.images import load_folder


def _png16(grey: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG of uint16 ``grey`` (H, W), written by hand: Pillow has no 16-bit writer."""
    h, w = grey.shape
    raw = b"".join(b"\0" + grey[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _image(size: int = 32, seed: int = 0) -> np.ndarray:
    """A smooth RGB test picture (so a codec has something to code), uint8 (size, size, 3)."""
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([np.sin(6 * x + seed), np.cos(5 * y), np.sin(4 * (x + y))], axis=-1)
    return np.round((rgb + 1) * 127.5).astype(np.uint8)


def _save(path: Path, arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def test_empty_and_truncated_files_are_named(tmp_path):
    _save(tmp_path / "a.png", _image())
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"b\.png is empty \(0 bytes\), not an image$"):
        load_folder(tmp_path)
    for name, fmt in (("b.png", "PNG"), ("b.jpg", "JPEG")):
        for p in tmp_path.glob("b.*"):
            p.unlink()
        data = _save(tmp_path / name, _image(64, seed=1), fmt)
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        named = rf"(?i){re.escape(str(tmp_path / name))} is not a readable image \(.*truncated"
        with pytest.raises(ValueError, match=named) as exc:
            load_folder(tmp_path)
        assert "\n" not in str(exc.value)


def test_two_files_of_one_stem_are_named_both_before_anything_is_decoded(tmp_path):
    _save(tmp_path / "a.png", _image())
    _save(tmp_path / "a.jpg", _image(), "JPEG")
    (tmp_path / "0.png").write_bytes(b"")  # sorted first: it would fail if decoding began
    both = f"{tmp_path / 'a.jpg'} and {tmp_path / 'a.png'} share the stem 'a'"
    with pytest.raises(ValueError, match=re.escape(both)):
        load_folder(tmp_path)


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped(tmp_path):
    grey = np.array([[0, 257, 32896], [65535, 128, 65407]], dtype=np.uint16)
    (tmp_path / "g.png").write_bytes(_png16(grey))
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode.startswith("I")  # what Pillow's own convert("RGB") clips to white
    out = load_folder(tmp_path)["g"]
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    assert out[..., 0].tolist() == [[0, 1, 128], [255, 0, 255]]
    assert (out == out[..., :1]).all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 65535), min_size=1, max_size=24))
def test_16_bit_scaling_is_rounded_and_monotone(tmp_path_factory, values):
    folder = tmp_path_factory.mktemp("png16")
    grey = np.array(values, dtype=np.uint16)[None]
    (folder / "g.png").write_bytes(_png16(grey))
    got = load_folder(folder)["g"][0, :, 0].astype(int)
    assert got.tolist() == [int(np.floor(v / 257 + 0.5)) for v in values]
    order = np.argsort(grey[0], kind="stable")
    assert (np.diff(got[order]) >= 0).all()


# --------------------------------------------------------------------------- the separation CLI


def _cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        separation.main(args)
    return exc.value.code, capsys.readouterr().err.strip().splitlines()[-1]


@pytest.fixture
def no_compute(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("images were coded before the input was checked")

    monkeypatch.setattr(separation, "evaluate_separation", fail)


@pytest.mark.parametrize("case", ["empty", "truncated", "same stem"])
def test_cli_names_bad_images_before_any_compute(tmp_path, capsys, no_compute, case):
    _save(tmp_path / "a.png", _image())
    if case == "empty":
        (tmp_path / "z.png").write_bytes(b"")
        expected = f"{tmp_path / 'z.png'} is empty"
    elif case == "truncated":
        data = _save(tmp_path / "z.jpg", _image(64), "JPEG")
        (tmp_path / "z.jpg").write_bytes(data[:300])
        expected = f"{tmp_path / 'z.jpg'} is not a readable image"
    else:
        _save(tmp_path / "a.jpg", _image(), "JPEG")
        expected = f"{tmp_path / 'a.jpg'} and {tmp_path / 'a.png'} share the stem 'a'"
    code, line = _cli(["--images", str(tmp_path), "--snr", "10", "--mcs", "capacity", "--quiet"], capsys)
    assert code == 2 and line.startswith("python -m jscc_core.digital.separation: error: --images: ")
    assert expected in line


def test_cli_out_is_checked_before_any_compute(tmp_path, capsys, no_compute):
    images = tmp_path / "images"
    images.mkdir()
    _save(images / "a.png", _image())
    base = ["--images", str(images), "--snr", "10", "--mcs", "capacity", "--quiet", "--out"]
    code, line = _cli(base + [str(tmp_path)], capsys)
    assert code == 2 and line.endswith(f"error: --out: {tmp_path} is an existing folder; name the CSV file to "
                                       f"write, e.g. {tmp_path / 'separation.csv'}")
    (tmp_path / "file").write_text("")
    code, line = _cli(base + [str(tmp_path / "file" / "sub" / "x.csv")], capsys)
    assert code == 2 and line.endswith("is a file, not a folder") and str(tmp_path / "file") in line


def test_cli_codes_a_16_bit_png_as_its_8_bit_picture(tmp_path, capsys):
    texture = np.random.default_rng(0).integers(0, 64, (32, 32))
    grey16 = ((_image(32)[..., 0] // 2 + texture).astype(np.uint16) * 257)
    (tmp_path / "g16.png").write_bytes(_png16(grey16))
    out = tmp_path / "res" / "g.csv"
    results = separation.main(["--images", str(tmp_path), "--snr", "10", "--ratio", "0.25", "--mcs", "capacity",
                               "--count", "payload", "--quiet", "--out", str(out)])
    (r,) = results
    # pure white (16 bits clipped to 8) would code losslessly: PSNR inf
    assert r.status == "ok" and math.isfinite(r.psnr) and 20 < r.psnr < 50
    assert out.is_file() and "g16" in out.read_text()
