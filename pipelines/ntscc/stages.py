"""Stages of the NTSCC banana-source experiments (Section IV-B, Figs. 9 and 10)."""
from __future__ import annotations

from jscc_core.profiles import ProfileError
from pipelines.profile import REPO_ROOT, profile_path, results_dir
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
    return next(list(m["eta"]) for m in cfg["ntscc_models"] if m["lmbda"] == lmbda)


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
    pfile = profile_path(profile_ref)
    try:
        pdep = str(pfile.relative_to(REPO_ROOT))
    except ValueError:
        pdep = str(pfile)
    common = (pdep, "pipelines/ntscc/banana.py", "packages/ntscc/src/ntscc", "packages/core/src/jscc_core")
    prof = f"--profile {profile_ref}"
    stages: list[Stage] = []

    ntc_models = []
    for lmbda in ntc_lambdas(cfg):
        out = f"{root}/ntc/{lambda_tag(lmbda)}"
        ntc_models.append(f"{out}/model.pt")
        stages.append(Stage(
            name=f"ntscc_banana_ntc_{lambda_tag(lmbda)}",
            cmd=f"{MODULE} train-ntc {prof} --lmbda {lmbda!r} --out {out}",
            deps=common, outs=(f"{out}/model.pt", f"{out}/run.json"), runtime_min=cfg["ntc"]["runtime_min"]))

    ntscc_models = []
    for lmbda in ntscc_lambdas(cfg):
        tag = lambda_tag(lmbda)
        out = f"{root}/ntscc/{tag}"
        ntscc_models.append(f"{out}/model.pt")
        stages.append(Stage(
            name=f"ntscc_banana_ntscc_{tag}",
            cmd=f"{MODULE} train-ntscc {prof} --lmbda {lmbda!r} --ntc {root}/ntc/{tag}/model.pt --out {out}",
            deps=common + (f"{root}/ntc/{tag}/model.pt",), outs=(f"{out}/model.pt", f"{out}/run.json"),
            runtime_min=cfg["ntscc"]["runtime_min"]))

    djscc_models = []
    for k in cfg["deepjscc_channel_uses"]:
        out = f"{root}/deepjscc/k{k}"
        djscc_models.append(f"{out}/model.pt")
        stages.append(Stage(
            name=f"ntscc_banana_deepjscc_k{k}",
            cmd=f"{MODULE} train-deepjscc {prof} --channel-uses {k} --out {out}",
            deps=common, outs=(f"{out}/model.pt", f"{out}/run.json"), runtime_min=cfg["deepjscc"]["runtime_min"]))

    ev = banana_paths(profile)["eval"]
    stages.append(Stage(
        name="ntscc_banana_evaluate",
        cmd=f"{MODULE} evaluate {prof} --models {root} --out {ev}",
        deps=common + tuple(ntc_models + ntscc_models + djscc_models),
        outs=(f"{ev}/points.csv", f"{ev}/maps.npz", f"{ev}/run.json"), mem_mb=4000, runtime_min=30))
    for fig in ("fig09", "fig10"):
        stages.append(Stage(
            name=f"ntscc_banana_{fig}",
            cmd=f"{MODULE} {fig} {prof} --eval {ev} --out reports/ntscc/{fig}.pdf",
            deps=(pdep, "pipelines/ntscc/banana.py", "pipelines/ntscc/figures.py", "packages/core/src/jscc_core",
                  f"{ev}/points.csv", f"{ev}/maps.npz", f"{ev}/run.json"),
            outs=tuple(f"reports/ntscc/{fig}.{ext}" for ext in ("pdf", "csv", "json")), runtime_min=5))
    return stages
