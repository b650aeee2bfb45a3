"""The baseline: HEVC-intra (x265, the project's stand-in for VTM-20.0) + inter-packet Reed-Solomon
FEC over the same loss trace, at the transmitted bits of our scheme.

    python -m pipelines.dgm.hevc_fec rd --profile mini --data data --out results/mini/dgm/rd_hevc.csv
    python -m pipelines.dgm.hevc_fec trace --profile mini --data data --ours results/mini/dgm/trace_ours.csv \\
        --out results/mini/dgm/trace_hevc.csv

Per image and interval, "HEVC + FEC (N x)" adds r = ceil(N p k) parity packets to k = ``dgm.packets``
data packets (p: the running estimate) and codes the image at the highest HEVC quality whose
transmitted bits -- every packet with its FEC header, parity included -- do not exceed what our
scheme sent for the same image in the same interval (:func:`match_quality`).  The packets take the
interval's slots in order; the image decodes only if k of the k + r packets arrive (the HEVC decoder
is never asked to notice damage), else the receiver shows the test set's mean colour.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from jscc_core.determinism import seed_everything
from jscc_core.digital.codecs import HEVCIntra
from jscc_core.digital.erasure import fec_decode, fec_encode, parity_count, transmitted_bits
from jscc_core.digital.separation import mean_colour
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.common import data_checksums, loss_trace, read_rows, test_images, write_json, write_rows
from pipelines.dgm.metrics import quality
from pipelines.profile import load


def match_quality(size_of: Callable[[int], int], budget_bits: int, k: int, r: int,
                  qualities: range = range(0, 52)) -> int | None:
    """The highest quality q whose stream, sent as k data + r parity packets, costs at most
    ``budget_bits`` (``transmitted_bits(size_of(q), k, r)``); None if even the lowest does not fit.
    Bisection: stream sizes grow with quality."""
    lo, hi = qualities.start, qualities.stop - 1
    if transmitted_bits(size_of(lo), k, r) > budget_bits:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if transmitted_bits(size_of(mid), k, r) <= budget_bits:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Streams:
    """HEVC streams and the quality of their clean decodes, cached per (image, quality)."""

    def __init__(self, codec: HEVCIntra, images: dict[str, np.ndarray]):
        self.codec, self.images = codec, images
        self.streams: dict[tuple[str, int], bytes] = {}
        self.scores: dict[tuple[str, int], tuple[float, float]] = {}

    def stream(self, image_id: str, q: int) -> bytes:
        if (image_id, q) not in self.streams:
            self.streams[image_id, q] = self.codec.encode(self.images[image_id], q)
        return self.streams[image_id, q]

    def score(self, image_id: str, q: int, data: bytes) -> tuple[float, float]:
        if (image_id, q) not in self.scores:
            im = self.images[image_id]
            self.scores[image_id, q] = quality(im, self.codec.decode(data, im.shape))
        return self.scores[image_id, q]


def _setup(args):
    profile = load(args.profile)
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    images = test_images(profile, args.data)
    return profile, images, _Streams(HEVCIntra(preset=profile.get("dgm.fec.preset")), images)


def _record(args, profile, rows, started, codec: HEVCIntra, **extra) -> None:
    write_rows(args.out, rows)
    write_json(Path(args.out).with_suffix(".json"), {
        "codec": codec.label, "preset": codec.preset, "profile": profile.name,
        "data_checksums": data_checksums(profile), "threads": torch.get_num_threads(),
        "wall_time_s": round(time.perf_counter() - started, 3), **extra})


def cmd_rd(args) -> None:
    started = time.perf_counter()
    profile, images, streams = _setup(args)
    k = int(profile.get("dgm.packets"))
    rows = []
    for image_id, im in images.items():
        for q in profile.get("dgm.fec.rd_qualities"):
            data = streams.stream(image_id, int(q))
            bits = transmitted_bits(len(data), k, 0)
            p, s = streams.score(image_id, int(q), data)
            rows.append({"image": image_id, "quality": int(q), "stream_bytes": len(data), "bits": bits,
                         "bpp": bits / (im.shape[0] * im.shape[1]), "psnr": p, "ms_ssim": s})
    _record(args, profile, rows, started, streams.codec, packets=k)


def cmd_trace(args) -> None:
    started = time.perf_counter()
    profile, images, streams = _setup(args)
    k = int(profile.get("dgm.packets"))
    trace = loss_trace(profile, len(images), k)
    ours = {(int(r["interval"]), r["image"]): int(r["bits"]) for r in read_rows(args.ours)}
    missing = [(i, m) for i in range(trace.n_intervals) for m in images if (i, m) not in ours]
    if missing:
        raise ValueError(f"{args.ours} has no row for (interval, image) {missing[0]} ({len(missing)} missing): "
                         "it was written for another trace or test set")
    fallback = np.asarray(mean_colour(list(images.values())))
    lost_score = {m: quality(im, np.broadcast_to(np.round(fallback * 255).astype(np.uint8), im.shape).copy())
                  for m, im in images.items()}
    rows = []
    for i in range(trace.n_intervals):
        estimate = float(trace.running_estimate[i])
        erased = trace.interval(i)
        for n in profile.get("dgm.fec.provisioning"):
            r = parity_count(float(n), estimate, k)
            slot = 0
            for image_id, im in images.items():
                budget = ours[i, image_id]
                q = match_quality(lambda v, m=image_id: len(streams.stream(m, v)), budget, k, r)
                row = {"interval": i, "image": image_id, "provisioning": float(n), "estimate": estimate,
                       "measured_loss": float(trace.measured_loss[i]), "k": k, "r": r, "budget_bits": budget}
                if q is None:  # nothing fits: the image is not sent (its slots stay unused)
                    p, s = lost_score[image_id]
                    rows.append({**row, "quality": -1, "bits": 0, "bpp": 0.0, "packets_lost": 0, "decoded": 0,
                                 "reason": "no HEVC quality fits the budget", "psnr": p, "ms_ssim": s})
                    continue
                data = streams.stream(image_id, q)
                packets = fec_encode(data, k, r)
                lost = erased[slot:slot + k + r]
                slot += k + r
                result = fec_decode([pk for pk, e in zip(packets, lost) if not e])
                if result.recovered:
                    if result.data != data:
                        raise RuntimeError(f"{image_id}: FEC returned other bytes than were sent")
                    p, s = streams.score(image_id, q, data)
                else:
                    p, s = lost_score[image_id]
                bits = transmitted_bits(len(data), k, r)
                rows.append({**row, "quality": q, "bits": bits, "bpp": bits / (im.shape[0] * im.shape[1]),
                             "packets_lost": int(lost.sum()), "decoded": int(result.recovered),
                             "reason": result.reason, "psnr": p, "ms_ssim": s})
            last = rows[-len(images):]
            print(f"interval {i} FEC {n:g}x (r = {r}): {sum(1 - x['decoded'] for x in last)} failures, "
                  f"{np.mean([x['psnr'] for x in last]):.2f} dB")
    _record(args, profile, rows, started, streams.codec, packets=k, fallback_rgb=fallback.tolist())


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.hevc_fec", __doc__)
    add("rd", cmd_rd, data=True)
    add("trace", cmd_trace, data=True).add_argument("--ours", required=True, help="trace_ours.csv (the budgets)")
    run_stage(parser, argv, (ValueError, FileNotFoundError))


if __name__ == "__main__":
    main()
