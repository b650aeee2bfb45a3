"""The StyleGAN-2 prior G of GJSCC: training on the face set's training split, and its report.

    python -m pipelines.gjscc.generator train --profile mini --out results/mini/gjscc/generator
    python -m pipelines.gjscc.generator report --profile mini \\
        --generator results/mini/gjscc/generator/generator.pt --out reports/gjscc/generator.pdf

``train`` reads ``gjscc.generator`` (architecture and its ``train`` block) and trains G against a
residual discriminator on the training split of ``gjscc.data.faces`` only (:mod:`pipelines.gjscc.data`).
It writes DIR/generator.pt (the EMA generator's state dict, the G every other stage uses),
DIR/run.json (timings, losses, MLflow run) and DIR/samples.png; its resumable state is
DIR/checkpoint.pt. With ``gjscc.generator.source: ffhq`` (paper) G is not trained: the official
weights are converted instead, once, by an explicit command:

    python -m pipelines.gjscc.generator convert --profile paper --out results/paper/gjscc/generator \
        [--from stylegan2-ffhq-config-f.pkl | --allow-unverified]

``convert`` reads the file given by ``--from`` (else registry entry ``ffhq_stylegan2``, which has no
published checksum, so ``--allow-unverified`` is required) in the rosinality .pt or NVlabs .pkl layout
(:mod:`generative_jscc.weights`; the pickle's code is never run), checks it against the architecture
of ``gjscc.generator``, and writes DIR/generator.pt (plain state dict) and DIR/run.json (source
sha256, layout, and the relative error between the mean of mapping(z) and the mean latent the
source tracked in training, a check of the converted mapping network).

``report`` writes a contact sheet of 64 samples from fixed z and a held-out projection check:
``projection.images`` validation faces, each projected by optimising w+ (from the mean latent,
noise maps fixed) for ``projection.steps`` Adam steps on MSE + L1, shown beside the originals
with their PSNR. Outputs: the PDF, <stem>_samples.png, <stem>_projection.png and <stem>.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generative_jscc.gan_training import (
    GANSchedule,
    contact_sheet,
    image_grid,
    save_png,
    train_gan,
)
from generative_jscc.stylegan2 import Discriminator, Generator, resize_to, to_unit
from generative_jscc.weights import convert_weights, latent_avg_error, save_state_dict
from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.metrics import psnr
from jscc_core.profiles import ProfileError, thaw
from jscc_core.registry import RegistryError, file_resolver, sha256_file
from jscc_core.tracking import track_run
from jscc_core.training import CheckpointError, load_weights, profile_device
from pipelines.cli import run_stage, stage_cli
from pipelines.gjscc.data import face_split, write_split
from pipelines.profile import load

EXPERIMENT = "gjscc-generator"
CONVERT_COMMAND = ("python -m pipelines.gjscc.generator convert --profile {profile} --out {out} "
                   "[--from FILE | --allow-unverified]")
OFFICIAL_ENTRY = "ffhq_stylegan2"  # registry entry of the official FFHQ generator
LATENT_CHECK_SAMPLES = 10000  # draws of z for the mean-latent check of a converted mapping network
SAMPLES = 64  # contact sheet: 8 x 8 samples


# --------------------------------------------------------------------------- configuration


def generator_cfg(profile) -> dict:
    """``gjscc.generator`` as plain values, ``channels`` keyed by the resolution as an int (the profile
    writes those keys as strings: DVC's parameter reader fails on integer keys)."""
    cfg = thaw(profile.get("gjscc.generator"))
    cfg["channels"] = {int(r): int(c) for r, c in cfg["channels"].items()}
    return cfg


def build_generator(profile) -> Generator:
    """G with the architecture of ``gjscc.generator`` (random weights)."""
    cfg = generator_cfg(profile)
    return Generator(int(cfg["size"]), style_dim=int(cfg["style_dim"]), n_mlp=int(cfg["n_mlp"]),
                     channels=cfg["channels"], lr_mlp=float(cfg["lr_mlp"]))


def load_generator(profile, path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """G of ``gjscc.generator`` with the weights at ``path`` (a state dict), in eval mode, gradients off."""
    G = load_weights(build_generator(profile), Path(path))
    return G.to(device).eval().requires_grad_(False)


def stage_device(profile) -> torch.device:
    """The profile's top-level ``device`` (auto / cpu / cuda / cuda:N / mps), the one every stage
    honours; a CUDA or MPS device the machine lacks is a one-line ValueError naming the key."""
    return profile_device(profile)


def training_fingerprint(profile) -> str:
    """What the generator's checkpoint is valid for: the architecture, its training block, the
    face set and split, the seed and the thread count (projection and the device are not read)."""
    cfg = {k: v for k, v in generator_cfg(profile).items() if k != "projection"}
    blob = json.dumps({"generator": cfg, "faces": profile.get("gjscc.data.faces"),
                       "split": list(profile.get("gjscc.data.split")), "seed": profile["seed"],
                       "threads": profile["threads"]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def refuse_official(profile, out: str) -> None:
    """The paper's G is the official FFHQ generator, converted once; training it here is a mistake."""
    if generator_cfg(profile)["source"] == "ffhq":
        raise ValueError(
            f"profile {profile.name!r} uses the official FFHQ generator (gjscc.generator.source: ffhq); it is "
            f"converted, not trained: run `{CONVERT_COMMAND.format(profile=profile.name, out=out)}`")


def training_images(profile, root: str, size: int) -> torch.Tensor:
    """The training split as uint8 (N, 3, size, size) (area-resized when the faces are another size)."""
    train = torch.from_numpy(face_split(profile, root)["train"]).permute(0, 3, 1, 2).contiguous()
    if train.shape[-1] != size or train.shape[-2] != size:
        train = (resize_to(train.float(), size).round().clamp(0, 255)).to(torch.uint8)
    return train


# --------------------------------------------------------------------------- train


def _finished(out: Path, fp: str) -> bool:
    """Whether ``out`` holds weights and a run.json of a finished training under fingerprint ``fp``."""
    try:
        meta = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (out / "generator.pt").is_file() and meta.get("fingerprint") == fp


def cmd_train(args) -> None:
    profile = load(args.profile)
    refuse_official(profile, args.out)
    cfg = generator_cfg(profile)
    if "train" not in cfg:
        raise ProfileError(f"profile {profile.name!r} has no gjscc.generator.train block")
    schedule = GANSchedule.from_mapping(dict(cfg["train"]))
    device = stage_device(profile)
    fp = training_fingerprint(profile)
    out = Path(args.out)
    if _finished(out, fp):
        print(f"generator: {out / 'generator.pt'} is already trained for this configuration ({fp})")
        return
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    split = write_split(profile, out / "split.json", args.data)
    data = training_images(profile, args.data, int(cfg["size"]))
    seed_everything(stage_seed(int(profile["seed"]), "gjscc/generator"), threads=int(profile["threads"]))
    G = build_generator(profile)
    D = Discriminator(int(cfg["size"]), cfg["channels"])
    run_key = f"gjscc_generator@{fp}"
    with track_run(EXPERIMENT, "train-generator",
                   params={"profile": profile.name, "generator": {k: v for k, v in cfg.items() if k != "projection"},
                           "faces": profile.get("gjscc.data.faces"), "train_images": len(data),
                           "device": str(device)},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256, "split_sha256": split["sha256"]}) as run:
        t0 = time.perf_counter()
        result = train_gan(G, D, data, schedule, out / "checkpoint.pt", fp,
                           on_log=lambda step, m: run.log_metrics(m, step=step), desc="generator",
                           restart_foreign=True, device=device)
        train_s = time.perf_counter() - t0
        G_ema = result.G_ema.cpu()
        weights = out / "generator.pt"
        tmp = weights.with_name(weights.name + ".tmp")
        torch.save(G_ema.state_dict(), tmp)
        os.replace(tmp, weights)
        save_png(contact_sheet(G_ema, SAMPLES, seed=stage_seed(int(profile["seed"]), "gjscc/samples")),
                 out / "samples.png")
        meta = {"kind": "generator", "run_id": run.run_id, "run_key": run_key, "fingerprint": fp,
                "final": result.logs, "steps": schedule.steps, "steps_this_run": result.steps_run,
                "batch_size": schedule.batch_size, "images_seen": schedule.steps * schedule.batch_size,
                "train_images": len(data), "split_sha256": split["sha256"], "device": str(device),
                "threads": torch.get_num_threads(),
                "parameters": {"G": sum(p.numel() for p in G.parameters()),
                               "D": sum(p.numel() for p in D.parameters())},
                # over every run behind the checkpoint; None when it predates that record
                "train_time_s": None if result.train_seconds is None else round(result.train_seconds, 3),
                "train_time_this_run_s": round(train_s, 3),
                "seconds_per_step": (round(result.train_seconds / schedule.steps, 4)
                                     if result.train_seconds is not None else None),
                "wall_time_s": round(time.perf_counter() - started, 3)}
        (out / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        run.log_metrics({"train_time_this_run_s": train_s})
        run.log_artifact(out / "run.json")
        run.log_artifact(out / "samples.png")
    print(f"generator: {result.logs} -> {weights} ({train_s:.0f} s of training)")


# --------------------------------------------------------------------------- convert


def architecture_fingerprint(profile) -> str:
    """The architecture keys of ``gjscc.generator`` a converted file must fit."""
    cfg = generator_cfg(profile)
    blob = json.dumps({k: cfg[k] for k in ("size", "style_dim", "n_mlp", "channels")}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cmd_convert(args) -> None:
    profile = load(args.profile)
    if args.source is not None:
        source, entry = Path(args.source), None
    else:
        source = file_resolver(args.data, allow_unverified=args.allow_unverified)(OFFICIAL_ENTRY)
        entry = OFFICIAL_ENTRY
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such weight file")
    out = Path(args.out)
    started = time.perf_counter()
    digest = sha256_file(source)
    fp = hashlib.sha256(f"{architecture_fingerprint(profile)}:{digest}".encode()).hexdigest()[:16]
    if _finished(out, fp):
        print(f"generator: {out / 'generator.pt'} is already converted from {source} ({fp})")
        return
    G = build_generator(profile)
    converted = convert_weights(source, G)
    weights = save_state_dict(converted.state, out / "generator.pt")
    check = None
    if converted.latent_avg is not None:
        seed = stage_seed(int(profile["seed"]), "gjscc/generator-convert")
        check = {"samples": LATENT_CHECK_SAMPLES, "seed": seed,
                 "relative_error": latent_avg_error(G, converted.latent_avg, LATENT_CHECK_SAMPLES, seed)}
    meta = {"kind": "generator", "source": "converted", "layout": converted.layout, "source_file": str(source),
            "source_sha256": digest, "registry_entry": entry, "fingerprint": fp,
            "run_key": f"gjscc_generator@{fp}", "size": G.size, "n_mlp": G.n_mlp, "style_dim": G.style_dim,
            "dropped_buffers": len(converted.dropped), "latent_avg_check": check,
            "parameters": {"G": sum(p.numel() for p in G.parameters())},
            "wall_time_s": round(time.perf_counter() - started, 3)}
    (out / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    note = (f"; |mean mapping(z) - latent_avg| / |latent_avg| = {check['relative_error']:.4f}" if check else "")
    print(f"generator: {source} ({converted.layout}) -> {weights}{note}")


# --------------------------------------------------------------------------- report


def project(G: Generator, targets: torch.Tensor, steps: int, learning_rate: float, image_size: int,
            latent_samples: int = 4096, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Project ``targets`` (B, 3, image_size, image_size) in [0, 1] onto G: optimise w+ (B, n_latent,
    style_dim) from the mean latent with Adam on MSE + L1 of resize_to(to_unit(G(w+)), image_size),
    noise maps fixed (seeded). Returns (projections in [0, 1], w+, loss per step)."""
    gen = torch.Generator().manual_seed(seed)
    dev = targets.device
    w_mean = G.mean_latent(latent_samples, generator=gen)
    w_plus = G.broadcast(w_mean.expand(len(targets), -1)).clone().requires_grad_(True)
    noise = G.make_noise(len(targets), generator=gen)
    opt = torch.optim.Adam([w_plus], lr=learning_rate, betas=(0.9, 0.999))
    losses = []
    for _ in range(steps):
        img = resize_to(to_unit(G(w_plus, noise)), image_size)
        loss = F.mse_loss(img, targets) + F.l1_loss(img, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        out = resize_to(to_unit(G(w_plus, noise)), image_size)
    return out.to(dev), w_plus.detach(), losses


def cmd_report(args) -> None:
    from matplotlib.figure import Figure

    from jscc_core.results import save_figure
    from jscc_core.tracking import git_state

    profile = load(args.profile)
    cfg = generator_cfg(profile)
    device = stage_device(profile)
    seed_everything(stage_seed(int(profile["seed"]), "gjscc/generator-report"), threads=int(profile["threads"]))
    started = time.perf_counter()
    G = load_generator(profile, args.generator, device)
    image_size = int(profile.get("gjscc.image_size"))
    proj = cfg["projection"]
    out_pdf = Path(args.out)
    stem = out_pdf.with_suffix("")
    sheet = contact_sheet(G, SAMPLES, seed=stage_seed(int(profile["seed"]), "gjscc/samples"))
    save_png(sheet, f"{stem}_samples.png")
    val = face_split(profile, args.data)["val"][: int(proj["images"])]
    targets = torch.from_numpy(val).permute(0, 3, 1, 2).float().div(255).to(device)
    targets = resize_to(targets, image_size)
    t0 = time.perf_counter()
    G.requires_grad_(False)
    projected, _, losses = project(G, targets, int(proj["steps"]), float(proj["learning_rate"]), image_size,
                                   seed=stage_seed(int(profile["seed"]), "gjscc/projection"))
    projection_s = time.perf_counter() - t0
    psnrs = [float(v) for v in psnr(targets.cpu(), projected.cpu())]
    pairs = image_grid(torch.cat([targets.cpu(), projected.cpu()]), nrow=len(targets))
    save_png(pairs, f"{stem}_projection.png")
    meta_path = Path(args.generator).with_name("run.json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    numbers = {"profile": profile.name, "generator": str(args.generator), "generator_run_id": meta.get("run_id"),
               "generator_run_key": meta.get("run_key"), "source": cfg["source"],
               "samples": SAMPLES, "projection": {"images": len(targets), "split": "val", "steps": int(proj["steps"]),
                                                  "learning_rate": float(proj["learning_rate"]),
                                                  "loss": "MSE + L1 on [0, 1] images, w+ only, noise fixed",
                                                  "psnr_db": psnrs, "mean_psnr_db": float(np.mean(psnrs)),
                                                  "final_loss": losses[-1], "seconds": round(projection_s, 3)},
               "train_time_s": meta.get("train_time_s"), "seconds_per_step": meta.get("seconds_per_step"),
               "wall_time_s": round(time.perf_counter() - started, 3), "git": git_state()}
    fig = Figure(figsize=(7.0, 9.6))
    ax1 = fig.add_axes((0.03, 0.30, 0.94, 0.66))
    ax1.imshow(sheet, interpolation="nearest")
    ax1.set_title(f"G_ema samples ({SAMPLES} fixed z, {G.size} px, style {G.style_dim}, "
                  f"{G.n_mlp} mapping layers)", fontsize=8)
    ax1.axis("off")
    ax2 = fig.add_axes((0.03, 0.08, 0.94, 0.18))
    ax2.imshow(pairs, interpolation="nearest")
    ax2.set_title(f"held-out projection: validation faces (top) and G(w+) after {proj['steps']} steps (bottom); "
                  f"mean PSNR {np.mean(psnrs):.2f} dB", fontsize=7)
    ax2.axis("off")
    step = pairs.shape[1] / len(targets)
    for i, value in enumerate(psnrs):
        ax2.text((i + 0.5) * step, pairs.shape[0] + 2, f"{value:.1f} dB", ha="center", va="top", fontsize=6)
    train_note = (f"trained {meta.get('steps')} steps x {meta.get('batch_size')} images on "
                  f"{meta.get('train_images')} training faces in "
                  + (f"{meta['train_time_s']} s" if meta.get("train_time_s") is not None
                     else "a time the checkpoint does not record")
                  if meta else "no run.json beside the weights")
    if meta.get("source") == "converted":
        train_note = (f"converted from {Path(meta['source_file']).name} ({meta['layout']}, "
                      f"sha256 {meta['source_sha256'][:12]})")
    fig.text(0.01, 0.005, f"profile {profile.name}, commit {str(numbers['git'].get('commit'))[:12]}; {train_note}; "
             "projection: Adam on MSE + L1 over w+ from the mean latent, noise maps fixed", fontsize=6)
    provenance = {"profile": {"name": profile.name, "sha256": profile.sha256}, "git": numbers["git"],
                  "seed": profile["seed"], "mlflow_run_ids": [r for r in [meta.get("run_id")] if r],
                  "data_checksums": {"split_sha256": meta.get("split_sha256")}}
    with track_run(EXPERIMENT, "report-generator", params={"profile": profile.name, "projection": dict(proj)},
                   tags={"profile_sha256": profile.sha256, "generator_run_id": meta.get("run_id", "")}) as run:
        run.log_metrics({"projection_mean_psnr_db": float(np.mean(psnrs))})
        numbers["run_id"] = run.run_id
        save_figure(fig, out_pdf, provenance)
        Path(f"{stem}.json").write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n")
        run.log_artifact(out_pdf)
    print(f"generator report: projection PSNR {np.mean(psnrs):.2f} dB on {len(psnrs)} validation faces -> {out_pdf}")


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.gjscc.generator", __doc__)
    add("train", cmd_train, data=True)
    p = add("convert", cmd_convert, data=True)
    p.add_argument("--from", dest="source", default=None,
                   help="official weights (rosinality .pt or NVlabs .pkl); default: registry entry " + OFFICIAL_ENTRY)
    p.add_argument("--allow-unverified", action="store_true",
                   help=f"use registry entry {OFFICIAL_ENTRY} although it has no published checksum")
    p = add("report", cmd_report, data=True)
    p.add_argument("--generator", required=True, help="generator.pt (G's state dict)")
    run_stage(parser, argv, (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    main()
