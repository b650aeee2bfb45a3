"""Where the dgm stages write; light (no model code), so stages, entry points and figures agree."""
from __future__ import annotations

from pipelines.paths import lambda_tag, results_dir


def root(profile) -> str:
    return f"{results_dir(profile)}/dgm"


def model_dir(profile, lam: float) -> str:
    """model.pt (state dict) and run.json of the codec trained at rate-distortion weight ``lam``."""
    return f"{root(profile)}/model_{lambda_tag(lam)}"


def model_files(folder: str) -> tuple[str, str]:
    return f"{folder}/model.pt", f"{folder}/run.json"


def evaluation(profile, name: str) -> tuple[str, str]:
    """(per-image CSV, run JSON) of evaluation ``name``: rd_ours, rd_hevc, trace_ours, trace_hevc."""
    return f"{root(profile)}/{name}.csv", f"{root(profile)}/{name}.json"


BENCHMARK = "reports/benchmarks/resilient.json"


# Fig. 5: every scheme writes its reconstructions of the test faces as one record (pipelines/dgm/fig05_record.py)
FIG05_SCHEMES = ("separation_amc", "separation_stale", "separation_fixed", "deepjscc_mse", "ntscc", "posterior")


def fig05_root(profile) -> str:
    return f"{root(profile)}/fig05"


def fig05_model_dir(profile, name: str) -> str:
    """model.pt and run.json of a model Fig. 5 trains for itself (deepjscc_mse, ntscc_*)."""
    return f"{fig05_root(profile)}/models/{name}"


def fig05_record(profile, scheme: str) -> tuple[str, str]:
    """(reconstructions .npz, accounting .json) of ``scheme`` on the test faces at every SNR."""
    if scheme not in FIG05_SCHEMES:
        raise ValueError(f"unknown Fig. 5 scheme {scheme!r}; one of {FIG05_SCHEMES}")
    return f"{fig05_root(profile)}/{scheme}.npz", f"{fig05_root(profile)}/{scheme}.json"


def fig05_scores(profile) -> tuple[str, str]:
    """(per-image and per-point scores .csv, run .json) of every scheme."""
    return f"{fig05_root(profile)}/scores.csv", f"{fig05_root(profile)}/scores.json"
