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
