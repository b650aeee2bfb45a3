"""Train the resilient codec (g_a, g_s and the dual-head masked transformer) on random crops of
``dgm.train_set`` (never the test set), one model per rate-distortion weight; resumable.

    python -m pipelines.dgm.train --profile mini --data data --lam 0.013 --out results/mini/dgm/model_lam0.013
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from jscc_core.determinism import seed_everything
from jscc_core.images import RandomCrops, load_dataset
from jscc_core.registry import read_checksums
from jscc_core.tracking import track_run
from jscc_core.training import CheckpointError, TrainSchedule, swap_checkpoints, train
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.common import build_codec, write_json
from pipelines.dgm.keys import TRAINING_KEYS, fingerprint
from pipelines.profile import load
from resilient_transport.objective import rd_loss

EXPERIMENT = "dgm"


def cmd_train(args) -> None:
    profile = load(args.profile)
    lam = float(args.lam)
    if lam not in [float(v) for v in profile.get("dgm.lambdas")]:
        raise ValueError(f"--lam {lam} is not one of dgm.lambdas {list(profile.get('dgm.lambdas'))}")
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    name = Path(args.out).name
    train_set = profile.get("dgm.train_set")
    crop = int(profile.get("dgm.crop"))
    loaded = list(load_dataset(train_set, args.data, limit=profile.get("dgm.train_limit")).values())
    images = [im for im in loaded if min(im.shape[:2]) >= crop]  # an image smaller than a crop is left out
    if not images:
        raise ValueError(f"no image of {train_set} is at least dgm.crop = {crop} px on its shorter side")
    crops = RandomCrops(images, crop)
    codec = build_codec(profile)
    schedule = TrainSchedule.from_mapping(dict(profile.get("dgm.schedule")))
    fp = fingerprint(profile, TRAINING_KEYS, lam=lam)
    ckpt = Path("checkpoints") / profile.name / "dgm" / name / "checkpoint.pt"
    moved = swap_checkpoints(ckpt, fp)
    if moved:
        print(moved)
    share = tuple(float(v) for v in profile.get("dgm.mask_share"))
    weight = float(profile.get("dgm.conceal_weight"))

    def loss_fn(model, x):
        return rd_loss(model, x, lam, weight, share)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_key = f"dgm_{name}@{fp}"
    started = time.perf_counter()
    with track_run(EXPERIMENT, f"train-{name}", params={"profile": profile.name, "lambda": lam,
                                                         "schedule": asdict(schedule),
                                                         "codec": dict(profile.get("dgm.codec"))},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        logs = train(codec, loss_fn, crops.sample, schedule, ckpt, fp,
                     on_log=lambda step, m: run.log_metrics(m, step=step), desc=name, restart_foreign=True)
        weights = out / "model.pt"
        tmp = weights.with_name(weights.name + ".tmp")
        torch.save(codec.state_dict(), tmp)
        tmp.replace(weights)
        wall = time.perf_counter() - started
        write_json(out / "run.json", {
            "name": name, "lambda": lam, "final": logs, "run_id": run.run_id, "run_key": run_key, "fingerprint": fp,
            "parameters": sum(p.numel() for p in codec.parameters()), "steps": schedule.steps,
            "batch_size": schedule.batch_size, "crop": crop, "train_set": train_set,
            "train_images": len(images), "smaller_than_crop": len(loaded) - len(images),
            "data_checksums": read_checksums([train_set]),
            "wall_time_s": round(wall, 3), "threads": torch.get_num_threads()})
        run.log_metrics({"seconds": wall})
    print(f"{name}: {logs} -> {weights} ({wall:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.train", __doc__)
    p = add("train", cmd_train, data=True)
    p.add_argument("--lam", required=True, help="rate-distortion weight, one of dgm.lambdas")
    run_stage(parser, argv, (ValueError, FileNotFoundError, CheckpointError))


if __name__ == "__main__":
    main()
