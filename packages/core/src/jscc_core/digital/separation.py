"""Separate source and channel coding per image: "BPG + LDPC" and "BPG + capacity" (NTSCC Sec. V-A).

Every image is compressed on its own to the largest codec stream that fits its bit budget
(:func:`~jscc_core.digital.rate_control.fit_to_budget`) and sent over complex AWGN. Results are
kept **per image**, so a decoding failure is a lost image in the data (the cliff effect of
NTSCC Fig. 12(c)), never an averaged BLER (docs/conventions.md, "Digital baselines and the cliff
effect").

Budget (complex channel uses, SNR = Es/N0 per complex use):

* An image of m = H W 3 source dimensions at bandwidth ratio rho gets
  ``k = floor(rho m)`` channel uses (:func:`channel_uses_budget`).
* "BPG + LDPC" with an :class:`~jscc_core.digital.mcs.MCS`: the frame holds
  ``n_cw = floor(k / mcs.num_symbols)`` codewords of ``mcs.k`` information bits. Framing (one
  transport block per image, as 5G NR): ``[stream bits | 24-bit CRC | zero padding]``; the CRC is
  5G's transport-block CRC length (CRC24A, TS 38.212 5.1), charged to the budget, so the stream
  may use ``budget_bits = n_cw mcs.k - 24`` bits (:func:`mcs_frame_budget`). The CRC is *ideal*:
  the receiver declares a codeword good iff decoded == transmitted (``LinkResult.success``), so
  the CRC field's value is immaterial and is sent as zeros. The frame is cut to the codewords the
  stream needs, ``ceil((stream_bits + 24) / mcs.k) <= n_cw`` (only the last one zero-padded): a
  transport block is sized to its data, and sending empty codewords would only add failure
  chances. Channel uses spent = codewords sent x ``mcs.num_symbols`` <= k; the rest of the
  budget stays idle. The stream length is known to the receiver (as the transport block size is
  from 5G's control channel) and not charged. In exact mode the frame is scrambled with the
  TS 38.211 Gold sequence before LDPC encoding (:func:`scrambling_sequence`), so that zero
  padding does not pile up on the inner, low-energy QAM points.
* "BPG + capacity": ``budget_bits = k log2(1 + SNR)`` (:func:`jscc_core.capacity.capacity_bits`),
  sent error-free over all k uses.

Per image and operating point: no stream fits (even the lowest quality is over budget) ->
``"no_fit"``; any codeword of the frame fails -> ``"decode_failure"`` (the stream is not
decoded); the received stream makes the codec raise
:class:`~jscc_core.digital.codecs.CorruptBitstreamError` -> ``"corrupt_stream"``; else ``"ok"``
(a stream that was delivered with undetected bit errors and still decodes counts as ``"ok"``
with the damaged image's metrics). A lost image is shown as what a receiver shows with no data:
a constant image of the ``fallback`` colour (RGB in [0, 1], e.g. the data set's per-channel
mean, :func:`mean_colour`; default mid-grey 0.5), or the ``fallback`` image itself when it is an
(H, W, 3) array in [0, 1] of the images' size (e.g. a data set's per-pixel mean face), quantised
to 8 bits like every reconstruction.
PSNR and MS-SSIM (:mod:`jscc_core.metrics`) are those of what the receiver shows.

Link modes: ``"exact"`` sends every codeword through
:class:`~jscc_core.digital.ldpc.LDPCQAMLink` (5G LDPC, Gray QAM, complex AWGN, exact app
demapping, BP decoding of every codeword), noise from a seeded ``torch.Generator``;
``"abstraction"`` draws each codeword's failure i.i.d. from a measured
:class:`~jscc_core.digital.abstraction.BlerTable` (seeded ``numpy`` Generator), no decoding.
Seeds are derived from (``seed``, bandwidth ratio, MCS code, SNR), so a point does not change
when other points are added. Cost: each image is encoded once per budget (an
:class:`~jscc_core.digital.rate_control.EncodingCache` shared by the call), LDPC codewords once
per (image, MCS) and reused at every SNR, and the codewords of many images go through one link
call per SNR (at most ``max_codewords_per_call``).

What is sent: ``"file"`` (default) sends the whole file. Otherwise the last ``stream_bits / 8``
bytes of the file go on the channel and the receiver is assumed to rebuild the bytes before them
(the header) and decodes header + received bytes: ``count="payload"`` (rate control charging
the HEVC NAL units, parameter sets included) assumes it rebuilds the HEIF container;
``count="slice"`` (the coded slice NAL unit(s) only,
:meth:`~jscc_core.digital.codecs.HEVCIntra.slice_bytes`) assumes it holds the parameter sets
(VPS, SPS, PPS) and the container for the image size and encoder settings, and the tail sent is
exactly the slice (HEIF's ``mdat`` is the file's last box).

:func:`envelope` picks, at each operating point, the MCS with the best mean metric (NTSCC
Fig. 12(a,b): "the envelope of the best performing configurations", a genie choice knowing the
true SNR); :func:`select_for_snr_estimate` picks one MCS for an *estimated* SNR, which is then
evaluated across actual SNRs (Fig. 12(c)); :func:`cliff` summarises one MCS's loss rate and
PSNR versus SNR. ``python -m jscc_core.digital.separation --help`` runs it on a folder of images.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import os
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from ..capacity import capacity_bits
from ..channels import SNR_DB_RANGE, check_snr_db
from ..images import IMAGE_SUFFIXES, load_folder
from .codecs import CODEC_NAMES, CorruptBitstreamError, ImageCodec, check_image, get_codec
from .mcs import AWGN_ENVELOPE, MCS, NTSCC_BPG_LDPC, select_mcs, ts38214_mcs
from .rate_control import COUNTS, EncodingCache, RateControlResult, check_count, fit_budgets

__all__ = [
    "CRC_BITS",
    "CAPACITY",
    "STATUSES",
    "COLUMNS",
    "ImageResult",
    "CliffCurve",
    "channel_uses_budget",
    "mcs_frame_budget",
    "frame_bits",
    "scrambling_sequence",
    "SCRAMBLING_C_INIT",
    "parse_mcs",
    "mcs_short_name",
    "mean_colour",
    "evaluate_separation",
    "summarize",
    "envelope",
    "cliff",
    "select_for_snr_estimate",
    "to_result_rows",
    "write_image_results_csv",
    "read_image_results_csv",
    "main",
]

#: Transport-block CRC per image (5G NR CRC24A), charged to the budget; detection is ideal.
CRC_BITS = 24
#: Name of the "+ capacity" bound in the ``mcs`` column.
CAPACITY = "capacity"
STATUSES = ("ok", "no_fit", "decode_failure", "corrupt_stream")
MODES = ("exact", "abstraction")

ImagesLike = Union[Sequence[np.ndarray], Mapping[Any, np.ndarray]]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ImageResult:
    """One image at one operating point (codec, MCS or capacity, SNR, bandwidth ratio).

    ``mode``: "exact" / "abstraction" for an MCS, "ideal" for the capacity bound.
    ``channel_uses_budget``: k = floor(rho H W 3) complex uses; ``channel_uses_spent``: uses
    actually sent (0 when nothing fits); ``budget_bits``: bits the stream may use;
    ``stream_bits``: counted bits of the chosen stream (0 if none); ``quality``: codec quality
    (None if none fits); ``codewords`` / ``failed_codewords``: LDPC codewords sent / in error;
    ``psnr`` (dB) and ``ms_ssim`` of what the receiver shows (the fallback image if lost);
    ``lpips_alex``: its LPIPS-Alex when the evaluation was given an LPIPS function, else None.
    """

    image_id: str
    codec: str
    mcs: str
    mode: str
    snr_db: float
    bandwidth_ratio: float
    channel_uses_budget: int
    channel_uses_spent: int
    budget_bits: float
    stream_bits: int
    quality: Optional[int]
    codewords: int
    failed_codewords: int
    status: str
    psnr: float
    ms_ssim: float
    lpips_alex: Optional[float] = None

    @property
    def lost(self) -> bool:
        return self.status != "ok"

    def to_row(self) -> dict:
        """The per-image CSV row, keys in :data:`COLUMNS` order."""
        return asdict(self)


#: Columns of the per-image CSV (:func:`write_image_results_csv`).
COLUMNS = tuple(f.name for f in fields(ImageResult))
_INT_COLUMNS = ("channel_uses_budget", "channel_uses_spent", "stream_bits", "codewords", "failed_codewords")
_FLOAT_COLUMNS = ("snr_db", "bandwidth_ratio", "budget_bits", "psnr", "ms_ssim")


def write_image_results_csv(results: Iterable[ImageResult], path: Union[str, os.PathLike]) -> Path:
    """Write per-image results (one row each, in the given order) atomically; floats repr-exact."""
    from ..results import atomic_write_bytes

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in results:
        row = r.to_row()
        w.writerow(["" if row[c] is None else repr(float(row[c])) if c in _FLOAT_COLUMNS + ("lpips_alex",)
                    else row[c] for c in COLUMNS])
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


def read_image_results_csv(path: Union[str, os.PathLike]) -> list[ImageResult]:
    """Read a CSV written by :func:`write_image_results_csv`."""
    out = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            vals: dict[str, Any] = dict(row)
            for c in _INT_COLUMNS:
                vals[c] = int(vals[c])
            for c in _FLOAT_COLUMNS:
                vals[c] = float(vals[c])
            vals["quality"] = None if vals["quality"] == "" else int(vals["quality"])
            lpips = vals.get("lpips_alex", "")  # a CSV written without LPIPS has no such column
            vals["lpips_alex"] = None if lpips in ("", None) else float(lpips)
            out.append(ImageResult(**vals))
    return out


# --------------------------------------------------------------------------- budget and framing


def channel_uses_budget(image_shape: Sequence[int], bandwidth_ratio: float) -> int:
    """k = floor(rho m) complex channel uses for an image of m = H W 3 source dimensions."""
    rho = float(bandwidth_ratio)
    if not math.isfinite(rho) or rho <= 0:
        raise ValueError(f"bandwidth_ratio must be > 0, got {bandwidth_ratio!r}")
    h, w = int(image_shape[0]), int(image_shape[1])
    return int(math.floor(rho * h * w * 3 + 1e-9))  # tolerance: rho m is often an integer


def mcs_frame_budget(channel_uses: int, mcs: MCS) -> tuple[int, int]:
    """(n_cw, budget_bits): codewords that fit ``channel_uses`` and the stream bits they carry.

    n_cw = floor(k / mcs.num_symbols); budget_bits = max(0, n_cw mcs.k - CRC_BITS).
    """
    n_cw = int(channel_uses) // mcs.num_symbols
    return n_cw, max(0, n_cw * mcs.k - CRC_BITS)


#: c_init of the scrambling sequence, TS 38.211 7.3.1.1 with n_RNTI = 1, q = 0, n_ID = 0.
SCRAMBLING_C_INIT = 1 << 15
_scrambling = np.zeros(0, dtype=np.uint8)


def scrambling_sequence(length: int) -> np.ndarray:
    """First ``length`` bits (uint8) of the TS 38.211 5.2.1 Gold sequence, c_init = SCRAMBLING_C_INIT.

    Frames are XORed with it before LDPC encoding and descrambled after decoding. Without it the
    zero CRC field and padding would map to the low-energy inner 16/64-QAM points (measured: an
    all-zero codeword has Es = 0.2 and BLER 1 at 8.75 dB, where random data has 0.46), an SNR the
    BLER tables do not describe. 5G scrambles the codeword bits; scrambling the information bits
    (802.11-style whitening) gives the same uniform symbols through the unchanged link.
    Sionna's generator is slow (~1 s per 200 kbit), so the sequence is cached and grown.
    """
    global _scrambling
    if len(_scrambling) < length:
        from sionna.phy.nr.utils import generate_prng_seq

        _scrambling = generate_prng_seq(max(int(length), 2 * len(_scrambling)), SCRAMBLING_C_INIT).astype(np.uint8)
    return _scrambling[:length]


def frame_bits(stream: bytes, k: int) -> np.ndarray:
    """(codewords, k) uint8 frame ``[stream bits | CRC_BITS zeros | zero padding]``."""
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))
    n = math.ceil((len(bits) + CRC_BITS) / k)
    frame = np.zeros(n * k, dtype=np.uint8)
    frame[:len(bits)] = bits
    return frame.reshape(n, k)


# --------------------------------------------------------------------------- MCS names


_MODULATIONS = {"qpsk": 2, "4qam": 2, "16qam": 4, "64qam": 6, "256qam": 8}


def parse_mcs(name: Union[str, MCS]) -> MCS:
    """The MCS called ``name``: "16qam-2/3", "qpsk-1/3", "64QAM 1/2", ... (k = 4096), the same
    with an information block size, "16qam-2/3/k168" or "16QAM 2/3 k=168" (n from
    :func:`~jscc_core.digital.mcs.codeword_length`), "ntscc" (NTSCC's rate-2/3 (6144, 4096)
    LDPC + 16-QAM), or "mcs<i>" (TS 38.214 Table 5.1.3.1-1).

    Case, spaces, '-' and '_' are ignored; "4qam" is QPSK. Raises ``ValueError`` otherwise.
    """
    if isinstance(name, MCS):
        return name
    key = re.sub(r"[\s_\-]", "", str(name).lower())
    if key == "ntscc":
        return NTSCC_BPG_LDPC
    m = re.fullmatch(r"mcs(\d+)", key)
    if m:
        return ts38214_mcs(int(m.group(1)))
    m = re.fullmatch(r"(qpsk|4qam|16qam|64qam|256qam)(\d+)/(\d+)(?:/?k=?(\d+))?", key)
    if not m or int(m.group(3)) == 0:
        raise ValueError(
            f"unknown MCS {name!r}: use <modulation>-<rate>[/k<info bits>] with modulation "
            f"qpsk/4qam/16qam/64qam/256qam (e.g. 16qam-2/3, 16qam-2/3/k168), 'ntscc' or 'mcs<0..28>'; "
            f"the AWGN envelope is " + ", ".join(mcs_short_name(x) for x in AWGN_ENVELOPE))
    q, rate = _MODULATIONS[m.group(1)], Fraction(int(m.group(2)), int(m.group(3)))
    k = 4096 if m.group(4) is None else int(m.group(4))
    try:
        mcs = MCS(str(name), q, rate, k)
    except ValueError as exc:
        raise ValueError(f"invalid MCS {name!r}: {exc}") from None
    for cand in AWGN_ENVELOPE:  # the envelope's own objects (same code)
        if _code_key(cand) == _code_key(mcs) and cand.code_rate == rate:
            return cand
    suffix = "" if k == 4096 else f" k={k}"
    return replace(mcs, name=f"{mcs.modulation} {rate.numerator}/{rate.denominator}{suffix}")  # the envelope's naming


def mcs_short_name(mcs: MCS) -> str:
    """The :func:`parse_mcs` name of an MCS's code: "16qam-2/3", or "16qam-2/3/k168" when k != 4096."""
    suffix = "" if mcs.k == 4096 else f"/k{mcs.k}"
    return f"{mcs.modulation.lower()}-{mcs.code_rate.numerator}/{mcs.code_rate.denominator}{suffix}"


