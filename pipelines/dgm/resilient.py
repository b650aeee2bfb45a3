"""Our scheme on the test images: the zero-loss rate-distortion curve (``rd``) and the
time-varying packet-loss trace (``trace``), one CSV row per image.

    python -m pipelines.dgm.resilient rd --profile mini --data data --model results/mini/dgm/model_lam0.013 \\
        --out results/mini/dgm/rd_ours.csv
    python -m pipelines.dgm.resilient trace --profile mini --data data --model ... --out results/mini/dgm/trace_ours.csv

Bits are every byte of every packet (headers and CRC included).  In the trace, interval i's coding
mode is chosen from the running estimate (the loss measured over interval i - 1): layered below
``dgm.layered_below``, multiple-description from ``dgm.multiple_description_from`` (redundant
descriptions at step ``dgm.redundant_step``), independent between; image j of the interval takes
the interval's packet slots j P .. j P + P - 1.  A token set whose packet was lost is taken from its
redundant description when that arrived, and concealed by the regression head otherwise; the row
also keeps the PSNR of the same packets with lost tokens set to zero (the concealment's gain).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from jscc_core.determinism import seed_everything
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.common import (
    as_input,
    data_checksums,
    load_codec,
    loss_trace,
    test_images,
    write_json,
    write_rows,
)
from pipelines.dgm.metrics import quality
from pipelines.profile import load


def coding_mode(estimate: float, layered_below: float, multiple_description_from: float | None = None) -> str:
    """The coding mode for an interval whose predicted loss is ``estimate``: layered below
    ``layered_below``, multiple-description from ``multiple_description_from`` (None: never),
    independent between."""
    if estimate < layered_below:
        return "layered"
    if multiple_description_from is not None and estimate >= multiple_description_from:
        return "multiple-description"
    return "independent"


def _modes(profile):
    """(layered_below, multiple_description_from, redundant_step) of the profile."""
    md_from = profile.get("dgm.multiple_description_from")
    return (float(profile.get("dgm.layered_below")), None if md_from is None else float(md_from),
            float(profile.get("dgm.redundant_step")))


def _setup(args):
    profile = load(args.profile)
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    codec, meta = load_codec(profile, args.model)
    return profile, codec, meta, test_images(profile, args.data)


def _record(args, profile, meta, rows, started, **extra) -> None:
    write_rows(args.out, rows)
    write_json(Path(args.out).with_suffix(".json"), {
        "model": {k: meta.get(k) for k in ("run_id", "run_key", "lambda", "weights_sha256", "wall_time_s")},
        "profile": profile.name, "data_checksums": data_checksums(profile), "threads": torch.get_num_threads(),
        "wall_time_s": round(time.perf_counter() - started, 3), **extra})


def cmd_rd(args) -> None:
    started = time.perf_counter()
    profile, codec, meta, images = _setup(args)
    n_packets = int(profile.get("dgm.packets"))
    mode = coding_mode(0.0, float(profile.get("dgm.layered_below")))
    rows = []
    for image_id, im in images.items():
        x = as_input(im)
        for step in profile.get("dgm.rd_steps"):
            t0 = time.perf_counter()
            packets = codec.compress(x, n_packets, mode, float(step))
            t1 = time.perf_counter()
            x_hat, report = codec.decompress(packets)
            t2 = time.perf_counter()
            if report.usable != list(range(n_packets)):
                raise RuntimeError(f"{image_id}: the lossless round trip lost packets: {report}")
            bits = 8 * sum(map(len, packets))
            p, s = quality(im, x_hat)
            rows.append({"image": image_id, "step": float(step), "mode": mode, "lambda": meta["lambda"], "bits": bits,
                         "bpp": bits / (im.shape[0] * im.shape[1]), "psnr": p, "ms_ssim": s,
                         "encode_s": round(t1 - t0, 4), "decode_s": round(t2 - t1, 4)})
        print(f"{image_id}: " + ", ".join(f"{r['bpp']:.3f} bpp {r['psnr']:.2f} dB" for r in rows[-len(
            profile.get("dgm.rd_steps")):]))
    _record(args, profile, meta, rows, started, mode=mode)


def cmd_trace(args) -> None:
    started = time.perf_counter()
    profile, codec, meta, images = _setup(args)
    n_packets = int(profile.get("dgm.packets"))
    step = float(profile.get("dgm.trace_step"))
    trace = loss_trace(profile, len(images), n_packets)
    below, md_from, redundant_step = _modes(profile)
    if md_from is not None and md_from < below:
        raise ValueError(f"dgm.multiple_description_from ({md_from}) is below dgm.layered_below ({below})")
    sent: dict[tuple[str, str], list[bytes]] = {}
    rows = []
    for i in range(trace.n_intervals):
        estimate = float(trace.running_estimate[i])
        mode = coding_mode(estimate, below, md_from)
        erased = trace.interval(i)
        for j, (image_id, im) in enumerate(images.items()):
            x = as_input(im)
            if (image_id, mode) not in sent:
                sent[image_id, mode] = codec.compress(x, n_packets, mode, step, redundant_step=redundant_step)
            packets = sent[image_id, mode]
            lost = erased[j * n_packets:(j + 1) * n_packets]
            received = [None if e else raw for raw, e in zip(packets, lost)]
            y, decoded, report, (h, w) = codec.decode_latent(received, shape=im.shape[:2])
            with torch.no_grad():
                x_hat = codec.g_s(y[None]).clamp(0, 1)[..., :h, :w]
                zero = codec.g_s(torch.where(decoded, y, torch.zeros_like(y))[None]).clamp(0, 1)[..., :h, :w]
            p, s = quality(im, x_hat)
            p0, s0 = quality(im, zero) if report.concealed_tokens else (p, s)
            bits = 8 * sum(map(len, packets))
            rows.append({"interval": i, "image": image_id, "mode": mode, "estimate": estimate,
                         "measured_loss": float(trace.measured_loss[i]), "target_loss": float(trace.target_loss[i]),
                         "packets": n_packets, "packets_lost": int(lost.sum()), "usable": len(report.usable),
                         "redundant_sets": len(report.redundant), "concealed_tokens": report.concealed_tokens,
                         "tokens": report.tokens, "bits": bits,
                         "bpp": bits / (h * w), "decoded": 1, "psnr": p, "ms_ssim": s, "psnr_zero_fill": p0,
                         "ms_ssim_zero_fill": s0})
        last = rows[-len(images):]
        print(f"interval {i}: loss {trace.measured_loss[i]:.3f} (estimate {estimate:.3f}, {mode}): "
              f"{np.mean([r['psnr'] for r in last]):.2f} dB at {np.mean([r['bpp'] for r in last]):.3f} bpp")
    _record(args, profile, meta, rows, started, step=step, redundant_step=redundant_step,
            trace={"measured_loss": trace.measured_loss.tolist(), "running_estimate": trace.running_estimate.tolist(),
                   "packets_per_interval": int(trace.boundaries[1])})


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.resilient", __doc__)
    for name, fn in (("rd", cmd_rd), ("trace", cmd_trace)):
        add(name, fn, data=True).add_argument("--model", required=True, help="folder of a dgm_train stage")
    run_stage(parser, argv, (ValueError, FileNotFoundError))


if __name__ == "__main__":
    main()
