"""Image codecs of the separation baselines: HEVC intra (BPG-class) and JPEG2000.

Every codec has the same small interface, :class:`ImageCodec`: an integer ``quality`` in an
inclusive ``quality_range`` (higher = better quality, larger bitstream),
``encode(image, quality) -> bytes`` for one ``uint8`` RGB image of shape (H, W, 3), and
``decode(data, shape) -> image``. Encoding is deterministic: the same image and quality give
the same bytes on every run and every machine with the same library versions (tested).

``decode`` never lets a decoder error reach the caller: an empty, truncated or corrupted
bitstream that the decoder rejects, or one that decodes to the wrong size or colour mode,
raises :class:`CorruptBitstreamError`, which a separation-scheme simulation counts as a lost
image (the cliff effect is a real event: docs/conventions.md, "Digital baselines and the cliff
effect"). Neither codec carries a checksum, so some bit errors in the entropy-coded data decode
without complaint to a damaged image; a simulation that knows its channel decoder failed should
count the image as lost without decoding it.

Codecs (:func:`get_codec`):

* ``"hevc"`` - :class:`HEVCIntra` 4:4:4, ``"hevc420"`` - :class:`HEVCIntra` 4:2:0: one HEVC
  intra picture (x265 through pillow-heif / libheif, decoded by libde265) in a HEIF file.
  BPG is HEVC intra in its own, smaller container, so this is the project's BPG stand-in,
  labelled "HEVC-intra (x265), BPG-class" in figures. ``quality = 51 - QP`` (BPG's ``-q`` is
  the QP), constant QP over the picture as in BPG.
* ``"jpeg2000"`` - :class:`JPEG2000`: OpenJPEG through Pillow, a raw J2K codestream
  (no JP2 container), 9/7 wavelet with the RGB->YCbCr component transform.

:class:`Rescaled` wraps a codec to code the image at 1/factor of its size (area down, bicubic up).

What is counted as bits: ``len(data)``, the whole file, unless a caller asks for
:meth:`ImageCodec.payload_bytes` (the coded image without its container: for HEVC the NAL units,
parameter sets included) or :meth:`ImageCodec.slice_bytes` (HEVC only: the coded slice NAL
units alone, the file's tail; the parameter sets and container are assumed known at the
receiver); see :mod:`jscc_core.digital.rate_control`.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

__all__ = [
    "CorruptBitstreamError",
    "ImageCodec",
    "HEVCIntra",
    "JPEG2000",
    "Rescaled",
    "CODEC_NAMES",
    "get_codec",
    "check_image",
    "image_digest",
]

BytesLike = bytes | bytearray | memoryview


class CorruptBitstreamError(Exception):
    """A bitstream that ``codec`` cannot decode to an image of the expected shape.

    Callers catch it and count the image as lost. ``codec`` is the codec's name and
    ``reason`` says what the decoder (or the shape check) objected to.
    """

    def __init__(self, codec: str, reason: str):
        super().__init__(f"{codec}: corrupt or undecodable bitstream: {reason}")
        self.codec = codec
        self.reason = reason

    def __reduce__(self):  # keep (codec, reason) through pickling (process pools)
        return type(self), (self.codec, self.reason)


# --------------------------------------------------------------------------- helpers


def check_image(image: Any) -> np.ndarray:
    """Return ``image`` as a C-contiguous ``uint8`` array (H, W, 3), or raise ``ValueError``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0..255), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    return np.ascontiguousarray(image)


def image_digest(image: np.ndarray) -> str:
    """Content hash of an image (shape and pixels), the key of encoding caches."""
    img = check_image(image)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(img.shape).encode())
    h.update(img.tobytes())
    return h.hexdigest()