def _code_key(mcs: MCS) -> tuple[int, int, int]:
    """MCSs with the same (bits per symbol, k, n) are the same link, whatever their names."""
    return (mcs.bits_per_symbol, mcs.k, mcs.n)


def _tables_by_code(bler_tables) -> dict:
    if bler_tables is None:
        return {}
    from .abstraction import BlerTable

    if isinstance(bler_tables, BlerTable):
        tables = [bler_tables]
    elif isinstance(bler_tables, Mapping):
        tables = list(bler_tables.values())
    else:
        tables = list(bler_tables)
    out = {}
    for t in tables:
        if not isinstance(t, BlerTable):
            raise TypeError(f"bler_tables must hold BlerTable objects, got {type(t).__name__}")
        out[_code_key(t.mcs)] = t
    return out


# --------------------------------------------------------------------------- receiver side


def mean_colour(images: ImagesLike) -> tuple[float, float, float]:
    """Per-channel mean in [0, 1] over all pixels of ``images`` (a data set's mean colour)."""
    imgs = list(images.values()) if isinstance(images, Mapping) else list(images)
    if not imgs:
        raise ValueError("mean_colour needs at least one image")
    total = np.zeros(3)
    count = 0
    for img in imgs:
        img = check_image(img)
        total += img.reshape(-1, 3).sum(0, dtype=np.float64)
        count += img.shape[0] * img.shape[1]
    return tuple(float(v) for v in total / count / 255.0)


