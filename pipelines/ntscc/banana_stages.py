"""Stages of NTSCC's banana-source experiments (Section IV-B, Figs. 9 and 10): train every NTC,
NTSCC and deep JSCC model once, evaluate them together, draw the two figures."""
from __future__ import annotations

from pipelines.ntscc.checks import check_banana, check_schedules, ntc_lambdas, ntscc_lambdas
from pipelines.ntscc.paths import banana_root
from pipelines.paths import lambda_tag
from pipelines.stage import PYTHON, Stage, figure_outs

MODULE = f"{PYTHON} -m pipelines.ntscc.banana"
CORE = "packages/core/src/jscc_core"
# Code the numbers depend on (tracking and provenance code left out, so editing it retrains nothing).
TRAIN_CODE = ("pipelines/ntscc/banana.py", "packages/ntscc/src/ntscc/banana", "packages/ntscc/src/ntscc/rate.py",
              f"{CORE}/training.py", f"{CORE}/channels.py", f"{CORE}/determinism.py")
FIGURE_CODE = ("pipelines/figures", "pipelines/ntscc/banana_maps.py", "pipelines/ntscc/paper.py",
               "pipelines/ntscc/paper_values.yaml", f"{CORE}/results.py")
RUN_KEYS = ("seed", "threads")
BANANA = "ntscc.banana"
# Profile keys each kind of training reads besides its schedule ntscc.banana.<kind>.
TRAIN_KEYS = {
    "ntc": ("train_samples", "hidden"),
    "ntscc": ("train_samples", "hidden", "rate_values", "snr_db", "ntscc_models"),
    "deepjscc": ("train_samples", "hidden", "snr_db"),
}
EVAL_KEYS = ("train_samples", "test_samples", "hidden", "rate_values", "snr_db", "ntscc_models", "ntc_capacity_lambdas",
             "deepjscc_channel_uses", "maps")


def _keys(*names: str) -> tuple[str, ...]:
    return tuple(f"{BANANA}.{n}" for n in names)


def stages(profile, profile_ref: str) -> list[Stage]:
    """The banana stages of ``profile`` (``profile_ref``: the name or path passed to commands)."""
    check_banana(profile)
    cfg = profile.get(BANANA)
    check_schedules(profile, BANANA, {k: cfg[k] for k in ("ntc", "ntscc", "deepjscc")})
    root = banana_root(profile)
    prof = f"--profile {profile_ref}"
    out: list[Stage] = []
    models: list[str] = []

    def train(kind: str, tag: str, args: str, upstream: tuple[str, ...] = ()) -> None:
        folder = f"{root}/{kind}/{tag}"
        models.append(f"{folder}/model.pt")
        out.append(Stage(
            name=f"ntscc_banana_{kind}_{tag}", cmd=f"{MODULE} train-{kind} {prof} {args} --out {folder}",
            deps=TRAIN_CODE + upstream, outs=(f"{folder}/model.pt", f"{folder}/run.json"),
            params=RUN_KEYS + _keys(*TRAIN_KEYS[kind], kind), pipeline="ntscc", runtime_min=cfg[kind]["runtime_min"]))

    for lmbda in ntc_lambdas(cfg):
        train("ntc", lambda_tag(lmbda), f"--lmbda {lmbda!r}")
    for lmbda in ntscc_lambdas(cfg):  # Algorithm 1 starts from the NTC of the same lambda
        ntc = f"{root}/ntc/{lambda_tag(lmbda)}/model.pt"
        train("ntscc", lambda_tag(lmbda), f"--lmbda {lmbda!r} --ntc {ntc}", (ntc,))
    for k in cfg["deepjscc_channel_uses"]:
        train("deepjscc", f"k{k}", f"--channel-uses {k}")

    ev = f"{root}/eval"
    eval_outs = (f"{ev}/points.csv", f"{ev}/maps.npz", f"{ev}/run.json")
    out.append(Stage(
        name="ntscc_banana_evaluate", cmd=f"{MODULE} evaluate {prof} --models {root} --out {ev}",
        deps=TRAIN_CODE + (f"{CORE}/capacity.py", f"{CORE}/metrics.py") + tuple(models), outs=eval_outs,
        params=RUN_KEYS + _keys(*EVAL_KEYS), pipeline="ntscc", mem_mb=4000, runtime_min=30))
    for fig in ("fig09", "fig10"):
        out.append(Stage(
            name=f"ntscc_banana_{fig}",
            cmd=f"{PYTHON} -m pipelines.ntscc.{fig} {prof} --eval {ev} --out reports/ntscc/{fig}.pdf",
            deps=(f"pipelines/ntscc/{fig}.py",) + FIGURE_CODE + eval_outs, outs=figure_outs("ntscc", fig),
            params=("seed",) + _keys("snr_db", "maps"), pipeline="ntscc", runtime_min=5))
    return out
