"""Per-image rate control of the separation baselines: the best quality that fits a bit budget.

The separation scheme sends each image at the highest codec quality whose bitstream fits the
bits the channel can carry (e.g. ``capacity_bits(k, snr)`` for the "+ capacity" curves, or the
information bits of an LDPC/QAM scheme). :func:`fit_to_budget` finds that quality for one image
by bisection over the codec's integer quality range; :func:`encode_many` maps it over images.

Rules:

* The returned stream never exceeds the budget: only streams that were encoded and measured at
  or under the budget are returned.
* Rate is non-decreasing in quality for practical purposes (measured: strictly increasing over
  all 52 HEVC levels, non-decreasing for JPEG2000). Bisection keeps one quality known to fit and
  one known not to; afterwards ``local_search`` qualities just above the first failing one are
  tried, and bisection resumes above any that fits, so an isolated dip in the rate curve is not
  mistaken for the limit. Cost: ``ceil(log2(n + 1)) + local_search`` encodes for ``n`` quality
  levels (7 for HEVC's 52, 8 for JPEG2000's 101), fewer when the answer is an end point.
* If even the lowest quality exceeds the budget, the image cannot be sent within the budget:
  ``fits=False``, ``quality=None``, ``data=None`` and ``bytes = bits = 0`` (nothing is sent);
  ``min_bits`` holds what the smallest stream would have needed. The caller counts the image as
  not transmittable (e.g. reconstruct nothing / the mean image, as its figure states).
* What counts: ``count="file"`` (default) charges the whole bitstream :meth:`encode` returns,
  containers included (HEIF boxes for HEVC; conservative against BPG). ``count="payload"``
  charges :meth:`ImageCodec.payload_bytes` (the HEVC NAL units alone), which assumes the
  receiver rebuilds the container from what it already knows (image size, codec settings), as
  BPG's few-byte header nearly does; say so in the figure when using it. ``count="slice"``
  (HEVC only) charges :meth:`ImageCodec.slice_bytes`, the coded slice NAL unit(s) alone: the
  receiver is assumed to hold the parameter sets (VPS, SPS, PPS) and the container for the image
  size and encoder settings as well (they do not change from image to image or with the
  quality), as a link configured for one picture format would; say so too. ``data`` is always
  the full decodable stream. :func:`counted_bytes` is the one place these modes are applied.

Encodings are cached per (codec settings, image hash, quality) in an :class:`EncodingCache`;
pass one cache to several calls (e.g. a sweep of budgets for the same image, one per SNR) to
reuse encodings across them.
"""

from __future__ import annotations

import builtins
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Literal, Optional, Sequence

import numpy as np

from .codecs import ImageCodec, check_image, image_digest

__all__ = ["Count", "COUNTS", "check_count", "counted_bytes", "RateControlResult", "EncodingCache", "fit_to_budget",
           "fit_budgets", "encode_many"]

Count = Literal["file", "payload", "slice"]
COUNTS = ("file", "payload", "slice")


def check_count(count) -> str:
    """``count`` if it is one of :data:`COUNTS`, else ``ValueError`` naming it."""
    if count not in COUNTS:
        raise ValueError(f"count must be one of {', '.join(repr(c) for c in COUNTS)}, got {count!r}")
    return count


def counted_bytes(codec: ImageCodec, data: bytes, count: Count) -> int:
    """The bytes of ``data`` that ``count`` charges: the whole stream ("file"), the codec's
    payload ("payload", :meth:`ImageCodec.payload_bytes`) or the coded slice ("slice",
    :meth:`ImageCodec.slice_bytes`, HEVC only)."""
    check_count(count)
    if count == "file":
        return len(data)
    return codec.payload_bytes(data) if count == "payload" else codec.slice_bytes(data)


@dataclass(frozen=True)
class RateControlResult:
    """Outcome of :func:`fit_to_budget` for one image.

    ``quality``: the chosen quality (None if nothing fits); ``bytes``/``bits``: the counted size
    of the chosen stream (``count``), 0 if nothing fits; ``data``: the full stream to transmit
    and decode, None if nothing fits; ``fits``: whether a stream fits the budget;
    ``budget_bits``: the budget; ``min_bits``: counted bits of the lowest-quality stream when it
    was encoded (always when ``fits`` is False), else None; ``encodes``: encoder runs this call
    needed (cache hits excluded).
    """

    quality: Optional[int]
    bytes: int
    bits: int
    data: Optional[builtins.bytes]
    fits: bool
    budget_bits: float
    count: str
    min_bits: Optional[int]
    encodes: int


class EncodingCache:
    """Bitstreams keyed by (codec settings, image hash, quality); counts encoder runs."""

    def __init__(self):
        self._streams: dict[tuple[str, str, int], bytes] = {}
        self.encodes = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._streams)

    def encode(self, codec: ImageCodec, image: np.ndarray, quality: int, digest: str | None = None) -> bytes:
        key = (codec.key, digest if digest is not None else image_digest(image), int(quality))
        data = self._streams.get(key)
        if data is None:
            data = codec.encode(image, int(quality))
            self._streams[key] = data
            self.encodes += 1
        else:
            self.hits += 1
        return data


def _check_budget(budget_bits) -> float:
    try:
        budget = float(budget_bits)
    except (TypeError, ValueError):
        raise TypeError(f"budget_bits must be a number, got {budget_bits!r}") from None
    if math.isnan(budget) or budget < 0:
        raise ValueError(f"budget_bits must be >= 0, got {budget_bits!r}")
    return budget


