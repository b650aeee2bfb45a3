"""Training of GJSCC's models (Sec. V-B, V-C): DeepJSCC (the forward operator A) on the face set
or on natural images, and GenerativeJSCC in its two stages.

    python -m pipelines.gjscc.models train-deepjscc --profile mini --split results/mini/gjscc/split.json \\
        --domain faces --c-out 2 --out results/mini/gjscc/deepjscc/faces_c2
    python -m pipelines.gjscc.models train-generative --profile mini --split results/mini/gjscc/split.json \\
        --c-out 2 --stage 1 --generator results/mini/gjscc/generator/generator.pt \\
        --out results/mini/gjscc/generative/c2_stage1
    python -m pipelines.gjscc.models train-generative ... --stage 2 \\
        --init results/mini/gjscc/generative/c2_stage1/model.pt --out results/mini/gjscc/generative/c2

Both minimise d = gamma_1 MSE + gamma_2 LPIPS-VGG (eq. 16) with every image of a batch sent at an
SNR drawn from ``gjscc.deepjscc.train_snr_db`` (the AF modules learn the range). Faces come from
the training part of the recorded split only; natural images as in :mod:`pipelines.gjscc.natural`.
GenerativeJSCC's stage 1 trains everything but P_n (G is frozen throughout); stage 2 starts from
stage 1's weights and trains P_n at the base rate, the rest at ``backbone_lr_ratio`` of it.
With a plateau rule in the schedule (paper profile) the validation loss is d over the validation
part at fixed SNRs and channel draws, every ``epoch_steps`` steps.

A model folder gets model.pt (the state dict; GenerativeJSCC's includes the frozen G) and run.json
(what was trained, from what, MLflow run).  Training state is checkpointed under
checkpoints/<profile>/gjscc/<model>/ (not a declared output), keyed by the values of the profile
keys the run reads (:mod:`pipelines.gjscc.keys`) and the weights it starts from, so an interrupted
stage resumes and a checkpoint of other settings is set aside, never resumed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from generative_jscc.deepjscc import DeepJSCC
from generative_jscc.generative import GenerativeJSCC, stage1_parameters, stage2_param_groups
from generative_jscc.objectives import jscc_loss, mse_lpips
from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.profiles import ProfileError
from jscc_core.registry import RegistryError, sha256_file
from jscc_core.tracking import track_run
from jscc_core.training import (
    CheckpointError,
    TrainSchedule,
    checkpoint_train_seconds,
    load_weights,
    train,
    weights_digest,
)
from pipelines.cli import run_stage, stage_cli
from pipelines.gjscc import paths
from pipelines.gjscc.common import ImageSizeError, as_tensor, lpips, read_run, split_faces, write_json
from pipelines.gjscc.generator import build_generator, load_generator, stage_device
from pipelines.gjscc.keys import (
    DEEPJSCC_MODEL_KEYS,
    DEEPJSCC_TRAINING_KEYS,
    GENERATIVE_MODEL_KEYS,
    GENERATIVE_TRAINING_KEYS,
    key_fingerprint,
    key_values,
)
from pipelines.gjscc.natural import NaturalCrops, natural_images, natural_split
from pipelines.profile import load

EXPERIMENT = "gjscc-models"
KINDS = ("deepjscc", "generative")
MODEL_KEYS = {"deepjscc": DEEPJSCC_MODEL_KEYS, "generative": GENERATIVE_MODEL_KEYS}  # what rebuilds a model


# --------------------------------------------------------------------------- models


def build_deepjscc(profile, c_out: int) -> DeepJSCC:
    """A = DeepJSCC with ``c_out`` channels and the profile's filters and AF bottleneck (random weights)."""
    cfg = profile.get("gjscc.deepjscc")
    return DeepJSCC(int(c_out), filters=int(cfg["filters"]), af_bottleneck=str(cfg["af_bottleneck"]))