def _fallback_rgb(fallback) -> np.ndarray:
    """uint8 (3,) colour, or uint8 (H, W, 3) image, a lost image is shown as (module docstring)."""
    a = np.asarray(0.5 if fallback is None else fallback, dtype=float)
    if a.ndim == 3:
        if a.shape[-1] != 3 or not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
            raise ValueError(f"a fallback image must be (H, W, 3) in [0, 1], got shape {a.shape}, "
                             f"range [{a.min():g}, {a.max():g}]")
        return np.rint(a * 255.0).astype(np.uint8)
    if a.ndim > 1 or a.size not in (1, 3):
        raise ValueError(f"fallback must be a colour in [0, 1] (scalar or RGB) or an (H, W, 3) image, "
                         f"got shape {a.shape}")
    c = np.broadcast_to(a, (3,)).copy()
    if not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1:
        raise ValueError(f"fallback must be a colour in [0, 1] (scalar or RGB), got {fallback!r}")
    return np.rint(c * 255.0).astype(np.uint8)


#: LPIPS of a uint8 reconstruction (H, W, 3) against its uint8 original: ``lpips(x, y) -> float``.
PerceptualFn = Callable[[np.ndarray, np.ndarray], float]


def _metrics(x: np.ndarray, y: np.ndarray, lpips: Optional[PerceptualFn] = None) -> tuple:
    """(PSNR dB, MS-SSIM) of uint8 reconstruction y against x (jscc_core.metrics, range [0, 1]),
    and its LPIPS third when ``lpips`` is given."""
    import torch

    from ..metrics import ms_ssim, psnr

    xt = torch.from_numpy(np.array(x)).permute(2, 0, 1)[None].float().div_(255.0)
    yt = torch.from_numpy(np.array(y)).permute(2, 0, 1)[None].float().div_(255.0)
    p = float(psnr(xt, yt)[0])
    try:
        s = float(ms_ssim(xt, yt)[0])
    except ValueError:  # image too small for MS-SSIM's window
        s = float("nan")
    return (p, s) if lpips is None else (p, s, float(lpips(x, y)))


