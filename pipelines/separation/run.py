"""Stage entry points for the separation baselines ("HEVC-intra + LDPC", "+ capacity").

    python -m pipelines.separation.run bler --profile mini --mcs 16qam-2/3 \\
        --out results/mini/separation/bler/16qam-2_3.json
    python -m pipelines.separation.run sweep --profile mini --sweep kodak_awgn --bler-dir DIR \\
        --out results/mini/separation/kodak_awgn.csv
    python -m pipelines.separation.run benchmark --profile mini --bler-dir DIR --out reports/benchmarks/separation.json

``bler`` measures one MCS's BLER table by exact simulation (used by ``mode: abstraction``);
``sweep`` writes one CSV row per image and operating point (jscc_core.digital.separation), the
cached baseline curves figures read; ``benchmark`` times the exact LDPC decoder and one
24-image Kodak curve in the profile's default mode.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from jscc_core.determinism import library_versions, seed_everything
from jscc_core.digital.abstraction import measure_bler
from jscc_core.digital.mcs import AWGN_ENVELOPE
from jscc_core.digital.separation import evaluate_separation, mean_colour, parse_mcs, write_image_results_csv
from jscc_core.images import dataset_entry, load_dataset
from jscc_core.profiles import ProfileError
from jscc_core.registry import RegistryError, read_checksums
from jscc_core.tracking import track_run
from jscc_core.training import profile_device
from pipelines.cli import run_stage, stage_cli
from pipelines.profile import load
from pipelines.separation.sweeps import bler_grid, load_tables, mcs_tag, sweep_schemes

EXPERIMENT = "separation"


def _progress() -> bool:
    return os.environ.get("JSCC_PROGRESS", "1") != "0"


def _dump(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def use_device(profile) -> None:
    """BP-decode on the profile's ``device`` (auto / cpu / cuda; cpu when unset)."""
    from jscc_core.digital.ldpc import set_link_device  # loads Sionna

    set_link_device(profile_device(profile))


def cmd_bler(args) -> None:
    profile = load(args.profile)
    use_device(profile)
    cfg = profile.get("separation")
    mcs = parse_mcs(args.mcs)
    grid = bler_grid(mcs, cfg["bler"])
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    started = time.perf_counter()
    with track_run(EXPERIMENT, f"bler-{mcs_tag(mcs)}",
                   params={"profile": profile.name, "mcs": mcs.to_dict(), "snr_grid_db": grid, **cfg["bler"]},
                   tags={"profile_sha256": profile.sha256}) as run:
        table = measure_bler(mcs, grid, cfg["bler"]["codewords"], int(profile["seed"]), num_iter=cfg["num_iter"],
                             max_errors=cfg["bler"]["max_errors"], chunk_size=256)
        seconds = time.perf_counter() - started
        table.metadata.update({"seconds": round(seconds, 2), "mlflow_run_id": run.run_id})
        table.metadata.pop("created", None)  # same inputs, same file
        table.save(args.out)
        run.log_metrics({"seconds": seconds, "snr_at_bler_0.1": table.snr_at_bler(0.1),
                         "codewords": float(table.n_codewords.sum())})
        run.log_artifact(args.out)
    print(f"{mcs.name}: BLER 0.1 at {table.snr_at_bler(0.1):.2f} dB, {int(table.n_codewords.sum())} codewords, "
          f"{seconds:.0f} s -> {args.out}")


def run_sweep(profile, sweep: str, data_root: Path, bler_dir: Path | None, *, schemes=None, images=None):
    """(per-image results, images, seconds) of one sweep of the profile; ``images``: the sweep's data
    set as :func:`load_dataset` gives it, if already loaded."""
    cfg = profile.get("separation")
    sw = cfg["sweeps"][sweep]
    schemes = sweep_schemes(sw) if schemes is None else schemes
    tables = load_tables(bler_dir, schemes) if cfg["mode"] == "abstraction" else None  # fail fast
    if images is None:
        images = load_dataset(sw["dataset"], data_root, sw.get("limit"))
    fallback = mean_colour(images) if cfg["fallback"] == "mean" else None
    lpips = uint8_lpips(data_root) if sw.get("lpips") else None
    started = time.perf_counter()
    results = evaluate_separation(images, codec=cfg["codec"], snr_db=sw["snr_db"],
                                  bandwidth_ratio=sw["bandwidth_ratio"], mcs=schemes, mode=cfg["mode"],
                                  bler_tables=tables, seed=int(profile["seed"]), fallback=fallback,
                                  progress=_progress(), count=sw.get("count", "file"), num_iter=cfg["num_iter"],
                                  workers=cfg["workers"], lpips=lpips)
    return results, images, time.perf_counter() - started


def uint8_lpips(data_root: Path):
    """``lpips(x, y) -> float``: LPIPS-Alex of uint8 (H, W, 3) images on the CPU (pipelines.perceptual)."""
    import torch

    from jscc_core.images import to_tensor
    from pipelines.perceptual import lpips_metric

    metric = lpips_metric(data_root)

    def lpips(x, y) -> float:
        with torch.no_grad():
            return float(metric(to_tensor(x), to_tensor(np.ascontiguousarray(y)))[0])

    return lpips