def _expected_hw(shape: Sequence[int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3) or min(shape[:2]) < 1:
        raise ValueError(f"shape must be (H, W) or (H, W, 3), got {shape}")
    return shape[0], shape[1]


def _as_bytes(data: Any) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    return bytes(data)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- interface


class ImageCodec(ABC):
    """A still-image codec with an integer quality knob (higher = better, larger)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Registry name (:func:`get_codec`), e.g. ``"hevc"``."""

    @property
    @abstractmethod
    def label(self) -> str:
        """Name of the method in figures, e.g. ``"HEVC-intra (x265), BPG-class"``."""

    @property
    @abstractmethod
    def quality_range(self) -> tuple[int, int]:
        """Inclusive (lowest, highest) quality; rate is non-decreasing in quality."""

    @abstractmethod
    def encode(self, image: np.ndarray, quality: int) -> bytes:
        """Compress one uint8 RGB image (H, W, 3) at ``quality`` to a self-contained bitstream."""

    @abstractmethod
    def decode(self, data: BytesLike, shape: Sequence[int]) -> np.ndarray:
        """Decompress to a uint8 array (H, W, 3); ``shape`` is (H, W) or (H, W, 3).

        Raises :class:`CorruptBitstreamError` (never another exception) when ``data`` cannot be
        decoded to an RGB image of that shape.
        """

    def _stream_and_size(self, data: BytesLike, shape: Sequence[int]) -> tuple[bytes, int, int]:
        """The stream as bytes and the expected (height, width); an empty stream is corrupt."""
        h, w = _expected_hw(shape)
        data = _as_bytes(data)
        if not data:
            raise CorruptBitstreamError(self.name, "empty bitstream")
        return data, h, w

    def payload_bytes(self, data: BytesLike) -> int:
        """Bytes of the coded image without container overhead; ``len(data)`` by default."""
        return len(data)

    def slice_bytes(self, data: BytesLike) -> int:
        """Bytes of the coded picture alone, the stream's tail after everything a receiver configured
        for the image size and encoder settings already holds. Only HEVC has such a split
        (:meth:`HEVCIntra.slice_bytes`); other codecs raise ``ValueError``."""
        raise ValueError(f"{self.name}: count='slice' is HEVC-only (it charges the HEVC slice NAL units "
                         f"without the parameter sets); {self.label} has no such split, use 'file' or 'payload'")

    @property
    def qualities(self) -> range:
        lo, hi = self.quality_range
        return range(lo, hi + 1)

    @property
    def key(self) -> str:
        """Identity of the codec and its settings (for caches and provenance)."""
        return repr(self)

    def check_quality(self, quality: Any) -> int:
        lo, hi = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
            raise TypeError(f"{self.name}: quality must be an int in [{lo}, {hi}], got {quality!r}")
        if not lo <= int(quality) <= hi:
            raise ValueError(f"{self.name}: quality must be in [{lo}, {hi}], got {quality}")
        return int(quality)


# --------------------------------------------------------------------------- HEVC intra

_X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                 "slow", "slower", "veryslow", "placebo")
_HEVC_MAX_QP = 51