class _Receiver:
    """Decodes received streams; caches the reconstruction metrics of clean streams and fallbacks.
    Metrics are (psnr, ms_ssim), or (psnr, ms_ssim, lpips_alex) with an LPIPS function."""

    def __init__(self, codec: ImageCodec, images: list[np.ndarray], fallback_rgb: np.ndarray,
                 lpips: Optional[PerceptualFn] = None):
        self.codec, self.images, self.fallback_rgb, self.lpips = codec, images, fallback_rgb, lpips
        self._clean: dict[tuple[int, int], tuple] = {}
        self._lost: dict[int, tuple] = {}

    def lost(self, i: int) -> tuple:
        if i not in self._lost:
            x = self.images[i]
            self._lost[i] = _metrics(x, np.broadcast_to(self.fallback_rgb, x.shape), self.lpips)
        return self._lost[i]

    def receive(self, i: int, quality: int, sent: bytes, received: bytes) -> tuple:
        """(status, *metrics) for a stream the link delivered as correct."""
        key = (i, quality)
        if received == sent and key in self._clean:
            return ("ok",) + self._clean[key]
        x = self.images[i]
        try:
            y = self.codec.decode(received, x.shape)
        except CorruptBitstreamError:
            return ("corrupt_stream",) + self.lost(i)
        metrics = _metrics(x, y, self.lpips)
        if received == sent:
            self._clean[key] = metrics
        return ("ok",) + metrics


# --------------------------------------------------------------------------- evaluation


def _derived_seed(*parts) -> int:
    """A 63-bit seed from ``parts`` (stable across runs and platforms)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _as_list(value, name: str) -> list:
    vals = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if not vals:
        raise ValueError(f"{name} must not be empty")
    return vals


def _progress_bar(enabled: bool, desc: str):
    enabled = enabled and os.environ.get("JSCC_PROGRESS", "1") != "0"
    from tqdm.auto import tqdm

    return tqdm(total=0, desc=desc, disable=not enabled, mininterval=1.0, leave=False)


def evaluate_separation(
    images: ImagesLike,
    *,
    codec: Union[str, ImageCodec],
    snr_db: Union[float, Sequence[float]],
    bandwidth_ratio: Union[float, Sequence[float]],
    mcs: Union[MCS, str, Sequence[Union[MCS, str]]],
    mode: str = "exact",
    bler_tables=None,
    seed: int = 0,
    fallback=None,
    progress: bool = True,
    count: str = "file",
    num_iter: int = 20,
    cache: Optional[EncodingCache] = None,
    max_codewords_per_call: int = 4096,
    workers: Optional[int] = None,
    lpips: Optional[PerceptualFn] = None,
) -> list[ImageResult]:
    """Per-image "codec + LDPC" (and/or "codec + capacity") results; see the module docstring.

    ``images``: uint8 (H, W, 3) arrays, a list (ids "0", "1", ...) or a mapping id -> image.
    ``codec``: a name of :func:`~jscc_core.digital.codecs.get_codec` or an :class:`ImageCodec`.
    ``snr_db``, ``bandwidth_ratio``: one value or a list (every combination is evaluated).
    ``mcs``: an :class:`MCS`, ``"capacity"``, ``"envelope"`` (all of
    :data:`~jscc_core.digital.mcs.AWGN_ENVELOPE`), an MCS name (:func:`parse_mcs`) or a list of these.
    ``mode``: "exact" (BP-decoded 5G LDPC link) or "abstraction" (``bler_tables``: a
    :class:`BlerTable`, a list, or a mapping, matched to MCSs by code (bits/symbol, k, n)).
    ``fallback``: colour (RGB in [0, 1] or a grey level), or an (H, W, 3) image in [0, 1] of the
    images' size, shown for a lost image; default 0.5.
    ``count``: "file", "payload" or "slice" (:func:`fit_to_budget`; "slice" is HEVC-only). ``cache``: an
    :class:`EncodingCache` to share encodings across calls. ``num_iter``: max BP iterations.
    ``workers`` > 1: source coding (every budget of an image, in one job per image) runs in that
    many processes, with the same streams as the sequential run; ``cache`` is then not used.
    ``lpips``: ``lpips(x, y) -> float`` of uint8 (H, W, 3) images, LPIPS-Alex, filling the column
    ``lpips_alex`` (computed once per decoded stream and per fallback, as PSNR is).

    Returns one :class:`ImageResult` per (bandwidth ratio, scheme, SNR, image), in that order.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    check_count(count)
    if int(max_codewords_per_call) < 1:
        raise ValueError(f"max_codewords_per_call must be >= 1, got {max_codewords_per_call!r}")
    codec = get_codec(codec) if isinstance(codec, str) else codec
    if not isinstance(codec, ImageCodec):
        raise TypeError(f"codec must be a codec name or an ImageCodec, got {type(codec).__name__}")
    if isinstance(images, Mapping):
        ids, imgs = [str(k) for k in images], [check_image(v) for v in images.values()]
    else:
        imgs = [check_image(v) for v in images]
        ids = [str(i) for i in range(len(imgs))]
    if not imgs:
        raise ValueError("no images given")
    snrs = [float(check_snr_db(float(s))) for s in _as_list(snr_db, "snr_db")]
    ratios = [float(r) for r in _as_list(bandwidth_ratio, "bandwidth_ratio")]
    for r in ratios:
        if not math.isfinite(r) or r <= 0:
            raise ValueError(f"bandwidth_ratio must be > 0, got {r!r}")
    schemes: list = []
    for s in _as_list(mcs, "mcs"):
        if isinstance(s, str) and s.lower() in (CAPACITY, "envelope"):
            schemes += [CAPACITY] if s.lower() == CAPACITY else list(AWGN_ENVELOPE)
        else:
            schemes.append(parse_mcs(s))
    schemes = list(dict.fromkeys(schemes))  # drop repeats, keep order
    tables = _tables_by_code(bler_tables)
    if mode == "abstraction":
        missing = [s.name for s in schemes if s != CAPACITY and _code_key(s) not in tables]
        if missing:
            raise ValueError(f"mode='abstraction' needs a BLER table for every MCS; missing: {', '.join(missing)}")

    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    cache = EncodingCache() if cache is None else cache
    shown = _fallback_rgb(fallback)
    if shown.ndim == 3:
        wrong = [i for i, img in zip(ids, imgs) if img.shape != shown.shape]
        if wrong:
            raise ValueError(f"the fallback image is {shown.shape}, image {wrong[0]} is "
                             f"{imgs[ids.index(wrong[0])].shape}: a fallback image must have every image's size")
    receiver = _Receiver(codec, imgs, shown, lpips)
    ctx = _Context(codec, ids, imgs, receiver, cache, count, int(seed), {})
    out: list[ImageResult] = []
    with _progress_bar(progress, f"separation {codec.name}") as bar:
        _source_code(ctx, _budgets(imgs, ratios, schemes, snrs), workers, bar)
        for rho in ratios:
            for scheme in schemes:
                if scheme == CAPACITY:
                    out += _evaluate_capacity(ctx, rho, snrs, bar)
                else:
                    out += _evaluate_mcs(ctx, rho, scheme, snrs, mode, tables, int(num_iter),
                                         int(max_codewords_per_call), bar)
    return out