def build_generative(profile, c_out: int, generator) -> GenerativeJSCC:
    """GenerativeJSCC with ``c_out`` channels around the frozen ``generator`` (A's filters and AF bottleneck)."""
    cfg = profile.get("gjscc.deepjscc")
    return GenerativeJSCC(int(c_out), int(cfg["filters"]), generator,
                          latent_map=str(profile.get("gjscc.generative.latent_map")),
                          af_bottleneck=str(cfg["af_bottleneck"]), image_size=int(profile.get("gjscc.image_size")))


def load_model(profile, folder: Path | str, device: torch.device) -> tuple[nn.Module, dict]:
    """(model in eval mode on ``device``, run.json) of a trained model folder.  GenerativeJSCC's
    weights include G's, so G is rebuilt from the profile and loaded with them."""
    folder = Path(folder)
    meta = read_run(folder, "model")
    if meta.get("kind") not in KINDS:
        raise ValueError(f"{folder}/run.json is not a GJSCC model (kind {meta.get('kind')!r}, expected one of {KINDS})")
    now = json.loads(json.dumps(key_values(profile, MODEL_KEYS[meta["kind"]])))  # as run.json holds them
    changed = {k: (v, now.get(k)) for k, v in meta.get("model_keys", {}).items() if now.get(k) != v}
    if changed:
        raise ValueError(f"{folder} was trained with " + ", ".join(f"{k} = {a!r}" for k, (a, _) in changed.items())
                         + f"; profile {profile.name!r} has " + ", ".join(f"{b!r}" for _, b in changed.values())
                         + ": retrain it (its gjscc_train_* stage) or use the profile it was trained with")
    if meta["kind"] == "deepjscc":
        model = build_deepjscc(profile, meta["c_out"])
    else:
        model = build_generative(profile, meta["c_out"], build_generator(profile))
    return load_weights(model, folder / "model.pt").to(device).eval(), meta


# --------------------------------------------------------------------------- data


def face_sampler(images: np.ndarray, device: torch.device) -> Callable[[int], torch.Tensor]:
    """``sample(batch_size)``: faces drawn uniformly with replacement (torch's global generator), in [0, 1]."""
    faces = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()

    def sample(batch_size: int) -> torch.Tensor:
        return faces[torch.randint(len(faces), (batch_size,))].to(device).float().div_(255)

    return sample


def training_data(profile, domain: str, args, device: torch.device) -> tuple[Callable[[int], torch.Tensor],
                                                                          torch.Tensor, dict]:
    """(sampler of training batches, validation images (N, 3, S, S) on the CPU, what was used) of ``domain``."""
    size = int(profile.get("gjscc.image_size"))
    if domain == "faces":
        _, train_faces = split_faces(profile, args.split, args.data, "train")
        _, val = split_faces(profile, args.split, args.data, "val")
        return (face_sampler(train_faces, device), as_tensor(val),
                {"train_set": profile.get("gjscc.data.faces"), "train_images": len(train_faces),
                 "split_sha256": sha256_file(args.split)})
    images = natural_images(profile, args.data)
    parts = natural_split(profile, list(images))
    crop = [float(c) for c in profile.get("gjscc.data.natural_crop")]
    train_crops = NaturalCrops([images[i] for i in parts["train"]], size, crop, device)
    val = NaturalCrops([images[i] for i in parts["val"]], size, crop).centre_crops()
    return (train_crops.sample, val,
            {"train_set": profile.get("gjscc.data.natural"), "train_images": len(train_crops), "train_crop": crop})


def validation(images: torch.Tensor, snrs, loss: dict, perceptual, batch_size: int, seed: int,
               device: torch.device) -> Callable[[nn.Module], float]:
    """``validate(model)``: mean d (eq. 16) over ``images``, image i sent at SNR snrs[i mod len], the
    channel drawn from a generator seeded with ``seed``: the same draws every epoch."""
    snr = torch.tensor([float(snrs[i % len(snrs)]) for i in range(len(images))])

    def validate(model: nn.Module) -> float:
        g = torch.Generator(device=device).manual_seed(seed)
        total = 0.0
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device)
            x_hat = model(x, snr[i:i + batch_size].to(device), generator=g)
            total += float(mse_lpips(x, x_hat, perceptual, loss["mse"], loss["lpips"]).sum())
        return total / len(images)

    return validate


