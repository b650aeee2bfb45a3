"""NTSCC's profile blocks beyond the schema: which models a block asks for, and the constraints
between keys that JSON Schema cannot express (each raises ProfileError naming the key)."""
from __future__ import annotations

from jscc_core.profiles import ProfileError
from jscc_core.training import TrainSchedule


def ntscc_lambdas(cfg) -> list[float]:
    """The Lagrange multipliers of the banana NTSCC models (``cfg`` = ``ntscc.banana``), in profile order."""
    return [m["lmbda"] for m in cfg["ntscc_models"]]


def ntscc_etas(cfg, lmbda: float) -> list[float]:
    """The scaling factors eta swept for the banana NTSCC model trained with ``lmbda``."""
    for model in cfg["ntscc_models"]:
        if model["lmbda"] == lmbda:
            return list(model["eta"])
    raise ProfileError(f"lmbda = {lmbda!r} is not in ntscc.banana.ntscc_models {ntscc_lambdas(cfg)}")


def ntc_lambdas(cfg) -> list[float]:
    """Every banana NTC model to train: the NTSCC pretraining points and the NTC + capacity curve."""
    return sorted(set(ntscc_lambdas(cfg)) | set(cfg["ntc_capacity_lambdas"]), reverse=True)


def check_schedules(profile, where: str, schedules) -> None:
    """Every training schedule in ``schedules`` (name -> the profile's block, at dotted key ``where``)
    is one training can run, e.g. ``warmup_steps`` below ``steps`` after a profile's ``extends``
    merge: checked when the stages are planned, not when a training stage starts."""
    for name, block in schedules.items():
        try:
            TrainSchedule.from_mapping(block)
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"profile {profile.name!r}: {where}.{name}: {exc}") from None


def check_banana_models(profile) -> None:
    """``ntscc.banana`` as NTSCC training reads it: distinct lambdas, increasing rate values."""
    cfg = profile.get("ntscc.banana")
    where = f"profile {profile.name!r}: ntscc.banana"
    lambdas = ntscc_lambdas(cfg)
    if len(set(lambdas)) != len(lambdas):
        raise ProfileError(f"{where}.ntscc_models lists a lmbda twice: {lambdas}")
    values = list(cfg["rate_values"])
    if values != sorted(set(values)):
        raise ProfileError(f"{where}.rate_values must be strictly increasing, got {values}")


def check_banana(profile) -> None:
    """All of ``ntscc.banana``: the models (:func:`check_banana_models`) and maps.lmbda one of their lambdas."""
    check_banana_models(profile)
    cfg = profile.get("ntscc.banana")
    lambdas = ntscc_lambdas(cfg)
    if cfg["maps"]["lmbda"] not in lambdas:
        raise ProfileError(f"profile {profile.name!r}: ntscc.banana.maps.lmbda = {cfg['maps']['lmbda']} is not the "
                           f"lmbda of one of ntscc.banana.ntscc_models {lambdas}")


def sweeps_have_lpips(profile) -> bool:
    """Whether the Kodak sweep over CBR measures LPIPS (Figs. 14-16 need it)."""
    return bool(profile.get("separation")["sweeps"].get("kodak_cbr", {}).get("lpips"))