@dataclass
class _Context:
    codec: ImageCodec
    ids: list
    images: list
    receiver: _Receiver
    cache: EncodingCache
    count: str
    seed: int
    streams: dict  # (image index, budget bits) -> RateControlResult

    def fit(self, i: int, budget: float) -> RateControlResult:
        return self.streams[i, float(budget)]


def _budgets(images: list, ratios: list, schemes: list, snrs: list) -> list[list[float]]:
    """Every bit budget each image is source-coded for (MCS budgets do not depend on the SNR)."""
    out = []
    for img in images:
        budgets = set()
        for rho in ratios:
            k = channel_uses_budget(img.shape, rho)
            for scheme in schemes:
                if scheme == CAPACITY:
                    budgets.update(float(capacity_bits(k, snr)) for snr in snrs)
                else:
                    budgets.add(float(mcs_frame_budget(k, scheme)[1]))
        out.append(sorted(budgets))
    return out


def _source_code(ctx: _Context, budgets: list[list[float]], workers: Optional[int], bar) -> None:
    """Rate control of every (image, budget), before any channel simulation."""
    bar.total += len(budgets)
    bar.set_postfix_str("source coding")
    results = fit_budgets(ctx.codec, ctx.images, budgets, count=ctx.count, workers=workers, cache=ctx.cache,
                          on_image=lambda: bar.update(1))
    for i, (image_budgets, fits) in enumerate(zip(budgets, results)):
        ctx.streams.update({(i, b): rc for b, rc in zip(image_budgets, fits)})
    bar.set_postfix_str("")


def _evaluate_capacity(ctx: _Context, rho: float, snrs: list, bar) -> list[ImageResult]:
    bar.total += len(snrs) * len(ctx.images)
    bar.refresh()
    out = []
    for snr in snrs:
        for i, img in enumerate(ctx.images):
            k = channel_uses_budget(img.shape, rho)
            budget = float(capacity_bits(k, snr))
            rc = ctx.fit(i, budget)
            if rc.fits:
                status, *m = ctx.receiver.receive(i, rc.quality, rc.data, rc.data)
            else:
                m, status = ctx.receiver.lost(i), "no_fit"
            out.append(ImageResult(ctx.ids[i], ctx.codec.name, CAPACITY, "ideal", snr, rho, k,
                                   k if rc.fits else 0, budget, rc.bits, rc.quality, 0, 0, status, *m))
            bar.update(1)
    return out


def _evaluate_mcs(ctx: _Context, rho: float, mcs: MCS, snrs: list, mode: str, tables: dict,
                  num_iter: int, max_cw: int, bar) -> list[ImageResult]:
    n_img = len(ctx.images)
    # 1. framing: one stream per image (the budget does not depend on the SNR)
    info = []  # per image: (k, budget_bits, rc, sent bytes, header bytes, frame or None)
    for i, img in enumerate(ctx.images):
        k = channel_uses_budget(img.shape, rho)
        _, budget = mcs_frame_budget(k, mcs)
        rc = ctx.fit(i, budget)
        if rc.fits:
            cut = len(rc.data) - rc.bits // 8  # "payload", "slice": bytes before the counted tail are not sent
            header, sent = rc.data[:cut], rc.data[cut:]
            frame = frame_bits(sent, mcs.k)
            assert len(frame) * mcs.num_symbols <= k
        else:
            header = sent = frame = None
        info.append((k, budget, rc, sent, header, frame))

    # 2. channel coding: groups of whole images, at most max_cw codewords per link call
    groups, cur, cur_n = [], [], 0
    for i, (*_, frame) in enumerate(info):
        if frame is None:
            continue
        if cur and cur_n + len(frame) > max_cw:
            groups.append(cur)
            cur, cur_n = [], 0
        cur.append(i)
        cur_n += len(frame)
    if cur:
        groups.append(cur)
    bar.total += len(groups) * len(snrs)
    bar.refresh()

    rows: dict[tuple[int, int], ImageResult] = {}

    def record(j, i, status, spent, ncw, nfail, m):
        k, budget, rc = info[i][:3]
        rows[j, i] = ImageResult(ctx.ids[i], ctx.codec.name, mcs.name, mode, snrs[j], rho, k, spent,
                                 float(budget), rc.bits, rc.quality, ncw, nfail, status, *m)

    for i, (*_, frame) in enumerate(info):
        if frame is None:
            m = ctx.receiver.lost(i)
            for j in range(len(snrs)):
                record(j, i, "no_fit", 0, 0, 0, m)

    code = f"{mcs.bits_per_symbol}/{mcs.k}/{mcs.n}"
    seeds = [_derived_seed(ctx.seed, mode, float(rho), code, float(snr)) for snr in snrs]
    if mode == "exact" and groups:  # no link when nothing is sent (every image no_fit)
        import torch

        from .ldpc import link_for  # loads Sionna: only exact mode pays for it

        link = link_for(mcs, num_iter)
        gens = [torch.Generator().manual_seed(s) for s in seeds]
    elif mode != "exact":
        table = tables[_code_key(mcs)]
        rngs = [np.random.default_rng(s) for s in seeds]

    for group in groups:
        frames = [info[i][5] for i in group]
        if mode == "exact":  # scrambled frames: uniform QAM symbols whatever the data
            frames = [f ^ scrambling_sequence(f.size).reshape(f.shape) for f in frames]
        bits = np.concatenate(frames)
        starts = np.cumsum([0] + [len(info[i][5]) for i in group])
        codewords = link.encode(bits) if mode == "exact" else None  # once, reused at every SNR
        for j, snr in enumerate(snrs):
            if mode == "exact":
                res = link(bits, snr, generator=gens[j], codewords=codewords)
                failed = (~res.success).numpy()
                decoded = res.bits.numpy()
            else:
                failed = table.draw_failures(len(bits), snr, rngs[j])
                decoded = None
            for g, i in enumerate(group):
                _, _, rc, sent, header, frame = info[i]
                a, b = starts[g], starts[g + 1]
                nfail = int(failed[a:b].sum())
                spent = len(frame) * mcs.num_symbols
                if nfail:
                    record(j, i, "decode_failure", spent, len(frame), nfail, ctx.receiver.lost(i))
                    continue
                if decoded is None:  # abstraction: a codeword that got through is error-free
                    received = sent
                else:
                    nbits = 8 * len(sent)
                    rx_bits = decoded[a:b].reshape(-1)[:nbits].astype(np.uint8) ^ scrambling_sequence(nbits)
                    received = np.packbits(rx_bits).tobytes()
                status, *m = ctx.receiver.receive(i, rc.quality, header + sent, header + received)
                record(j, i, status, spent, len(frame), 0, m)
            bar.update(1)
    return [rows[j, i] for j in range(len(snrs)) for i in range(n_img)]


