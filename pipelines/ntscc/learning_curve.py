"""Diagnostic: Kodak PSNR and rate of an NTC against its training wall clock.

Trains one NTC from scratch on the block's training crops at rate weight ``--lmbda`` (eq. 13,
the profile's NTC schedule with ``--steps`` steps) and, every ``--every`` steps, scores the first
``--images`` test images in eval mode: PSNR of g_s(ȳ) and the rate -log2 P(ȳ, z̄) / pixels (the
entropy the range coder reaches within a few bytes).  ``--transform swin`` is the profile's Swin
NTC (``ntscc.images.ntc``); ``--transform conv`` is CompressAI's convolutional mean-scale
hyperprior (GDN, Minnen et al. 2018) with N, M = ``--conv-channels``, trained by the same loop on
the same crops, the reference for "would a conv g_a / g_s learn faster per core-second".  Training
time is the process's CPU seconds (core-seconds at ``--threads`` 1, so other jobs on the machine
change it little), scoring excluded.  Resumable: the checkpoint and the JSON written so far are kept.

    python -m pipelines.ntscc.learning_curve --profile mini --data data --lmbda 64 --steps 4000 --every 400 \\
        --transform swin --out results/mini/ntscc/images/diagnostics/learning_curve_swin_lam64.json
    python -m pipelines.ntscc.learning_curve --plot curves.pdf --curves learning_curve_*.json

``--plot`` draws PSNR, rate and the training objective J = MSE + λ bpp (eq. 13, MSE on the 8-bit
scale) of the scored images against training CPU minutes, one line per JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from jscc_core.determinism import seed_everything
from jscc_core.images import to_tensor
from jscc_core.profiles import ProfileError
from jscc_core.training import AuxiliaryLoss, CheckpointError, load_checkpoint, train
from ntscc.image.ntc import ImageNTC
from ntscc.image.objectives import ntc_objective, quantile_training
from pipelines.ntscc.images import images_cfg, ntc_config, schedule, stage_seed, test_images, training_crops
from pipelines.profile import load

with warnings.catch_warnings():  # compressai's import calls the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.models import MeanScaleHyperprior


def conv_objective(lmbda: float):
    """Eq. (13) for CompressAI's model: mean((255 x - 255 x̂)²) + λ bpp, bpp from its likelihoods."""
    def loss_fn(model: nn.Module, x: torch.Tensor):
        out = model(x)
        d = (255 * (x - out["x_hat"])).square().mean()
        bpp = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / (x.shape[0] * x.shape[-2] * x.shape[-1])
        psnr = 10 * math.log10(255 ** 2 / max(float(d), 1e-12))
        return d + lmbda * bpp, {"distortion": float(d), "bpp": float(bpp), "psnr": psnr}
    return loss_fn


@torch.no_grad()
def score(model: nn.Module, images: list[torch.Tensor]) -> tuple[float, float]:
    """(mean PSNR in dB, mean bits per pixel) of ``model`` in eval mode on (1, 3, H, W) images."""
    psnrs, bpps = [], []
    for x in images:
        out = model(x)
        mse = float((x - out["x_hat"].clamp(0, 1)).square().mean())
        psnrs.append(-10 * math.log10(max(mse, 1e-12)))
        if "likelihoods" in out:
            bits = sum(float(-torch.log2(v).sum()) for v in out["likelihoods"].values())
        else:
            bits = float(out["bits_y_per_patch"].sum() + out["bits_z"].sum())
        bpps.append(bits / (x.shape[-2] * x.shape[-1]))
    return sum(psnrs) / len(psnrs), sum(bpps) / len(bpps)


