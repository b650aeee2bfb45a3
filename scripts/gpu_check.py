"""A few paper-profile training steps per NTSCC model family and Kodak inference times on a GPU.

    python scripts/gpu_check.py                      # needs CUDA; about 5 minutes on one GPU
    python scripts/gpu_check.py --device cpu --steps 1 --batch-size 1 --images 1   # plumbing on a CPU (~80 s)

Builds the paper profile's NTC (g_a, g_s, h_a, h_s), NTSCC (+ f_e, f_d*) and deep JSCC (R = 1/16)
with random weights, trains each for ``--steps`` steps on random crops of the training images the
data mirror holds (``natural_train``; random pixels when absent) at the paper's batch size and crop,
through ``jscc_core.training.train`` on the device, then times encode + decode of Kodak images
(NTSCC with real z bitstreams, at eta_fig12 and fig11_snr_db). It writes nothing but a JSON summary
on stdout. Exit 1 when CUDA is asked for and the machine has none, naming what torch sees.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from jscc_core.channels import ComplexAWGN
from jscc_core.images import RandomCrops, load_dataset, load_entry_images, to_tensor
from jscc_core.training import TrainSchedule, describe_device, resolve_device, synchronize, train
from ntscc.image.deepjscc import DeepJSCC
from ntscc.image.model import ImageNTSCC
from ntscc.image.ntc import ImageNTC
from ntscc.image.objectives import deepjscc_objective, ntc_objective, ntscc_objective, quantile_training
from pipelines.ntscc.images import images_cfg, ntc_config, ntscc_config
from pipelines.profile import load

KODAK_SHAPE = (512, 768)


def _data_root() -> Path:
    return Path(os.environ.get("JSCC_DATA_MIRROR", "data"))


def _crops(crop: int, seed: int):
    """``sample(n)`` of random crops of natural_train, or of random pixels when it is absent."""
    try:
        usable = [im for im in load_entry_images("natural_train", _data_root()).values() if min(im.shape[:2]) >= crop]
    except (FileNotFoundError, ValueError):
        usable = []
    if usable:
        return RandomCrops(usable, crop).sample, "natural_train"
    g = torch.Generator().manual_seed(seed)
    return (lambda n: torch.rand(n, 3, crop, crop, generator=g)), "random pixels"


def _kodak(count: int) -> list[torch.Tensor]:
    try:
        images = list(load_dataset("kodak", _data_root(), limit=count).values())
        return [to_tensor(im) for im in images]
    except (FileNotFoundError, ValueError):
        g = torch.Generator().manual_seed(0)
        return [torch.rand(1, 3, *KODAK_SHAPE, generator=g) for _ in range(count)]


def _train(name, model, loss, sample, steps, batch, device, folder) -> dict:
    schedule = TrainSchedule(steps=steps, batch_size=batch, learning_rate=1e-4, checkpoint_every=steps,
                             log_every=steps)
    aux = quantile_training(model) if isinstance(model, (ImageNTC, ImageNTSCC)) else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    logs = train(model, loss, sample, schedule, folder / f"{name}.pt", name, desc=name, aux=aux, device=device)
    synchronize(device)
    seconds = time.perf_counter() - started
    out = {"parameters": sum(p.numel() for p in model.parameters()), "steps": steps, "batch_size": batch,
           "seconds_per_step": round(seconds / steps, 4), "loss": round(float(logs["loss"]), 4)}
    if device.type == "cuda":
        out["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    return out


@torch.no_grad()
def _time(model, images, snr_db, eta, device) -> dict:
    model.eval()
    if isinstance(model, ImageNTSCC):
        model.update(force=True)
    g = torch.Generator(device=device).manual_seed(0)
    channel = ComplexAWGN(snr_db)
    times = []
    for x in images:
        x = x.to(device)
        synchronize(device)
        t0 = time.perf_counter()
        if isinstance(model, ImageNTSCC):
            model.transmit(x, snr_db, eta, generator=g)
        else:
            model(x, lambda s: channel(s, generator=g))
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return {"images": len(times), "median_seconds": round(float(np.median(times)), 4),
            "first_seconds": round(times[0], 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, auto or cpu")
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--steps", type=int, default=5, help="training steps per model family")
    parser.add_argument("--batch-size", type=int, help="default: the profile's NTSCC batch size")
    parser.add_argument("--images", type=int, default=24, help="Kodak images timed per model")
    parser.add_argument("--threads", type=int, help="CPU threads (default: the profile's, at most the cores)")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device, "--device")
    except ValueError as exc:
        print(f"gpu-check: no GPU here: {exc}. A plumbing check on the CPU: make gpu-check "
              "GPU_CHECK_ARGS='--device cpu --steps 1 --batch-size 1 --images 1'", file=sys.stderr)
        return 1
    profile = load(args.profile)
    cfg = images_cfg(profile)
    torch.manual_seed(int(profile["seed"]))
    torch.set_num_threads(args.threads or min(int(profile["threads"]), os.cpu_count() or 1))
    batch = args.batch_size or cfg["schedules"]["ntscc"]["batch_size"]
    sample, source = _crops(cfg["crop"], int(profile["seed"]))
    snr, eta, lam = cfg["train_snr_db"], cfg["eta_train"][0], cfg["ablation"]["lmbda"]
    c_out = min(cfg["deepjscc"]["c_out"], key=lambda c: abs(c / 48 - 1 / 16))
    report = {"device": describe_device(device), "profile": profile.name, "training_images": source,
              "crop": cfg["crop"], "torch": torch.__version__, "threads": torch.get_num_threads()}
    kodak = _kodak(args.images)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ntc = ImageNTC(ntc_config(cfg))
        report["ntc"] = _train("ntc", ntc, ntc_objective(lam), sample, args.steps, batch, device, folder)
        ntscc = ImageNTSCC.from_pretrained_ntc(ntscc_config(cfg), ntc.cpu())
        report["ntscc"] = _train("ntscc", ntscc, ntscc_objective(lam, snr, eta), sample, args.steps, batch, device,
                                 folder)
        report["ntscc"]["kodak"] = _time(ntscc, kodak, cfg["fig11_snr_db"], cfg["eta_fig12"], device)
        deep = DeepJSCC(c_out, filters=cfg["deepjscc"]["filters"], gdn=cfg["deepjscc"].get("gdn", True))
        report["deepjscc"] = _train("deepjscc", deep, deepjscc_objective(snr), sample, args.steps, batch, device,
                                    folder)
        report["deepjscc"]["kodak"] = _time(deep, kodak, cfg["fig11_snr_db"], None, device)
    report["wall_time_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