# --------------------------------------------------------------------------- analysis


def _mean(values) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def summarize(results: Iterable[ImageResult], by: Sequence[str] = ("codec", "mode", "mcs", "bandwidth_ratio",
                                                                       "snr_db")) -> list[dict]:
    """Mean metrics and loss rates per group of results (groups in first-seen order).

    Each dict: the ``by`` fields, ``n_images``, ``mean_psnr``, ``mean_ms_ssim``,
    ``mean_lpips_alex`` (NaN when not measured), ``loss_rate`` (fraction not "ok"), a count per
    status, ``mean_stream_bits`` and ``spent_ratio`` (mean channel uses spent / mean budget).
    """
    groups: dict[tuple, list[ImageResult]] = defaultdict(list)
    for r in results:
        groups[tuple(getattr(r, f) for f in by)].append(r)
    out = []
    for key, rs in groups.items():
        d = dict(zip(by, key))
        d.update(
            n_images=len(rs),
            mean_psnr=_mean(r.psnr for r in rs),
            mean_ms_ssim=_mean(r.ms_ssim for r in rs),
            mean_lpips_alex=_mean(r.lpips_alex for r in rs if r.lpips_alex is not None),  # NaN: not measured
            loss_rate=sum(r.lost for r in rs) / len(rs),
            **{st: sum(r.status == st for r in rs) for st in STATUSES},
            mean_stream_bits=float(np.mean([r.stream_bits for r in rs])),
            spent_ratio=float(np.sum([r.channel_uses_spent for r in rs]) /
                              max(1, np.sum([r.channel_uses_budget for r in rs]))),
        )
        out.append(d)
    return out