@dataclass(frozen=True)
class HEVCIntra(ImageCodec):
    """HEVC intra coding of one RGB image with x265, in a HEIF file (pillow-heif / libheif).

    Quality: ``quality = 51 - QP`` (0..51), where QP is the constant quantisation parameter of
    the intra slice; BPG's ``-q`` option is this QP (BPG's default ``-q 28`` is quality 23).
    x265 runs in constant-QP mode with the I-slice QP offset switched off (``ipratio=1``), so
    every quality step is one QP step (about 12 % rate) and all 52 levels are distinct.

    ``chroma``: "444" (default) or "420" subsampling of the YCbCr (BT.601, full range) picture
    x265 codes; libheif converts RGB <-> YCbCr. ``preset``: x265 speed preset (libheif's
    default "slow"). ``tune``: "psnr" (default) codes for MSE - x265 ``tune=psnr`` with
    psycho-visual RD and RDOQ and adaptive quantisation off, which libheif would otherwise switch
    back on; with constant QP the whole picture is quantised alike, as in BPG. "ssim" keeps libheif's
    defaults (``tune=ssim``, psy-rd 1.0, psy-rdoq 1.0), which trade PSNR for texture.

    ``bit_depth``: 8 (default, BPG's default) or 10 (BPG's ``-b 10``). 10 bits remove most of
    the 8-bit RGB <-> YCbCr rounding error, which caps 8-bit 4:4:4 near 52 dB PSNR and costs
    ~0.3 dB at 42 dB and ~0.7 dB at 47 dB (kodim23, measured); decoding returns 8-bit RGB.

    Determinism: x265 output depends on its thread count (measured: a 2-thread pool gives other
    bytes than no pool), so the encoder runs single-threaded (``pools=none``,
    ``frame-threads=1``) and the bytes depend only on the image, the settings and the x265
    version. Decoding (libde265) is exact whatever its threads.

    Bits: ``encode`` returns the whole HEIF file, and that is what the rate controller counts by
    default. The file holds the HEVC NAL units (VPS, SPS, PPS in the ``hvcC`` box; the slice in
    ``mdat``) plus HEIF boxes (``ftyp``, ``meta`` with ``hdlr``, ``pitm``, ``iloc``, ``iinf``,
    ``iprp``: ``ispe``, ``colr`` nclx, ``pixi``, ``ipma``; NAL length fields): 308 bytes per
    image with these settings (measured), whatever the image size. BPG's own header is a few
    bytes (and it shortens the parameter sets), so counting the file is conservative against BPG
    by ~2500 bits per image: ~0.006 bpp on a 768x512 Kodak image, but 0.15 bpp on a 128x128
    crop and 2.4 bpp on a 32x32 CIFAR image. The HEVC stream alone is :meth:`payload_bytes`; the
    coded slice alone, without the parameter sets, :meth:`slice_bytes`.
    """

    chroma: Literal["444", "420"] = "444"
    preset: str = "slow"
    tune: Literal["psnr", "ssim"] = "psnr"
    bit_depth: Literal[8, 10] = 8

    def __post_init__(self):
        if self.chroma not in ("444", "420"):
            raise ValueError(f"HEVCIntra: chroma must be '444' or '420', got {self.chroma!r}")
        if self.preset not in _X265_PRESETS:
            raise ValueError(f"HEVCIntra: preset must be one of {_X265_PRESETS}, got {self.preset!r}")
        if self.tune not in ("psnr", "ssim"):
            raise ValueError(f"HEVCIntra: tune must be 'psnr' or 'ssim', got {self.tune!r}")
        if self.bit_depth not in (8, 10):
            raise ValueError(f"HEVCIntra: bit_depth must be 8 or 10, got {self.bit_depth!r}")

    @property
    def name(self) -> str:
        return "hevc" if self.chroma == "444" else "hevc420"

    @property
    def label(self) -> str:
        details = ([] if self.chroma == "444" else ["4:2:0"]) + ([] if self.bit_depth == 8 else ["10-bit"])
        return f"HEVC-intra (x265{''.join(', ' + d for d in details)}), BPG-class"

    @property
    def quality_range(self) -> tuple[int, int]:
        return (0, _HEVC_MAX_QP)

    def qp(self, quality: int) -> int:
        """HEVC quantisation parameter of ``quality`` (BPG's ``-q``)."""
        return _HEVC_MAX_QP - self.check_quality(quality)

    def enc_params(self, quality: int) -> dict[str, str]:
        """The libheif / x265 encoder parameters used for ``quality`` (for provenance)."""
        params = {
            "preset": self.preset,
            "tune": self.tune,
            "x265:qp": str(self.qp(quality)),  # constant QP (x265 CQP mode), as BPG
            "x265:ipratio": "1",  # no I-slice QP offset: the slice QP is exactly `qp`
            "x265:pools": "none",  # single-threaded: the bitstream must not depend on cores
            "x265:frame-threads": "1",
        }
        if self.tune == "psnr":
            params.update({"x265:psy-rd": "0", "x265:psy-rdoq": "0", "x265:aq-mode": "0"})
        return params

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        import pillow_heif

        img = check_image(image)
        params = self.enc_params(quality)
        if not pillow_heif.libheif_info().get("HEIF"):
            raise RuntimeError("pillow-heif has no HEVC encoder (x265); install a pillow-heif wheel with x265")
        if self.bit_depth == 8:
            heif = pillow_heif.from_bytes("RGB", (img.shape[1], img.shape[0]), img.tobytes())
        else:  # 16-bit input (v * 257 maps 255 to 65535); libheif codes it with 10 bits
            wide = img.astype("<u2") * np.uint16(257)
            heif = pillow_heif.from_bytes("RGB;16", (img.shape[1], img.shape[0]), wide.tobytes())
        buf = io.BytesIO()
        heif.save(buf, chroma=self.chroma, enc_params=params, save_nclx_profile=True)
        return buf.getvalue()

    def decode(self, data: BytesLike, shape: Sequence[int]) -> np.ndarray:
        data, h, w = self._stream_and_size(data, shape)
        import pillow_heif

        try:
            heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
            size, mode = heif.size, heif.mode  # header only, nothing decoded yet
        except Exception as exc:  # libheif raises ValueError, EOFError, SyntaxError, RuntimeError, ...
            raise CorruptBitstreamError(self.name, _describe(exc)) from exc
        if tuple(size) != (w, h):
            raise CorruptBitstreamError(self.name, f"header says {size[1]}x{size[0]}, expected {h}x{w}")
        if mode != "RGB":
            raise CorruptBitstreamError(self.name, f"decodes to mode {mode!r}, expected 'RGB'")
        try:
            out = np.array(heif, dtype=np.uint8, copy=True)
        except Exception as exc:
            raise CorruptBitstreamError(self.name, _describe(exc)) from exc
        if out.shape != (h, w, 3):
            raise CorruptBitstreamError(self.name, f"decoded shape {out.shape}, expected {(h, w, 3)}")
        return out

    def payload_bytes(self, data: BytesLike) -> int:
        """Bytes of the HEVC NAL units alone (VPS, SPS, PPS and slice data).

        Excludes the HEIF boxes and the NAL length fields; this is close to what a BPG file of
        the same picture would carry (BPG adds a header of a few bytes). Raises
        :class:`CorruptBitstreamError` if ``data`` is not a HEIF file as :meth:`encode` writes.
        """
        parameter_sets, nal_units, _ = self._nal_layout(data)
        return sum(parameter_sets) + sum(n for _, n in nal_units)

    def slice_bytes(self, data: BytesLike) -> int:
        """Bytes of the coded picture's NAL units in ``mdat`` (the slice segment(s)), which are the
        file's tail: ``data[-slice_bytes(data):]`` is the content of the first NAL unit onwards.

        The rest of the file - the HEIF boxes and the ``hvcC`` record with the parameter sets
        (VPS, SPS, PPS; identical for every image of one size and encoder setting, whatever the
        quality: tested) and the first NAL unit's length field - is what a receiver configured
        for the image size and encoder settings holds or rebuilds from the stream length (which
        fixes the ``mdat`` size, the ``iloc`` extent and the length field). x265 writes one slice
        per picture, so this is that NAL unit alone; were there more, the length fields between
        them would be counted too (they lie inside the tail). Raises
        :class:`CorruptBitstreamError` if ``data`` is not a HEIF file as :meth:`encode` writes or
        its ``mdat`` is not at the end.
        """
        data = _as_bytes(data)
        _, nal_units, mdat_end = self._nal_layout(data)
        if not nal_units:
            raise CorruptBitstreamError(self.name, "mdat holds no NAL unit")
        if mdat_end != len(data):
            raise CorruptBitstreamError(self.name, f"mdat ends at byte {mdat_end} of {len(data)}: not the tail")
        return len(data) - nal_units[0][0]

    def _nal_layout(self, data: BytesLike) -> tuple[list[int], list[tuple[int, int]], int]:
        """(parameter-set NAL sizes, (start, size) of each coded-picture NAL unit's content in
        ``mdat``, end of ``mdat``); :class:`CorruptBitstreamError` if the boxes do not parse."""
        try:
            return _heif_hevc_nal_layout(_as_bytes(data))
        except (ValueError, struct.error, IndexError) as exc:
            raise CorruptBitstreamError(self.name, f"cannot parse HEIF boxes: {exc}") from exc


