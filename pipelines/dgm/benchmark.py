"""Coding time of one test image, encode + decode of every packet, for our scheme and for
HEVC-intra + FEC at the same transmitted bits: the median over ``dgm.benchmark.images`` images, one
run each, with ``dgm.benchmark.threads`` torch threads (default ``threads``), stated in the record
with the machine's load average.  Our scheme is timed in the independent mode (the figure's
number) and in the multiple-description mode, which codes a redundant description as well.

    python -m pipelines.dgm.benchmark --profile mini --data data --model results/mini/dgm/model_lam0.013 \\
        --out reports/benchmarks/resilient.json

HEVC + FEC is timed with the parity of the WLAN model's loss rate at 1x (r = ceil(0.139 k)), at the
highest quality whose packets fit our bits for the same image (hevc_fec.match_quality); its quality
search is not timed, only encoding, FEC encoding, FEC decoding and decoding of the chosen stream.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from jscc_core.channels import GilbertElliottErasure
from jscc_core.determinism import seed_everything
from jscc_core.digital.codecs import HEVCIntra
from jscc_core.digital.erasure import fec_decode, fec_encode, parity_count, transmitted_bits
from jscc_core.profiles import ProfileError
from pipelines.dgm.common import as_input, data_checksums, load_codec, test_images, write_json
from pipelines.dgm.hevc_fec import match_quality
from pipelines.profile import load


def run(args) -> dict:
    profile = load(args.profile)
    seed_everything(int(profile["seed"]), threads=int(profile.get("dgm.benchmark.threads") or profile["threads"]))
    load_before = os.getloadavg()
    codec, meta = load_codec(profile, args.model)
    images = test_images(profile, args.data)
    images = dict(list(images.items())[:int(profile.get("dgm.benchmark.images"))])
    k, step = int(profile.get("dgm.packets")), float(profile.get("dgm.trace_step"))
    redundant_step = float(profile.get("dgm.redundant_step"))
    wlan = GilbertElliottErasure.wlan()
    loss = wlan.p_gb / (wlan.p_gb + wlan.p_bg)
    r = parity_count(1.0, loss, k)
    hevc = HEVCIntra(preset=profile.get("dgm.fec.preset"))
    ours_s, ours_bpp, hevc_s, hevc_bpp, qualities, md_s, md_bpp = [], [], [], [], [], [], []
    for image_id, im in images.items():
        x = as_input(im)
        t0 = time.perf_counter()
        packets = codec.compress(x, k, "independent", step)
        _, report = codec.decompress(packets)
        ours_s.append(time.perf_counter() - t0)
        if len(report.usable) != k:
            raise RuntimeError(f"{image_id}: lossless round trip lost packets")
        bits = 8 * sum(map(len, packets))
        pixels = im.shape[0] * im.shape[1]
        ours_bpp.append(bits / pixels)
        t0 = time.perf_counter()
        md = codec.compress(x, k, "multiple-description", step, redundant_step=redundant_step)
        _, report = codec.decompress(md)
        md_s.append(time.perf_counter() - t0)
        if len(report.usable) != k:
            raise RuntimeError(f"{image_id}: lossless multiple-description round trip lost packets")
        md_bpp.append(8 * sum(map(len, md)) / pixels)
        cache: dict[int, int] = {}

        def size(q, im=im, cache=cache):
            if q not in cache:
                cache[q] = len(hevc.encode(im, q))
            return cache[q]

        q = match_quality(size, bits, k, r)
        if q is None:
            continue
        t0 = time.perf_counter()
        data = hevc.encode(im, q)
        result = fec_decode(fec_encode(data, k, r))
        hevc.decode(result.data, im.shape)
        hevc_s.append(time.perf_counter() - t0)
        hevc_bpp.append(transmitted_bits(len(data), k, r) / pixels)
        qualities.append(q)
        print(f"{image_id}: ours {ours_s[-1]:.2f} s at {ours_bpp[-1]:.3f} bpp (multiple descriptions "
              f"{md_s[-1]:.2f} s at {md_bpp[-1]:.3f} bpp); HEVC + FEC {hevc_s[-1]:.2f} s "
              f"(quality {q}, r = {r})")
    record = {
        "benchmark": "resilient transport: encode + decode of one image, all packets",
        "dataset": profile.get("dgm.test_set"), "images": len(images), "runs_per_image": 1,
        "threads": torch.get_num_threads(), "profile": profile.name,
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "kodak_encode_decode_seconds": round(statistics.median(ours_s), 4),
        "bits_per_pixel": round(statistics.mean(ours_bpp), 5),
        "packets": k, "coding_mode": "independent", "quantisation_step": step,
        "multiple_description": {"kodak_encode_decode_seconds": round(statistics.median(md_s), 4),
                                 "bits_per_pixel": round(statistics.mean(md_bpp), 5),
                                 "redundant_step": redundant_step},
        "model": {key: meta.get(key) for key in ("run_key", "weights_sha256", "lambda")},
        "hevc_fec": {"codec": hevc.label, "preset": hevc.preset, "parity_packets": r,
                     "parity_rule": f"r = ceil(1 x {loss:.3f} x {k}) (WLAN model loss, 1x)",
                     "images_fitting_budget": len(hevc_s),
                     "kodak_encode_decode_seconds": round(statistics.median(hevc_s), 4) if hevc_s else None,
                     "bits_per_pixel": round(statistics.mean(hevc_bpp), 5) if hevc_bpp else None,
                     "qualities": qualities},
        "data_checksums": data_checksums(profile),
    }
    write_json(Path(args.out), record)
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.dgm.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--data", default="data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        run(args)
    except (ProfileError, ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


if __name__ == "__main__":
    main()