def cmd_sweep(args) -> None:
    profile = load(args.profile)
    cfg = profile.get("separation")
    if args.sweep not in cfg["sweeps"]:
        raise ProfileError(f"profile {profile.name!r}: separation.sweeps has no sweep {args.sweep!r} "
                           f"(known: {', '.join(cfg['sweeps'])})")
    sw = cfg["sweeps"][args.sweep]
    if cfg["mode"] == "exact":
        use_device(profile)
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    out = Path(args.out)
    entry = dataset_entry(sw["dataset"])
    run_key = f"separation_{args.sweep}@{profile.sha256[:16]}"
    images = load_dataset(sw["dataset"], Path(args.data), sw.get("limit"))  # checked before a run is recorded
    with track_run(EXPERIMENT, f"sweep-{args.sweep}",
                   params={"profile": profile.name, "sweep": args.sweep, **sw,
                           **{k: cfg[k] for k in ("codec", "mode", "num_iter", "fallback")}},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        results, images, seconds = run_sweep(profile, args.sweep, Path(args.data), Path(args.bler_dir), images=images)
        write_image_results_csv(results, out)
        lost = sum(r.lost for r in results)
        run.log_metrics({"seconds": seconds, "rows": len(results), "lost_images": lost})
        run.log_artifact(out)
        meta = {"run_id": run.run_id, "run_key": run_key, "sweep": args.sweep, "wall_time_s": round(seconds, 2),
                "images": len(images), "rows": len(results), "lost": lost, "mode": cfg["mode"],
                "count": sw.get("count", "file"),
                "data_checksums": read_checksums([entry])}  # the bytes read, checked against the registry
        _dump(out.with_suffix(".json"), meta)
    print(f"{args.sweep}: {len(results)} rows ({lost} lost) in {seconds:.0f} s -> {out}")


def cmd_benchmark(args) -> None:
    """ldpc_exact_info_bits_per_s and kodak_curve_seconds (the issue's two targets) with context."""
    import torch

    from jscc_core.digital import bench

    profile = load(args.profile)
    cfg = profile.get("separation")
    bcfg = cfg["benchmark"]
    sweep = bcfg["sweep"]
    if sweep not in cfg["sweeps"]:
        raise ProfileError(f"profile {profile.name!r}: separation.benchmark.sweep = {sweep!r} is not a sweep "
                           f"(known: {', '.join(cfg['sweeps'])})")
    seed_everything(int(profile["seed"]), threads=1)
    ldpc = bench.run(n_fast=bcfg["ldpc_codewords"], n_sionna=32, num_iter=cfg["num_iter"], seed=int(profile["seed"]))
    schemes = list(AWGN_ENVELOPE)  # the curve the targets name: 6 MCS x the sweep's SNRs x 24 images
    results, images, seconds = run_sweep(profile, sweep, Path(args.data), Path(args.bler_dir), schemes=schemes)
    snrs = sorted({r.snr_db for r in results})
    tables = load_tables(Path(args.bler_dir), schemes) if cfg["mode"] == "abstraction" else []
    out = {
        "ldpc_exact_info_bits_per_s": ldpc["ldpc_exact_info_bits_per_s"],
        "sionna_info_bits_per_s": ldpc["sionna_info_bits_per_s"],
        "ldpc_speedup_vs_sionna": ldpc["speedup"],
        "kodak_curve_seconds": round(seconds, 1),
        "kodak_curve": {
            "images": len(images), "mcs": [m.name for m in schemes], "snr_db": snrs,
            "bandwidth_ratio": cfg["sweeps"][sweep]["bandwidth_ratio"], "mode": cfg["mode"],
            "codec": cfg["codec"], "workers": cfg["workers"], "rows": len(results),
            "lost_images": sum(r.lost for r in results),
            "includes": "source coding (rate control of every image x MCS budget, from an empty cache), "
                        "framing, link (exact BP decoding or BLER-table draws), stream decoding, PSNR, MS-SSIM",
            "bler_tables_seconds": {t.mcs.name: t.metadata.get("seconds") for t in tables},
        },
        "targets": {"ldpc_speedup_vs_sionna_at_least": 10, "kodak_curve_seconds_at_most": 600},
        "ldpc": ldpc,
        "profile": profile.name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
    _dump(Path(args.out), out)
    print(json.dumps({k: out[k] for k in ("ldpc_exact_info_bits_per_s", "ldpc_speedup_vs_sionna",
                                          "kodak_curve_seconds")}))


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.separation.run", __doc__)
    add("bler", cmd_bler).add_argument("--mcs", required=True, help="MCS name, e.g. 16qam-2/3")
    for name, fn in (("sweep", cmd_sweep), ("benchmark", cmd_benchmark)):
        p = add(name, fn, data=True)
        p.add_argument("--bler-dir", required=True, help="folder of BLER tables (mode abstraction)")
        if name == "sweep":
            p.add_argument("--sweep", required=True, help="a key of separation.sweeps")
    run_stage(parser, argv, (ProfileError, RegistryError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    main()
