"""Where stages write, by name: the path and tag helpers several pipelines read.

Light on purpose (no model or codec imports), so a stage list or a figure can name another
pipeline's outputs without loading its code.
"""
from __future__ import annotations

DATA_ROOT = "data"  # registry entries are fetched into data/<entry>/


def results_dir(profile) -> str:
    """Intermediate results of a profile live under results/<profile name>/ (repo-relative)."""
    return f"results/{profile.name}"


def lambda_tag(lmbda: float) -> str:
    """The one file-name tag of a Lagrange multiplier, exact and readable:
    64.0 -> 'lam64', 1/256 -> 'lam0.00390625' (repr of the float, so no two values share a tag)."""
    value = float(lmbda)
    return f"lam{int(value)}" if value.is_integer() else f"lam{value!r}"


def separation_root(profile) -> str:
    """Folder of the separation baselines' outputs (sweeps and BLER tables)."""
    return f"{results_dir(profile)}/separation"


def bler_dir(profile) -> str:
    """Folder of the measured BLER tables, one JSON per MCS."""
    return f"{separation_root(profile)}/bler"


def sweep_outputs(profile, sweep: str) -> tuple[str, str]:
    """(per-image CSV, run JSON) of the separation sweep ``separation.sweeps.<sweep>``."""
    root = separation_root(profile)
    return f"{root}/{sweep}.csv", f"{root}/{sweep}.json"