# --------------------------------------------------------------------------- training


def train_model(args, profile, *, name: str, kind: str, model: nn.Module, fp: str, data, val_images: torch.Tensor,
                sched_cfg, loss_cfg, perceptual, groups, info: dict, upstream: dict[str, dict],
                snrs: list[float] | None = None) -> None:
    """Train ``model`` with resumable checkpoints; write model.pt and run.json into ``args.out``.

    ``data``: sampler of training batches; ``val_images`` (N, 3, S, S); ``sched_cfg`` / ``loss_cfg``: a
    schedule and an eq. (16) weight block; ``snrs``: the training SNRs (default gjscc.deepjscc.train_snr_db);
    ``info`` and ``upstream`` go into run.json."""
    device = next(model.parameters()).device
    schedule = TrainSchedule.from_mapping(dict(sched_cfg))
    snrs = [float(s) for s in (profile.get("gjscc.deepjscc.train_snr_db") if snrs is None else snrs)]
    loss_fn = jscc_loss(snrs, perceptual, float(loss_cfg["mse"]), float(loss_cfg["lpips"]))
    validate = None
    if schedule.epoch_steps is not None:
        validate = validation(val_images, snrs, dict(loss_cfg), perceptual, schedule.batch_size,
                              stage_seed(int(profile["seed"]), f"gjscc/validate/{name}"), device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = Path("checkpoints") / profile.name / "gjscc" / name / "checkpoint.pt"
    run_key = f"gjscc_{name}@{fp}"
    started = time.perf_counter()
    with track_run(EXPERIMENT, f"train-{name}",
                   params={"profile": profile.name, "kind": kind, **info, "schedule": asdict(schedule),
                           "train_snr_db": snrs, "loss": dict(loss_cfg), "device": str(device)},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        logs = train(model, loss_fn, data, schedule, ckpt, fp, on_log=lambda step, m: run.log_metrics(m, step=step),
                     desc=name, restart_foreign=True, optimizer_groups=groups, validate=validate)
        weights = out / "model.pt"
        tmp = weights.with_name(weights.name + ".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(weights)
        wall = time.perf_counter() - started
        spent = checkpoint_train_seconds(ckpt)
        meta = {"kind": kind, "name": name, **info, "rho": paths.rho(info["c_out"]), "final": logs,
                "model_keys": key_values(profile, MODEL_KEYS[kind]),
                "run_id": run.run_id, "run_key": run_key, "fingerprint": fp, "device": str(device),
                "parameters": sum(p.numel() for n, p in model.named_parameters() if not n.startswith("G.")),
                "steps": schedule.steps, "batch_size": schedule.batch_size, "wall_time_s": round(wall, 3),
                # training seconds over every run behind the checkpoint (None: it predates that record)
                "train_time_s": None if spent is None else round(spent, 3),
                "upstream": upstream}
        write_json(out / "run.json", meta)
        run.log_metrics({"seconds": wall})
        run.log_artifact(out / "run.json")
    print(f"{name}: {logs} -> {weights} ({wall:.0f} s)")


def _upstream(meta: dict | None, path: str) -> dict:
    """How a model another stage made is recorded: its run, run key, time and weights digest."""
    out = {"path": path, "weights_sha256": weights_digest(Path(path))}
    if meta:
        out.update({k: meta[k] for k in ("run_id", "run_key", "wall_time_s", "train_time_s") if k in meta})
        out["upstream"] = meta.get("upstream", {})
    return out


def cmd_train_deepjscc(args) -> None:
    profile = load(args.profile)
    domain, c_out = args.domain, int(args.c_out)
    name = f"deepjscc_{domain}_c{c_out}"
    keys = DEEPJSCC_TRAINING_KEYS[domain]
    split = {"split_sha256": sha256_file(args.split)} if domain == "faces" else {}
    fp = key_fingerprint(profile, keys, kind="deepjscc", domain=domain, c_out=c_out, **split)
    device = stage_device(profile)
    data, val, used = training_data(profile, domain, args, device)
    seed_everything(stage_seed(int(profile["seed"]), f"gjscc/{name}"), threads=int(profile["threads"]))
    model = build_deepjscc(profile, c_out).to(device)
    perceptual = lpips("vgg", args.data, device)
    train_model(args, profile, name=name, kind="deepjscc", model=model, fp=fp, data=data, val_images=val,
           sched_cfg=profile.get("gjscc.deepjscc.schedule"), loss_cfg=profile.get("gjscc.deepjscc.loss"),
           perceptual=perceptual, groups=None, info={"domain": domain, "c_out": c_out, **used}, upstream={})


def cmd_train_generative(args) -> None:
    profile = load(args.profile)
    c_out, stage = int(args.c_out), int(args.stage)
    if (stage == 2) != (args.init is not None):
        raise ValueError("train-generative: stage 2 starts from stage 1's weights (--init), stage 1 from none")
    name = f"generative_c{c_out}" + ("_stage1" if stage == 1 else "")
    cfg = profile.get(f"gjscc.generative.stage{stage}")
    gen_meta_path = Path(args.generator).with_name("run.json")
    gen = _upstream(read_run(gen_meta_path.parent, "generator") if gen_meta_path.is_file() else None, args.generator)
    upstream = {"generator": gen}
    start = {}
    if args.init:
        upstream["stage1"] = _upstream(read_run(Path(args.init).parent, "GenerativeJSCC stage 1"), args.init)
        start = {"init": upstream["stage1"]["weights_sha256"]}
    fp = key_fingerprint(profile, GENERATIVE_TRAINING_KEYS[stage], kind="generative", c_out=c_out, stage=stage,
                         generator=gen["weights_sha256"], split_sha256=sha256_file(args.split), **start)
    device = stage_device(profile)
    data, val, used = training_data(profile, "faces", args, device)
    seed_everything(stage_seed(int(profile["seed"]), f"gjscc/{name}"), threads=int(profile["threads"]))
    G = load_generator(profile, args.generator, device)
    model = build_generative(profile, c_out, G).to(device)
    if args.init:
        load_weights(model, Path(args.init))
        groups = stage2_param_groups(model, float(cfg["backbone_lr_ratio"]))
    else:
        groups = [{"params": stage1_parameters(model), "lr_scale": 1.0}]
    perceptual = lpips("vgg", args.data, device)
    train_model(args, profile, name=name, kind="generative", model=model, fp=fp, data=data, val_images=val,
           sched_cfg=cfg, loss_cfg=profile.get("gjscc.generative.loss"), perceptual=perceptual, groups=groups,
           info={"domain": "faces", "c_out": c_out, "stage": stage, "generator": args.generator, "init": args.init,
                 **used}, upstream=upstream)


# --------------------------------------------------------------------------- command line


USER_ERRORS = (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ImageSizeError, ValueError)


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.gjscc.models", __doc__)
    p = add("train-deepjscc", cmd_train_deepjscc, data=True)
    p.add_argument("--split", required=True, help="split.json of the face set")
    p.add_argument("--domain", choices=paths.DOMAINS, required=True, help="A's training set: faces or natural images")
    p.add_argument("--c-out", type=int, required=True, help="channels of z: rho = c_out / 1536")
    p = add("train-generative", cmd_train_generative, data=True)
    p.add_argument("--split", required=True, help="split.json of the face set")
    p.add_argument("--c-out", type=int, required=True, help="channels of z: rho = c_out / 1536")
    p.add_argument("--stage", type=int, choices=(1, 2), required=True, help="1: P_n frozen; 2: P_n trained")
    p.add_argument("--generator", required=True, help="G's weights (generator.pt)")
    p.add_argument("--init", help="stage 2: stage 1's model.pt")
    run_stage(parser, argv, USER_ERRORS)


if __name__ == "__main__":
    main()