def fit_to_budget(codec: ImageCodec, image: np.ndarray, budget_bits: float, *, count: Count = "file",
                  cache: EncodingCache | None = None, local_search: int = 1) -> RateControlResult:
    """Encode ``image`` at the highest quality of ``codec`` whose counted size is <= ``budget_bits``.

    See the module docstring for the search, the ``count`` modes and the ``fits=False`` case.
    ``cache`` may be shared between calls; ``local_search`` (>= 0) is the number of qualities
    above the first failing one that are also tried (non-monotone rate curves).
    """
    check_count(count)
    if int(local_search) < 0:
        raise ValueError(f"local_search must be >= 0, got {local_search}")
    budget = _check_budget(budget_bits)
    img = check_image(image)
    digest = image_digest(img)
    cache = EncodingCache() if cache is None else cache
    encodes_before = cache.encodes
    lo, hi = codec.quality_range
    tested: dict[int, tuple[bytes, int]] = {}  # quality -> (stream, counted bits)

    def measure(q: int) -> int:
        if q not in tested:
            data = cache.encode(codec, img, q, digest)
            tested[q] = (data, 8 * counted_bytes(codec, data, count))
        return tested[q][1]

    # Invariant: `good` fits (or is the virtual lo - 1), `bad` does not (or is the virtual hi + 1).
    good, bad = lo - 1, hi + 1
    while True:
        while bad - good > 1:
            mid = (good + bad) // 2
            if measure(mid) <= budget:
                good = mid
            else:
                bad = mid
        above = [q for q in range(bad + 1, min(hi, bad + int(local_search)) + 1) if measure(q) <= budget]
        if not above:
            break
        good = max(above)
        failing = [q for q, (_, bits) in tested.items() if q > good and bits > budget]
        bad = min(failing, default=hi + 1)

    min_bits = tested[lo][1] if lo in tested else None
    encodes = cache.encodes - encodes_before
    if good < lo:
        return RateControlResult(quality=None, bytes=0, bits=0, data=None, fits=False, budget_bits=budget,
                                 count=count, min_bits=min_bits, encodes=encodes)
    data, bits = tested[good]
    assert bits <= budget, "rate control returned a stream over budget"
    return RateControlResult(quality=good, bytes=bits // 8, bits=bits, data=data, fits=True, budget_bits=budget,
                             count=count, min_bits=min_bits, encodes=encodes)


def _fit_image(args) -> list[RateControlResult]:
    codec, image, budgets, count, local_search = args
    cache = EncodingCache()  # one image's budgets share their encodings
    return [fit_to_budget(codec, image, b, count=count, cache=cache, local_search=local_search) for b in budgets]


def fit_budgets(codec: ImageCodec, images: Sequence[np.ndarray], budgets_bits: Sequence[Sequence[float]], *,
                count: Count = "file", workers: int | None = None, local_search: int = 1,
                cache: EncodingCache | None = None,
                on_image: Callable[[], None] | None = None) -> list[list[RateControlResult]]:
    """:func:`fit_to_budget` of image ``i`` for each budget of ``budgets_bits[i]``.

    Sequential by default (``workers`` None or 1): deterministic and light, sharing ``cache``.
    ``workers > 1`` runs one job per image in a process pool (spawned processes; each encoder
    is single-threaded, each job caches its own encodings); the results are identical to the
    sequential ones, in input order, and ``cache`` is not used. ``on_image`` is called as each
    image is done.
    """
    images = [check_image(img) for img in images]
    if len(budgets_bits) != len(images):
        raise ValueError(f"got budgets for {len(budgets_bits)} images, expected {len(images)}")
    budgets = [[_check_budget(b) for b in per_image] for per_image in budgets_bits]
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    done = on_image or (lambda: None)
    out: list[list[RateControlResult]] = []
    if workers is None or int(workers) == 1 or len(images) <= 1:
        cache = EncodingCache() if cache is None else cache
        for img, per_image in zip(images, budgets):
            out.append([fit_to_budget(codec, img, b, count=count, cache=cache, local_search=local_search)
                        for b in per_image])
            done()
        return out
    jobs = [(codec, img, per_image, count, local_search) for img, per_image in zip(images, budgets)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(int(workers), len(jobs)), mp_context=ctx) as pool:
        for result in pool.map(_fit_image, jobs):
            out.append(result)
            done()
    return out


def encode_many(codec: ImageCodec, images: Sequence[np.ndarray], budgets_bits, *, count: Count = "file",
                workers: int | None = None, local_search: int = 1,
                cache: EncodingCache | None = None) -> list[RateControlResult]:
    """:func:`fit_to_budget` for each image; ``budgets_bits`` is one number or one per image.

    ``workers`` and ``cache`` as in :func:`fit_budgets`.
    """
    images = list(images)
    if np.ndim(budgets_bits) == 0:
        budgets = [[budgets_bits]] * len(images)
    else:
        budgets = [[b] for b in np.asarray(budgets_bits, dtype=float).ravel()]
        if len(budgets) != len(images):
            raise ValueError(f"got {len(budgets)} budgets for {len(images)} images")
    results = fit_budgets(codec, images, budgets, count=count, workers=workers, local_search=local_search,
                          cache=cache)
    return [r[0] for r in results]
