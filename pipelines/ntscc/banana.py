"""Stage entry points for NTSCC's banana-source experiments (Figs. 9 and 10): training and
evaluation; the figures are drawn from the evaluation by ``pipelines.ntscc.fig09`` and ``fig10``.

    python -m pipelines.ntscc.banana train-ntc      --profile mini --lmbda 0.00390625 --out DIR
    python -m pipelines.ntscc.banana train-ntscc    --profile mini --lmbda 0.00390625 --ntc DIR/model.pt --out DIR
    python -m pipelines.ntscc.banana train-deepjscc --profile mini --channel-uses 4 --out DIR
    python -m pipelines.ntscc.banana evaluate       --profile mini --models results/mini/ntscc/banana --out DIR

Training state is checkpointed under checkpoints/<profile>/ (not a declared
output, so an interrupted stage resumes where it stopped when run again).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.profiles import ProfileError, fingerprint
from jscc_core.tracking import track_run
from jscc_core.training import CheckpointError, TrainSchedule, load_weights, train
from ntscc.banana import evaluate as ev
from ntscc.banana.models import NTC, NTSCC, DeepJSCC
from ntscc.banana.objectives import deepjscc_loss, ntc_loss, ntscc_loss
from ntscc.banana.source import BananaSource
from pipelines.cli import run_stage, stage_cli
from pipelines.ntscc.checks import check_banana, check_banana_models, ntc_lambdas, ntscc_etas, ntscc_lambdas
from pipelines.paths import lambda_tag
from pipelines.profile import load as load_profile

EXPERIMENT = "ntscc-banana"


def load(ref: str | None, check=check_banana):
    """The profile, validated against the schema and by ``check`` (the banana constraints the schema
    cannot express, limited to the keys the command reads)."""
    profile = load_profile(ref)
    if check is not None:
        check(profile)
    return profile


def tensor_sha256(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def dataset(profile, split: str) -> torch.Tensor:
    """The fixed training or test set (seeded samples of the banana source)."""
    cfg, seed = profile.get("ntscc.banana"), int(profile["seed"])
    if split == "train":
        return BananaSource().sample(cfg["train_samples"], seed)
    return BananaSource().sample(cfg["test_samples"], seed + 1)


def build(kind: str, cfg: dict, **kw):
    if kind == "ntc":
        return NTC(cfg["hidden"])
    if kind == "ntscc":
        return NTSCC(cfg["rate_values"], cfg["hidden"])
    return DeepJSCC(kw["channel_uses"], cfg["hidden"])


def _train_stage(args, profile, kind: str, make_model, loss_fn, params: dict) -> None:
    """Seed, build the model (after seeding, so its initial weights are reproducible), train, save."""
    cfg = profile.get("ntscc.banana")
    name = f"{kind}_{params['tag']}"
    started = time.perf_counter()
    data = dataset(profile, "train")
    seed_everything(stage_seed(int(profile["seed"]), name), threads=int(profile["threads"]))
    model = make_model()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = Path("checkpoints") / profile.name / "ntscc" / "banana" / out.name / kind / "checkpoint.pt"
    fp = fingerprint(profile, "ntscc.banana", kind, **params)
    run_key = f"ntscc_banana_{kind}_{params['tag']}@{fp}"
    sched = TrainSchedule.from_mapping(cfg[kind])
    with track_run(EXPERIMENT, f"train-{kind}-{params['tag']}",
                   params={"profile": profile.name, "kind": kind, **params, "schedule": asdict(sched)},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        logs = train(model, loss_fn, data, sched, ckpt, fp, on_log=lambda step, m: run.log_metrics(m, step=step),
                     desc=f"{kind} {params['tag']}", restart_foreign=True)
        torch.save(model.state_dict(), out / "model.pt")
        meta = {"kind": kind, "params": params, "final": logs, "run_id": run.run_id, "run_key": run_key,
                "train_sha256": tensor_sha256(data), "wall_time_s": round(time.perf_counter() - started, 3)}
        (out / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        run.log_artifact(out / "run.json")


def cmd_train_ntc(args) -> None:
    profile = load(args.profile, check=None)
    cfg = profile.get("ntscc.banana")
    _train_stage(args, profile, "ntc", lambda: build("ntc", cfg), ntc_loss(args.lmbda),
                 {"lmbda": args.lmbda, "tag": lambda_tag(args.lmbda)})


def cmd_train_ntscc(args) -> None:
    profile = load(args.profile, check=check_banana_models)
    cfg = profile.get("ntscc.banana")

    def make_model():
        model = build("ntscc", cfg)  # f_e, f_d randomly initialised (Algorithm 1, line 2)
        load_weights(model.ntc, Path(args.ntc))  # Algorithm 1, line 1: start from the pretrained NTC
        return model

    etas = ntscc_etas(cfg, args.lmbda)
    loss = ntscc_loss(args.lmbda, cfg["snr_db"], (min(etas), max(etas)))
    _train_stage(args, profile, "ntscc", make_model, loss, {
        "lmbda": args.lmbda, "tag": lambda_tag(args.lmbda), "eta_train": [min(etas), max(etas)],
        "snr_db": cfg["snr_db"]})


def cmd_train_deepjscc(args) -> None:
    profile = load(args.profile, check=None)
    cfg = profile.get("ntscc.banana")
    k = args.channel_uses
    _train_stage(args, profile, "deepjscc", lambda: build("deepjscc", cfg, channel_uses=k),
                 deepjscc_loss(cfg["snr_db"]),
                 {"channel_uses": k, "tag": f"k{k}", "snr_db": cfg["snr_db"]})


def _load_model(kind: str, cfg: dict, path: Path, **kw):
    return load_weights(build(kind, cfg, **kw), path).eval()


def cmd_evaluate(args) -> None:
    from jscc_core.results import ResultRow, write_results_csv

    profile = load(args.profile)
    cfg = profile.get("ntscc.banana")
    root, out = Path(args.models), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    test = dataset(profile, "test")
    snr = float(cfg["snr_db"])
    rows: list[ResultRow] = []
    run_ids: dict[str, str] = {}
    run_keys: dict[str, str] = {}
    train_wall = 0.0

    def model_meta(d: Path) -> str:
        """Record a trained model's MLflow run and return its run key."""
        nonlocal train_wall
        m = json.loads((d / "run.json").read_text())
        run_ids[str(d.relative_to(root))] = m["run_id"]
        run_keys[m["run_key"]] = m["run_id"]
        train_wall += m["wall_time_s"]
        return m["run_key"]

    def row(method, R, sdr, run_id, **extra):
        return ResultRow(figure="fig10", panel="c", method=method, dataset="banana", snr_db=snr,
                         bandwidth_ratio=R, metric="sdr_db", value=sdr, run_id=run_id, source="ours", extra=extra)

    eval_key = f"ntscc_banana_evaluate@{fingerprint(profile, 'ntscc.banana', 'evaluate')}"
    with track_run(EXPERIMENT, "evaluate", params={"profile": profile.name, "snr_db": snr,
                                                   "test_samples": cfg["test_samples"]},
                   tags={"run_key": eval_key, "profile_sha256": profile.sha256}) as run:
        seed = stage_seed(int(profile["seed"]), "evaluate")
        models = {}
        for lmbda in ntc_lambdas(cfg):
            d = root / "ntc" / lambda_tag(lmbda)
            rid = model_meta(d)
            p = ev.ntc_capacity_point(_load_model("ntc", cfg, d / "model.pt"), test, snr)
            rows.append(row("NTC + capacity", p.bandwidth_ratio, p.sdr_db, rid, lmbda=lmbda, bits=p.bits))
        for lmbda in ntscc_lambdas(cfg):
            d = root / "ntscc" / lambda_tag(lmbda)
            rid = model_meta(d)
            models[lmbda] = model = _load_model("ntscc", cfg, d / "model.pt")
            for eta in ntscc_etas(cfg, lmbda):
                seed_everything(seed, threads=int(profile["threads"]))
                p = ev.ntscc_point(model, test, snr, eta)
                rows.append(row("NTSCC", p.bandwidth_ratio, p.sdr_db, rid, lmbda=lmbda, eta=eta, bits=p.bits))
        djscc = {}
        for k in cfg["deepjscc_channel_uses"]:
            d = root / "deepjscc" / f"k{k}"
            rid = model_meta(d)
            djscc[k] = model = _load_model("deepjscc", cfg, d / "model.pt", channel_uses=k)
            seed_everything(seed, threads=int(profile["threads"]))
            p = ev.deepjscc_point(model, test, snr)
            rows.append(row("Deep JSCC", p.bandwidth_ratio, p.sdr_db, rid, channel_uses=k))
        write_results_csv(rows, out / "points.csv")

        # Maps (Figs. 9 and 10(a)(b)) at the paper's Fig. 9 operating point.
        mcfg = cfg["maps"]
        ntscc_model = models[mcfg["lmbda"]]
        grid = ev.Grid.covering(test, mcfg["resolution"])
        seed_everything(seed, threads=int(profile["threads"]))
        k_map = ev.bandwidth_map(ntscc_model, grid, snr, mcfg["eta"])
        r_ntscc = ev.ntscc_point(ntscc_model, test, snr, mcfg["eta"]).bandwidth_ratio
        k_djscc = min(djscc, key=lambda k: (abs(k / 2 - r_ntscc), k))
        seed_everything(seed, threads=int(profile["threads"]))
        maps = {
            "x1": grid.x1.numpy(), "x2": grid.x2.numpy(),
            "source_density": ev.source_density(grid).numpy(),
            "learned_density": ev.learned_density(ntscc_model.ntc, grid).numpy(),
            "bandwidth": k_map.numpy(),
            "sdr_ntscc": ev.sdr_map(ntscc_model, grid, snr, mcfg["noise_draws"], eta=mcfg["eta"]).numpy(),
            "sdr_deepjscc": ev.sdr_map(djscc[k_djscc], grid, snr, mcfg["noise_draws"]).numpy(),
            "ntscc_bandwidth_ratio": np.float64(r_ntscc), "deepjscc_channel_uses": np.int64(k_djscc),
        }
        np.savez_compressed(out / "maps.npz", **maps)
        run.log_metrics({"n_points": len(rows), "ntscc_map_bandwidth_ratio": r_ntscc})
        wall = time.perf_counter() - started
        run_keys[eval_key] = run.run_id
        meta = {"run_id": run.run_id, "run_key": eval_key, "model_run_ids": run_ids, "run_keys": run_keys,
                "test_sha256": tensor_sha256(test), "train_sha256": tensor_sha256(dataset(profile, "train")),
                "wall_time_s": round(wall, 3), "pipeline_wall_time_s": round(wall + train_wall, 3)}
        (out / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        run.log_artifact(out / "points.csv")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.ntscc.banana", __doc__)
    add("train-ntc", cmd_train_ntc).add_argument("--lmbda", type=float, required=True)
    p = add("train-ntscc", cmd_train_ntscc)
    p.add_argument("--lmbda", type=float, required=True)
    p.add_argument("--ntc", required=True, help="pretrained NTC weights (Algorithm 1, line 1)")
    add("train-deepjscc", cmd_train_deepjscc).add_argument("--channel-uses", type=int, required=True)
    add("evaluate", cmd_evaluate).add_argument("--models", required=True)
    run_stage(parser, argv, (ProfileError, CheckpointError))  # a user's mistake: say what, no traceback


if __name__ == "__main__":
    main()