def check_images(profile) -> None:
    """``ntscc.images`` and ``ntscc.cifar`` against each other and the separation sweeps they read."""
    cfg = profile.get("ntscc.images")
    where = f"profile {profile.name!r}: ntscc.images"
    if cfg["ablation"]["lmbda"] not in cfg["lambdas"]:
        raise ProfileError(f"{where}.ablation.lmbda = {cfg['ablation']['lmbda']} is not one of ntscc.images.lambdas "
                           f"{list(cfg['lambdas'])}")
    values = list(cfg["jscc"]["rate_values"])
    if values != sorted(set(values)) or any(v % 2 for v in values):
        raise ProfileError(f"{where}.jscc.rate_values must be even and strictly increasing, got {values}")
    if len(cfg["ms_ssim"]["lambdas"]) != len(cfg["lambdas"]):
        raise ProfileError(f"{where}.ms_ssim.lambdas needs one value per MSE lambda (each MS-SSIM model is "
                           f"fine-tuned from the MSE model at the same position), got "
                           f"{list(cfg['ms_ssim']['lambdas'])} for {list(cfg['lambdas'])}")
    if len(cfg["ntc"]["embed_dims"]) != len(cfg["ntc"]["depths"]):
        raise ProfileError(f"{where}.ntc: embed_dims and depths must have one entry per stage")
    check_fig12_per_snr(profile)
    check_schedules(profile, "ntscc.images.schedules", cfg["schedules"])
    perceptual = cfg.get("perceptual")
    if perceptual is not None:
        missing = [lam for lam in perceptual["lambdas"] if lam not in cfg["lambdas"]]
        if missing:
            raise ProfileError(f"{where}.perceptual.lambdas {missing} are not in ntscc.images.lambdas "
                               f"{list(cfg['lambdas'])}: each perceptual model starts from the MSE model of its lambda")
        if "perceptual" not in cfg["schedules"]:
            raise ProfileError(f"{where}.schedules.perceptual is missing: the perceptual models' schedule")
        if not sweeps_have_lpips(profile):
            raise ProfileError(f"{where}.perceptual: Fig. 14 reads LPIPS from separation.sweeps.kodak_cbr; "
                               "set its lpips: true")
    sweeps = profile.get("separation")["sweeps"]
    if "kodak_cbr" not in sweeps:
        raise ProfileError(f"{where}: Figs. 11 and 17 read the separation sweep 'kodak_cbr', missing from "
                           f"separation.sweeps ({', '.join(sweeps)})")
    cifar = profile.get("ntscc.cifar")
    if cifar is not None:
        check_schedules(profile, "ntscc.cifar.schedules", cifar["schedules"])
        sweep = sweeps.get(cifar["sweep"])
        if sweep is None:
            raise ProfileError(f"profile {profile.name!r}: ntscc.cifar.sweep = {cifar['sweep']!r} is not a separation "
                               f"sweep ({', '.join(sweeps)})")
        if sweep["dataset"] != cifar["test_set"] or sweep.get("limit") != cifar.get("test_limit"):
            raise ProfileError(f"profile {profile.name!r}: separation.sweeps.{cifar['sweep']} must code the images "
                               f"ntscc.cifar tests ({cifar['test_set']}, limit {cifar.get('test_limit')}), got "
                               f"{sweep['dataset']}, limit {sweep.get('limit')}")


def check_fig12_per_snr(profile) -> None:
    """``ntscc.images.fig12_per_snr`` (when set) fine-tunes models the block trains: its lmbda is one of
    ``lambdas``, its c_out one of ``deepjscc.c_out``, and no SNR is listed twice."""
    cfg = profile.get("ntscc.images")
    per = cfg.get("fig12_per_snr")
    if not per:
        return
    where = f"profile {profile.name!r}: ntscc.images.fig12_per_snr"
    if per["lmbda"] not in cfg["lambdas"]:
        raise ProfileError(f"{where}.lmbda = {per['lmbda']} is not one of ntscc.images.lambdas {list(cfg['lambdas'])}")
    if per["c_out"] not in cfg["deepjscc"]["c_out"]:
        raise ProfileError(f"{where}.c_out = {per['c_out']} is not one of ntscc.images.deepjscc.c_out "
                           f"{list(cfg['deepjscc']['c_out'])}")
    if len(set(per["snr_db"])) != len(per["snr_db"]):
        raise ProfileError(f"{where}.snr_db lists an SNR twice: {list(per['snr_db'])}")


def check_fig12(profile) -> None:
    """``ntscc.fig12.sweep`` names a separation sweep."""
    sweeps = profile.get("separation")["sweeps"]
    sweep = profile.get("ntscc.fig12")["sweep"]
    if sweep not in sweeps:
        raise ProfileError(f"profile {profile.name!r}: ntscc.fig12.sweep = {sweep!r} is not a key of "
                           f"separation.sweeps ({', '.join(sweeps)})")
