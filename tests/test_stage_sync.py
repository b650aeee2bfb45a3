"""The Snakefile and dvc.yaml describe the same stages, and both engines accept them."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.stages import all_stages, dvc_yaml, params_profile

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_dvc_yaml_is_generated_from_the_stage_list():
    assert (REPO / "dvc.yaml").read_text() == dvc_yaml(params_profile()), (
        "dvc.yaml is out of date: run `python -m pipelines.stages dvc`")


def test_snakemake_rules_are_the_stage_list():
    out = subprocess.run([str(BIN / "snakemake"), "--list-rules"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    assert set(out) == {st.name for st in all_stages(params_profile())} | {"all"}


@pytest.mark.skipif(not (REPO / ".git").exists() or shutil.which("git") is None, reason="needs a git checkout")
def test_dvc_dag_accepts_the_pipeline():
    res = subprocess.run([str(BIN / "dvc"), "dag", "--md"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "ntscc_banana_fig10" in res.stdout and "ntscc_banana_evaluate" in res.stdout
