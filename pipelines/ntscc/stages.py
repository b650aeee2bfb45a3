"""Stages of the NTSCC banana-source experiments (Section IV-B, Figs. 9 and 10)."""
from __future__ import annotations

from jscc_core.profiles import ProfileError
from pipelines.profile import profile_dep, results_dir
from pipelines.stages import PYTHON, Stage

MODULE = f"{PYTHON} -m pipelines.ntscc.banana"


def lambda_tag(lmbda: float) -> str:
    """A file-name tag for a Lagrange multiplier, exact and readable: 1/256 -> 'lam0.00390625'."""
    return f"lam{lmbda!r}"


def banana_paths(profile) -> dict[str, str]:
    root = f"{results_dir(profile)}/ntscc/banana"
    return {"root": root, "eval": f"{root}/eval"}


def ntscc_lambdas(cfg) -> list[float]:
    """The Lagrange multipliers of the NTSCC models, in profile order."""
    return [m["lmbda"] for m in cfg["ntscc_models"]]


def ntscc_etas(cfg, lmbda: float) -> list[float]:
    """The scaling factors eta swept for the NTSCC model trained with ``lmbda``."""
    for model in cfg["ntscc_models"]:
        if model["lmbda"] == lmbda:
            return list(model["eta"])
    raise ProfileError(f"lmbda = {lmbda!r} is not in ntscc.banana.ntscc_models {ntscc_lambdas(cfg)}")


def ntc_lambdas(cfg) -> list[float]:
    """Every NTC model to train: the NTSCC pretraining points and the NTC + capacity curve."""
    return sorted(set(ntscc_lambdas(cfg)) | set(cfg["ntc_capacity_lambdas"]), reverse=True)


def check_banana(profile) -> None:
    """Constraints between keys that the schema cannot express."""
    cfg = profile.get("ntscc.banana")
    where = f"profile {profile.name!r}: ntscc.banana"
    lambdas = ntscc_lambdas(cfg)
    if len(set(lambdas)) != len(lambdas):
        raise ProfileError(f"{where}.ntscc_models lists a lmbda twice: {lambdas}")
    if cfg["maps"]["lmbda"] not in lambdas:
        raise ProfileError(f"{where}.maps.lmbda = {cfg['maps']['lmbda']} is not the lmbda of one of "
                           f"ntscc.banana.ntscc_models {lambdas}")
    values = list(cfg["rate_values"])
    if values != sorted(set(values)):
        raise ProfileError(f"{where}.rate_values must be strictly increasing, got {values}")


def banana_stages(profile, profile_ref: str) -> list[Stage]:
    check_banana(profile)
    cfg = profile.get("ntscc.banana")
    root = banana_paths(profile)["root"]
    pdep = profile_dep(profile_ref)
    prof = f"--profile {profile_ref}"
    # Code each stage's numbers depend on (tracking and provenance code is left out on purpose,
    # so editing it does not retrain models).
    core = "packages/core/src/jscc_core"
    train_code = (pdep, "pipelines/ntscc/banana.py", "packages/ntscc/src/ntscc/banana", "packages/ntscc/src/ntscc/rate.py",
                  "packages/ntscc/src/ntscc/training.py", f"{core}/channels.py", f"{core}/determinism.py")
    stages: list[Stage] = []
    models: list[str] = []

    def train(kind: str, tag: str, args: str, extra_deps: tuple[str, ...] = ()) -> None:
        out = f"{root}/{kind}/{tag}"
        models.append(f"{out}/model.pt")
        stages.append(Stage(
            name=f"ntscc_banana_{kind}_{tag}", cmd=f"{MODULE} train-{kind} {prof} {args} --out {out}",
            deps=train_code + extra_deps, outs=(f"{out}/model.pt", f"{out}/run.json"),
            runtime_min=cfg[kind]["runtime_min"]))

    for lmbda in ntc_lambdas(cfg):
        train("ntc", lambda_tag(lmbda), f"--lmbda {lmbda!r}")
    for lmbda in ntscc_lambdas(cfg):  # Algorithm 1 starts from the NTC of the same lambda
        ntc = f"{root}/ntc/{lambda_tag(lmbda)}/model.pt"
        train("ntscc", lambda_tag(lmbda), f"--lmbda {lmbda!r} --ntc {ntc}", (ntc,))
    for k in cfg["deepjscc_channel_uses"]:
        train("deepjscc", f"k{k}", f"--channel-uses {k}")

    ev = banana_paths(profile)["eval"]
    eval_outs = (f"{ev}/points.csv", f"{ev}/maps.npz", f"{ev}/run.json")
    stages.append(Stage(
        name="ntscc_banana_evaluate", cmd=f"{MODULE} evaluate {prof} --models {root} --out {ev}",
        deps=train_code + (f"{core}/capacity.py", f"{core}/metrics.py") + tuple(models),
        outs=eval_outs, mem_mb=4000, runtime_min=30))
    for fig in ("fig09", "fig10"):
        stages.append(Stage(
            name=f"ntscc_banana_{fig}", cmd=f"{MODULE} {fig} {prof} --eval {ev} --out reports/ntscc/{fig}.pdf",
            deps=(pdep, "pipelines/ntscc/banana.py", "pipelines/ntscc/figures.py", f"{core}/results.py") + eval_outs,
            outs=tuple(f"reports/ntscc/{fig}.{ext}" for ext in ("pdf", "csv", "json")), runtime_min=5))
    return stages


def fig12_stages(profile, profile_ref: str) -> list[Stage]:
    """Fig. 12 from the separation sweep it names and the image models' evaluations."""
    from pipelines.separation.stages import bler_tables_needed, separation_paths, sweep_outputs, sweep_schemes

    cfg = profile.get("ntscc.fig12")
    sweeps = profile.get("separation")["sweeps"]
    if cfg["sweep"] not in sweeps:
        raise ProfileError(f"profile {profile.name!r}: ntscc.fig12.sweep = {cfg['sweep']!r} is not a key of "
                           f"separation.sweeps ({', '.join(sweeps)})")
    from pipelines.ntscc.image_stages import fig12_learned_evals

    csv, meta = sweep_outputs(profile, cfg["sweep"])
    bler = separation_paths(profile)["bler"]
    evals = fig12_learned_evals(profile)
    return [Stage(
        name="ntscc_fig12",
        cmd=f"{PYTHON} -m pipelines.ntscc.fig12 --profile {profile_ref} --sweep-csv {csv} --bler-dir {bler} "
            f"--eval {' '.join(evals)} --out reports/ntscc/fig12.pdf",
        deps=(profile_dep(profile_ref), "pipelines/ntscc/fig12.py", "pipelines/ntscc/image_figures.py",
              "packages/core/src/jscc_core/results.py", csv, meta)
        + tuple(evals) + tuple(e.replace(".csv", ".json") for e in evals)
        + bler_tables_needed(profile, sweep_schemes(sweeps[cfg["sweep"]])),
        outs=tuple(f"reports/ntscc/fig12.{ext}" for ext in ("pdf", "csv", "json")), runtime_min=5)]