def _iter_boxes(buf: bytes, start: int, end: int):
    """Yield (type, payload_start, box_end) for the ISO-BMFF boxes in buf[start:end]."""
    off = start
    while off < end:
        if end - off < 8:
            raise ValueError(f"truncated box header at byte {off}")
        size, typ = struct.unpack_from(">I4s", buf, off)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", buf, off + 8)[0]
            header = 16
        elif size == 0:
            size = end - off
        if size < header or off + size > end:
            raise ValueError(f"box {typ!r} at byte {off} has invalid size {size}")
        yield typ, off + header, off + size
        off += size


def _child(buf: bytes, start: int, end: int, typ: bytes) -> tuple[int, int]:
    for t, s, e in _iter_boxes(buf, start, end):
        if t == typ:
            return s, e
    raise ValueError(f"no {typ.decode()!r} box")


def _heif_hevc_nal_layout(buf: bytes) -> tuple[list[int], list[tuple[int, int]], int]:
    meta_s, meta_e = _child(buf, 0, len(buf), b"meta")
    iprp = _child(buf, meta_s + 4, meta_e, b"iprp")  # meta is a full box: skip version/flags
    ipco = _child(buf, *iprp, b"ipco")
    s, e = _child(buf, *ipco, b"hvcC")
    rec = buf[s:e]
    length_size = (rec[21] & 0x3) + 1
    parameter_sets, p = [], 23
    for _ in range(rec[22]):  # arrays of parameter-set NAL units
        (count,) = struct.unpack_from(">H", rec, p + 1)
        p += 3
        for _ in range(count):
            (n,) = struct.unpack_from(">H", rec, p)
            p += 2 + n
            parameter_sets.append(n)
    if p > len(rec):
        raise ValueError("hvcC record overruns its box")
    s, e = _child(buf, 0, len(buf), b"mdat")
    nal_units, p = [], s
    while p < e:  # length-prefixed NAL units of the coded picture
        n = int.from_bytes(buf[p:p + length_size], "big")
        nal_units.append((p + length_size, n))
        p += length_size + n
    if p != e:
        raise ValueError("NAL units overrun the mdat box")
    return parameter_sets, nal_units, e