def envelope(results: Iterable[ImageResult], by: Sequence[str] = ("snr_db", "bandwidth_ratio"),
             metric: str = "psnr") -> list[ImageResult]:
    """Per-image results of the best MCS at each operating point (NTSCC Fig. 12(a,b)).

    Groups the MCS results (capacity rows are left out) by codec, mode and ``by``; in each group
    the MCS with the highest mean ``metric`` ("psnr" or "ms_ssim") over its images wins (ties:
    lower loss rate, then the larger mean stream). Returns the winners' per-image rows, groups in
    first-seen order, so losses stay visible. The choice knows the true SNR (a genie envelope).
    """
    if metric not in ("psnr", "ms_ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ms_ssim', got {metric!r}")
    for f in by:
        if f not in COLUMNS:
            raise ValueError(f"unknown field {f!r} in by; fields are {', '.join(COLUMNS)}")
    keys = ("codec", "mode") + tuple(f for f in by if f not in ("codec", "mode", "mcs"))
    points: dict[tuple, dict[str, list[ImageResult]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.mcs != CAPACITY:
            points[tuple(getattr(r, f) for f in keys)][r.mcs].append(r)
    out = []
    for per_mcs in points.values():
        def score(item):
            rs = item[1]
            return (_mean(getattr(r, metric) for r in rs), -sum(r.lost for r in rs) / len(rs),
                    float(np.mean([r.stream_bits for r in rs])))
        out += max(per_mcs.items(), key=score)[1]
    return out


@dataclass(frozen=True)
class CliffCurve:
    """Loss rate and mean quality of one MCS versus SNR (the cliff effect, NTSCC Fig. 12(c)).

    ``cliff_snr_db``: SNR where the image-loss rate crosses 1/2, linearly interpolated between
    the tested SNRs (None if it does not cross in the range); ``max_drop_db``: largest fall of
    mean PSNR between neighbouring SNR points (from higher to lower SNR).
    """

    codec: str
    mcs: str
    mode: str
    bandwidth_ratio: float
    snr_db: tuple
    n_images: tuple
    loss_rate: tuple
    mean_psnr: tuple
    mean_ms_ssim: tuple
    cliff_snr_db: Optional[float]
    max_drop_db: float


def cliff(results: Iterable[ImageResult]) -> CliffCurve:
    """:class:`CliffCurve` of the results of one (codec, MCS, mode, bandwidth ratio) across SNRs."""
    results = list(results)
    if not results:
        raise ValueError("cliff needs results")
    ident = {(r.codec, r.mcs, r.mode, r.bandwidth_ratio) for r in results}
    if len(ident) != 1:
        raise ValueError(f"cliff needs the results of one (codec, mcs, mode, bandwidth_ratio), got {sorted(ident)}")
    codec, mcs, mode, rho = ident.pop()
    rows = sorted(summarize(results, by=("snr_db",)), key=lambda d: d["snr_db"])
    snr = [d["snr_db"] for d in rows]
    loss = [d["loss_rate"] for d in rows]
    psnr = [d["mean_psnr"] for d in rows]
    crossing = None
    for j in range(len(snr) - 1, 0, -1):  # the highest SNR interval where the loss rate crosses 1/2
        lo, hi = loss[j - 1], loss[j]
        if (lo >= 0.5 > hi) or (lo > 0.5 >= hi):
            crossing = snr[j - 1] + (lo - 0.5) / (lo - hi) * (snr[j] - snr[j - 1])
            break
    drops = [psnr[j] - psnr[j - 1] for j in range(1, len(snr))]
    return CliffCurve(codec, mcs, mode, rho, tuple(snr), tuple(d["n_images"] for d in rows), tuple(loss),
                      tuple(psnr), tuple(d["mean_ms_ssim"] for d in rows), crossing,
                      float(max(drops)) if drops else 0.0)


def select_for_snr_estimate(snr_est_db: float, mcs_set: Sequence[MCS] = AWGN_ENVELOPE, *, bler_tables=None,
                            thresholds: Optional[Mapping[str, float]] = None, target_bler: float = 0.1) -> MCS:
    """The MCS a transmitter picks for an *estimated* SNR (NTSCC Fig. 12(c)).

    The highest spectral efficiency of ``mcs_set`` usable at ``snr_est_db``, by (first that is
    given) ``bler_tables`` (BLER <= ``target_bler``; tables matched by code), ``thresholds``
    (mapping MCS name -> SNR dB at which it becomes usable), or the rule of
    :func:`~jscc_core.digital.mcs.snr_threshold_db`. Evaluate the choice at the actual SNRs with
    :func:`evaluate_separation` to see the cliff. Raises ``ValueError`` if no MCS is usable.
    """
    check_snr_db(snr_est_db)
    mcs_set = [parse_mcs(m) for m in mcs_set]
    if bler_tables is not None:
        tables = _tables_by_code(bler_tables)
        by_name = {m.name: tables[_code_key(m)] for m in mcs_set if _code_key(m) in tables}
        if not by_name:
            raise ValueError("none of the MCSs has a BLER table")
        chosen = select_mcs(snr_est_db, mcs_set, bler_table=by_name, target_bler=target_bler)
    elif thresholds is not None:
        unknown = [m.name for m in mcs_set if m.name not in thresholds]
        if unknown:
            raise ValueError(f"no threshold for {', '.join(unknown)}")
        usable = [m for m in mcs_set if snr_est_db >= float(thresholds[m.name])]
        chosen = max(usable, key=lambda m: m.spectral_efficiency, default=None)
    else:
        chosen = select_mcs(snr_est_db, mcs_set, target_bler=target_bler)
    if chosen is None:
        raise ValueError(f"no MCS of the set is usable at an estimated SNR of {snr_est_db} dB "
                         f"(target BLER {target_bler})")
    return chosen


def to_result_rows(results: Iterable[ImageResult], *, figure: str, panel: str, dataset: str,
                   metric: str = "psnr", run_id: str = "", method: Optional[str] = None) -> list:
    """Mean ``metric`` per operating point as :class:`~jscc_core.results.ResultRow` s.

    ``method`` defaults to "<codec label> + LDPC (<MCS>)" or "<codec label> + capacity"; ``extra``
    records the MCS, mode, image count, loss rate and that channel uses are complex.
    """
    from ..results import ResultRow

    if metric not in ("psnr", "ms_ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ms_ssim', got {metric!r}")
    out = []
    for d in summarize(results):
        label = get_codec(d["codec"]).label if d["codec"] in CODEC_NAMES else d["codec"]
        name = method or (f"{label} + capacity" if d["mcs"] == CAPACITY else f"{label} + LDPC ({d['mcs']})")
        out.append(ResultRow(figure=figure, panel=panel, method=name, dataset=dataset, snr_db=d["snr_db"],
                             bandwidth_ratio=d["bandwidth_ratio"], metric=metric, value=d[f"mean_{metric}"],
                             run_id=run_id, extra={"mcs": d["mcs"], "mode": d["mode"], "codec": d["codec"],
                                                   "n_images": d["n_images"], "loss_rate": d["loss_rate"],
                                                   "channel_use": "complex"}))
    return out


# --------------------------------------------------------------------------- command line

def _format_summary(results: list[ImageResult], env: Optional[list[ImageResult]]) -> str:
    rows = summarize(results)
    if env:
        for d in summarize(env):
            d["mcs"] = f"envelope: {d['mcs']}"
            rows.append(d)
    rows.sort(key=lambda d: (d["bandwidth_ratio"], d["snr_db"], d["mcs"].startswith("envelope"), d["mcs"]))
    head = f"{'ratio':>8} {'SNR dB':>7}  {'MCS':<34} {'images':>6} {'PSNR dB':>8} {'MS-SSIM':>8} {'loss':>6} " \
           f"{'no_fit':>6} {'dec_fail':>8} {'corrupt':>7} {'spent':>6}"
    lines = [head, "-" * len(head)]
    for d in rows:
        lines.append(f"{d['bandwidth_ratio']:>8.5g} {d['snr_db']:>7.3g}  {d['mcs'][:34]:<34} {d['n_images']:>6d} "
                     f"{d['mean_psnr']:>8.3f} {d['mean_ms_ssim']:>8.4f} {d['loss_rate']:>6.3f} "
                     f"{d['no_fit']:>6d} {d['decode_failure']:>8d} {d['corrupt_stream']:>7d} {d['spent_ratio']:>6.3f}")
    return "\n".join(lines)


def _parse_fallback(text: str, images: Mapping[str, np.ndarray]):
    if text in ("grey", "gray"):
        return 0.5
    if text == "mean":
        return mean_colour(images)
    vals = [float(v) for v in text.split(",")]
    if len(vals) not in (1, 3):
        raise ValueError("give one grey level or three comma-separated RGB values")
    return vals[0] if len(vals) == 1 else vals


def _out_problem(path: Path) -> Optional[str]:
    """Why the file ``path`` cannot be written, or None; creates its folder (checked before any compute)."""
    if path.is_dir():
        return f"{path} is an existing folder; name the CSV file to write, e.g. {path / 'separation.csv'}"
    folder = next(a for a in path.parents if a.exists())  # the nearest existing folder ("." at worst)
    if not folder.is_dir():
        return f"cannot write {path}: {folder} is a file, not a folder"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        return f"cannot write {path} ({exc.__class__.__name__}: {exc.strerror or exc})"
    return None


def main(argv: Optional[Sequence[str]] = None) -> list[ImageResult]:
    p = argparse.ArgumentParser(
        prog="python -m jscc_core.digital.separation",
        description="Per-image separation baseline ('BPG + LDPC' / '+ capacity', NTSCC Sec. V-A) on a folder "
                    "of images over complex AWGN; writes one CSV row per image x SNR x ratio x MCS and prints "
                    "mean PSNR and image-loss rate per point.")
    p.add_argument("--images", required=True, type=Path, help="folder of images (PNG, JPEG, ...)")
    p.add_argument("--codec", default="hevc", choices=CODEC_NAMES, help="source codec (default: hevc, BPG-class)")
    p.add_argument("--snr", required=True, type=float, nargs="+", help="Es/N0 per complex channel use, dB")
    p.add_argument("--ratio", type=float, nargs="+", default=[1 / 16],
                   help="bandwidth ratio k/m, complex channel uses per source dimension (default 1/16)")
    p.add_argument("--mcs", nargs="+", default=["16qam-2/3"],
                   help="MCS names (e.g. 16qam-2/3, qpsk-1/3, 16qam-2/3/k168 for k = 168 info bits, ntscc, mcs16), "
                        "'envelope' (the AWGN envelope, best MCS per point) and/or 'capacity' (error-free bound)")
    p.add_argument("--mode", default="exact", choices=MODES, help="exact LDPC decoding or BLER-table abstraction")
    p.add_argument("--bler-table", type=Path, nargs="+", action="extend", default=[],
                   help="BLER table JSON file(s) (jscc_core.digital.abstraction), needed by --mode abstraction")
    p.add_argument("--out", type=Path, help="per-image CSV to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", choices=COUNTS, default="file",
                   help="bits charged for a stream: whole file (default), HEVC NAL units (payload) or "
                        "the HEVC slice alone (slice)")
    p.add_argument("--fallback", default="grey",
                   help="what a lost image shows: 'grey' (0.5), 'mean' (the images' mean colour) or R,G,B in [0,1]")
    p.add_argument("--num-iter", type=int, default=20, help="max BP iterations (exact mode)")
    p.add_argument("--limit", type=int, help="use only the first N images (sorted by name)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: leave as is)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    if not args.images.is_dir():
        p.error(f"--images: no such folder: {args.images}")
    if args.out is not None and (problem := _out_problem(args.out)):
        p.error(f"--out: {problem}")
    for snr in args.snr:
        try:
            check_snr_db(snr)
        except ValueError:
            p.error(f"--snr: {snr:g} dB is not a valid channel SNR: it must be finite and within "
                    f"[{SNR_DB_RANGE[0]:g}, {SNR_DB_RANGE[1]:g}] dB (jscc_core.channels.check_snr_db)")
    for r in args.ratio:
        if not math.isfinite(r) or r <= 0:
            p.error(f"--ratio: a bandwidth ratio must be > 0, got {r}")
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be >= 1")
    if args.num_iter < 1:
        p.error("--num-iter must be >= 1")
    schemes: list = []
    use_envelope = False
    for name in args.mcs:
        if name.lower() == "envelope":
            use_envelope = True
            schemes += [m for m in AWGN_ENVELOPE if m not in schemes]
        elif name.lower() == CAPACITY:
            schemes.append(CAPACITY)
        else:
            try:
                m = parse_mcs(name)
            except ValueError as exc:
                p.error(f"--mcs: {exc}")
            if m not in schemes:
                schemes.append(m)
    tables = []
    if args.bler_table:
        from .abstraction import BlerTable

        for path in args.bler_table:
            try:
                tables.append(BlerTable.load(path))
            except (OSError, ValueError, KeyError) as exc:
                p.error(f"--bler-table {path}: {exc}")
    if args.mode == "abstraction":
        have = {_code_key(t.mcs) for t in tables}
        missing = [m.name for m in schemes if m != CAPACITY and _code_key(m) not in have]
        if missing:
            p.error(f"--mode abstraction needs a --bler-table for every MCS; missing: {', '.join(missing)}")
    try:
        images = load_folder(args.images, limit=args.limit)
    except (FileNotFoundError, ValueError) as exc:  # a file vanished, is corrupt, or two share a stem
        p.error(f"--images: {exc}")
    if not images:
        p.error(f"--images: no images ({', '.join(IMAGE_SUFFIXES)}) in {args.images}")
    try:
        fallback = _parse_fallback(args.fallback, images)
        _fallback_rgb(fallback)
    except ValueError as exc:
        p.error(f"--fallback: {exc}")
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)

    results = evaluate_separation(images, codec=args.codec, snr_db=args.snr, bandwidth_ratio=args.ratio,
                                  mcs=schemes, mode=args.mode, bler_tables=tables or None, seed=args.seed,
                                  fallback=fallback, progress=not args.quiet, count=args.count,
                                  num_iter=args.num_iter)
    if args.out:
        write_image_results_csv(results, args.out)
    env = envelope(results) if use_envelope else None
    print(f"{args.codec} over complex AWGN, mode {args.mode}, {len(images)} images; 'loss' = fraction of images "
          f"lost, 'spent' = channel uses sent / budget")
    print(_format_summary(results, env))
    if args.out:
        print(f"per-image results: {args.out}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
