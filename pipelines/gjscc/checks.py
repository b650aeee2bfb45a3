"""Constraints between GJSCC profile keys that the schema cannot express; each raises ProfileError
naming the key.  Checked when the stage list is built, so a mistake stops the workflow before any
stage runs."""
from __future__ import annotations

from jscc_core.profiles import ProfileError


def _subset(profile, key: str, of: str) -> None:
    values, allowed = list(profile.get(key)), [float(v) for v in profile.get(of)]
    missing = [v for v in values if float(v) not in allowed]
    if missing:
        raise ProfileError(f"profile {profile.name!r}: {key} = {values} has {missing}, which {of} = "
                           f"{list(profile.get(of))} does not evaluate")


def _within(profile, key: str, of: str) -> None:
    lo, hi = min(profile.get(of)), max(profile.get(of))
    outside = [v for v in profile.get(key) if not lo <= v <= hi]
    if outside:
        raise ProfileError(f"profile {profile.name!r}: {key} has {outside} dB, outside the SNRs A is trained on "
                           f"({of}: {lo:g} to {hi:g} dB); the AF modules were never fed such an SNR")


def check_gjscc(profile) -> None:
    """The figures ask only for what the stages make: the pictured c_out were trained, their SNRs
    evaluated, their faces among those evaluated, and every test SNR inside the training range."""
    name = f"profile {profile.name!r}"
    deep, gen = list(profile.get("gjscc.deepjscc.c_out")), list(profile.get("gjscc.generative.c_out"))
    if profile.get("gjscc.fig07.c_out") not in deep:
        raise ProfileError(f"{name}: gjscc.fig07.c_out = {profile.get('gjscc.fig07.c_out')} is not in "
                           f"gjscc.deepjscc.c_out = {deep}")
    c9 = profile.get("gjscc.fig09.c_out")
    if c9 not in deep or c9 not in gen:
        raise ProfileError(f"{name}: gjscc.fig09.c_out = {c9} must be in gjscc.deepjscc.c_out = {deep} and "
                           f"gjscc.generative.c_out = {gen}")
    missing = [c for c in gen if c not in deep]
    if missing:
        raise ProfileError(f"{name}: gjscc.generative.c_out has {missing}, which gjscc.deepjscc.c_out = {deep} "
                           "lacks (Fig. 8 compares both methods at each rho)")
    _subset(profile, "gjscc.fig07.snr_db", "gjscc.inverse.snr_db")
    _subset(profile, "gjscc.fig09.snr_db", "gjscc.test_snr_db")
    for key, of in (("gjscc.fig07.images", "gjscc.inverse.images"), ("gjscc.fig09.images", "gjscc.data.test_limit")):
        if profile.get(of) is not None and profile.get(key) > profile.get(of):
            raise ProfileError(f"{name}: {key} = {profile.get(key)} pictures more faces than {of} = "
                               f"{profile.get(of)} evaluates")
    for key in ("gjscc.test_snr_db", "gjscc.inverse.snr_db"):
        _within(profile, key, "gjscc.deepjscc.train_snr_db")