# --------------------------------------------------------------------------- JPEG2000


@dataclass(frozen=True)
class JPEG2000(ImageCodec):
    """JPEG2000 (OpenJPEG through Pillow) as a raw J2K codestream, no JP2 container.

    Quality: ``q`` in 0..100 sets OpenJPEG's rate target (Pillow ``quality_mode="rates"``,
    one quality layer) to a compression ratio of ``2 ** ((100 - q) / 8)`` against 24-bit RGB,
    i.e. a target of ``24 * 2 ** ((q - 100) / 8)`` bits per pixel: every 8 steps halve the
    rate, one step is ~9 %. q = 100 (ratio 1) keeps every coded bit-plane, the finest that
    OpenJPEG's default 9/7 quantisation gives (~51 dB PSNR), so the rate saturates at high q
    (from q ~ 80 on a 128x128 Kodak crop). q = 0 targets 0.004 bpp, below the codestream
    headers, so the smallest streams are header-bound. OpenJPEG's rate allocation makes the rate
    non-decreasing in q. (The alternative ``quality_mode="dB"`` targets a PSNR, but its rate is
    less predictable; the rate mode suits a rate controller.)

    Coding: irreversible 9/7 wavelet with the RGB->YCbCr component transform (``mct=1``;
    Pillow's default ``mct=0`` codes R, G, B separately and loses ~4-10 dB), ``num_resolutions``
    levels (reduced for images too small for them), ``codeblock_size`` code-blocks, one tile.
    OpenJPEG is single-threaded here and deterministic.

    Bits: the codestream is the payload (its main header, ~100 bytes, is part of the format).
    OpenJPEG writes a comment marker ("Created by OpenJPEG version ...", 39 bytes) that no
    decoder needs; ``strip_comment=True`` (default) removes it.
    """

    num_resolutions: int = 6
    codeblock_size: tuple[int, int] = (64, 64)
    strip_comment: bool = True

    def __post_init__(self):
        if not 1 <= int(self.num_resolutions) <= 32:
            raise ValueError(f"JPEG2000: num_resolutions must be in [1, 32], got {self.num_resolutions}")
        if len(self.codeblock_size) != 2 or any(c not in (4, 8, 16, 32, 64, 128, 256, 512, 1024)
                                                 for c in self.codeblock_size):
            raise ValueError(f"JPEG2000: codeblock_size must be two powers of 2 in [4, 1024], "
                             f"got {self.codeblock_size}")
        if self.codeblock_size[0] * self.codeblock_size[1] > 4096:
            raise ValueError(f"JPEG2000: codeblock area must be <= 4096, got {self.codeblock_size}")

    @property
    def name(self) -> str:
        return "jpeg2000"

    @property
    def label(self) -> str:
        return "JPEG2000 (OpenJPEG)"

    @property
    def quality_range(self) -> tuple[int, int]:
        return (0, 100)

    def compression_ratio(self, quality: int) -> float:
        """OpenJPEG rate target of ``quality``: raw 24-bit size / coded size."""
        return 2.0 ** ((100 - self.check_quality(quality)) / 8)

    def target_bpp(self, quality: int) -> float:
        """Target bits per pixel of ``quality`` (OpenJPEG's rate allocation aims at or below it)."""
        return 24.0 / self.compression_ratio(quality)

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        from PIL import Image

        img = check_image(image)
        ratio = self.compression_ratio(quality)
        # OpenJPEG needs 2^(levels - 1) <= min(H, W) (one tile = the whole image).
        levels = min(int(self.num_resolutions), int(math.floor(math.log2(min(img.shape[:2])))) + 1)
        buf = io.BytesIO()
        Image.fromarray(img, mode="RGB").save(
            buf, format="JPEG2000", no_jp2=True, quality_mode="rates", quality_layers=[ratio],
            irreversible=True, mct=1, num_resolutions=levels,
            codeblock_size=tuple(self.codeblock_size),
        )
        code = buf.getvalue()
        return _strip_j2k_comments(code) if self.strip_comment else code

    def decode(self, data: BytesLike, shape: Sequence[int]) -> np.ndarray:
        data, h, w = self._stream_and_size(data, shape)
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(io.BytesIO(data), formats=["JPEG2000"])
                size, mode = im.size, im.mode  # from the SIZ marker, nothing decoded yet
                if tuple(size) != (w, h):
                    raise CorruptBitstreamError(self.name, f"header says {size[1]}x{size[0]}, expected {h}x{w}")
                if mode != "RGB":
                    raise CorruptBitstreamError(self.name, f"decodes to mode {mode!r}, expected 'RGB'")
                im.load()
                out = np.array(im, dtype=np.uint8, copy=True)
        except CorruptBitstreamError:
            raise
        except Exception as exc:  # Pillow: UnidentifiedImageError, OSError("broken data stream"), ...
            raise CorruptBitstreamError(self.name, _describe(exc)) from exc
        if out.shape != (h, w, 3):
            raise CorruptBitstreamError(self.name, f"decoded shape {out.shape}, expected {(h, w, 3)}")
        return out