def plot(curves: list[Path], out: Path) -> None:
    """PSNR, bpp and J = MSE + λ bpp against training CPU minutes, one line per learning-curve JSON."""
    from pipelines.figures.page import new_figure

    fig = new_figure(10.0, 3.2)
    axes = fig.subplots(1, 3)
    for path in curves:
        d = json.loads(Path(path).read_text())
        if not d.get("rows"):
            raise ValueError(f"{path} has no scored step yet")
        t = [r["train_cpu_s"] / 60 for r in d["rows"]]
        psnr = [r["psnr"] for r in d["rows"]]
        bpp = [r["bpp"] for r in d["rows"]]
        cost = [255 ** 2 * 10 ** (-p / 10) + d["lambda"] * b for p, b in zip(psnr, bpp)]
        label = (f"{d['transform']} ({d['parameters'] / 1e6:.2f} M parameters, "
                 f"lambda {d['lambda']:g}, {d['threads']} thread)")
        for ax, y in zip(axes, (psnr, bpp, cost)):
            ax.plot(t, y, "-o", ms=3, label=label)
    for ax, name in zip(axes, ("PSNR (dB)", "bits per pixel", "J = MSE + lambda bpp (eq. 13)")):
        ax.set_xlabel("training CPU minutes")
        ax.set_ylabel(name)
    axes[0].legend(fontsize=6)
    fig.suptitle("NTC learning curves on the first Kodak images (eval mode, rate from the likelihoods)", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def run(args) -> list[dict]:
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = out.with_suffix(".pt")
    crops = training_crops(profile, Path(args.data), args.block)
    images = [to_tensor(im) for im in list(test_images(profile, Path(args.data), args.block).values())[:args.images]]
    seed_everything(stage_seed(int(profile["seed"]), f"learning-curve/{args.transform}"), threads=args.threads)
    if args.transform == "swin":
        model = ImageNTC(ntc_config(cfg))
        loss_fn, aux = ntc_objective(args.lmbda), quantile_training(model)
    else:
        n, m = args.conv_channels
        model = MeanScaleHyperprior(n, m)
        loss_fn = conv_objective(args.lmbda)
        aux = AuxiliaryLoss([p for name, p in model.named_parameters() if name.endswith("quantiles")],
                            lambda mod: mod.aux_loss())
    base = schedule(cfg, "ntc")
    sched = replace(base, steps=args.steps, epoch_steps=args.every, checkpoint_every=args.every,
                    warmup_steps=min(base.warmup_steps, args.steps // 10))
    rows: list[dict] = []
    if out.exists() and checkpoint.exists():  # resume: keep the rows up to the checkpoint's step
        done = int(load_checkpoint(checkpoint)["step"])
        rows = [r for r in json.loads(out.read_text())["rows"] if r["step"] <= done]
    offset = rows[-1]["train_cpu_s"] if rows else 0.0
    clock = {"start": time.process_time(), "scoring": 0.0}

    def validate(m: nn.Module) -> float:
        t0 = time.process_time()
        psnr, bpp = score(m, images)
        step = (rows[-1]["step"] if rows else 0) + args.every
        train_s = offset + t0 - clock["start"] - clock["scoring"]
        clock["scoring"] += time.process_time() - t0
        rows.append({"step": step, "train_cpu_s": round(train_s, 3), "psnr": round(psnr, 3), "bpp": round(bpp, 4)})
        print(f"{args.transform} step {step}: {train_s / 60:.1f} CPU min, {psnr:.2f} dB at {bpp:.3f} bpp", flush=True)
        out.write_text(json.dumps(meta | {"rows": rows}, indent=2) + "\n")
        return -psnr

    meta = {"transform": args.transform, "lambda": args.lmbda, "profile": profile.name, "threads": args.threads,
            "parameters": sum(p.numel() for p in model.parameters()), "images": args.images,
            "conv_channels": list(args.conv_channels) if args.transform == "conv" else None,
            "schedule": {"steps": sched.steps, "batch_size": sched.batch_size, "learning_rate": sched.learning_rate},
            "crop": cfg["crop"], "train_set": cfg["train_set"], "test_set": cfg["test_set"]}
    train(model, loss_fn, crops.sample, sched, checkpoint,
          f"learning-curve/{args.transform}/{args.lmbda}/{args.steps}/{tuple(args.conv_channels)}",
          desc=f"learning curve ({args.transform})", validate=validate, aux=aux)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ntscc.learning_curve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--data", default="data")
    parser.add_argument("--block", default="images")
    parser.add_argument("--lmbda", type=float, default=64.0)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--every", type=int, default=400, help="steps between scorings")
    parser.add_argument("--images", type=int, default=6, help="first N test images scored")
    parser.add_argument("--transform", choices=("swin", "conv"), default="swin")
    parser.add_argument("--conv-channels", type=int, nargs=2, default=(128, 192), metavar=("N", "M"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="the learning curve's JSON (its checkpoint goes beside it)")
    parser.add_argument("--plot", help="draw the --curves JSONs into this PDF instead of training")
    parser.add_argument("--curves", nargs="+", default=[], help="learning-curve JSONs for --plot")
    args = parser.parse_args(argv)
    if (args.plot is None) == (args.out is None):
        parser.error("give --out (train and score) or --plot with --curves (draw)")
    try:
        if args.plot:
            plot([Path(c) for c in args.curves], Path(args.plot))
        else:
            run(args)
    except (ProfileError, ValueError, FileNotFoundError, CheckpointError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


if __name__ == "__main__":
    main()