_J2K_SOC, _J2K_SOT, _J2K_COM = 0xFF4F, 0xFF90, 0xFF64


def _strip_j2k_comments(code: bytes) -> bytes:
    """Drop COM marker segments from the main header of a J2K codestream (they carry no image data)."""
    if len(code) < 4 or int.from_bytes(code[:2], "big") != _J2K_SOC:
        return code
    out, p = [code[:2]], 2
    while p + 4 <= len(code):
        marker, length = struct.unpack_from(">HH", code, p)
        if marker == _J2K_SOT or marker >> 8 != 0xFF:
            break  # end of the main header (tile-part lengths are unaffected)
        if marker != _J2K_COM:
            out.append(code[p:p + 2 + length])
        p += 2 + length
    out.append(code[p:])
    return b"".join(out)


# --------------------------------------------------------------------------- rescaling


@dataclass(frozen=True)
class Rescaled(ImageCodec):
    """``inner`` applied to the image downsampled by an integer ``factor``; decoded and upsampled back.

    The sender shrinks the (H, W, 3) image to (H / factor, W / factor) by area averaging (Pillow
    ``Image.BOX``: each output pixel is the mean of a factor x factor block) and codes it with
    ``inner``; the receiver decodes the small picture and upsamples it bicubically (Pillow
    ``Image.BICUBIC``) to (H, W). H and W must be multiples of ``factor``. ``factor`` = 1 is
    ``inner`` itself. The factor is not in the stream: both ends must agree on it (e.g. by a
    design rule per bit budget). Counting (:meth:`payload_bytes`, :meth:`slice_bytes`) is
    ``inner``'s on the small picture's stream; ``name`` and ``key`` carry the factor, so
    encoding caches keep the factors apart.
    """

    inner: ImageCodec
    factor: int = 1

    def __post_init__(self):
        if not isinstance(self.inner, ImageCodec):
            raise TypeError(f"Rescaled: inner must be an ImageCodec, got {type(self.inner).__name__}")
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, np.integer)) or self.factor < 1:
            raise ValueError(f"Rescaled: factor must be an int >= 1, got {self.factor!r}")

    @property
    def name(self) -> str:
        return self.inner.name if self.factor == 1 else f"{self.inner.name}_down{self.factor}"

    @property
    def label(self) -> str:
        return self.inner.label if self.factor == 1 else \
            f"{self.inner.label} at 1/{self.factor} size (area down, bicubic up)"

    @property
    def quality_range(self) -> tuple[int, int]:
        return self.inner.quality_range

    def small_shape(self, shape: Sequence[int]) -> tuple[int, int]:
        """(H / factor, W / factor) of a full-size (H, W[, 3]); ``ValueError`` if not divisible."""
        h, w = _expected_hw(shape)
        if h % self.factor or w % self.factor:
            raise ValueError(f"{self.name}: image {h}x{w} is not a multiple of the factor {self.factor}")
        return h // self.factor, w // self.factor

    def downsample(self, image: np.ndarray) -> np.ndarray:
        """The sender's (H / factor, W / factor, 3) picture (area averaging)."""
        from PIL import Image

        img = check_image(image)
        h, w = self.small_shape(img.shape)
        if self.factor == 1:
            return img
        return np.asarray(Image.fromarray(img, mode="RGB").resize((w, h), Image.BOX), dtype=np.uint8)

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        return self.inner.encode(self.downsample(image), quality)

    def decode(self, data: BytesLike, shape: Sequence[int]) -> np.ndarray:
        """The full-size (H, W, 3) picture; ``shape`` is the full size."""
        from PIL import Image

        h, w = _expected_hw(shape)
        small = self.inner.decode(data, self.small_shape((h, w)))
        if self.factor == 1:
            return small
        return np.asarray(Image.fromarray(small, mode="RGB").resize((w, h), Image.BICUBIC), dtype=np.uint8)

    def payload_bytes(self, data: BytesLike) -> int:
        return self.inner.payload_bytes(data)

    def slice_bytes(self, data: BytesLike) -> int:
        return self.inner.slice_bytes(data)


# --------------------------------------------------------------------------- registry

_REGISTRY = {
    "hevc": lambda **options: HEVCIntra(chroma="444", **options),
    "hevc420": lambda **options: HEVCIntra(chroma="420", **options),
    "jpeg2000": lambda **options: JPEG2000(**options),
}
CODEC_NAMES = tuple(_REGISTRY)


def get_codec(name: str, **options: Any) -> ImageCodec:
    """The codec registered as ``name``: "hevc" (HEVC intra 4:4:4), "hevc420", "jpeg2000".

    ``options`` go to the codec's constructor (e.g. ``preset="medium"`` for HEVC).
    """
    try:
        factory = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODEC_NAMES)}") from None
    return factory(**options)
