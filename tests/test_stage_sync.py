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
    lines = subprocess.run([str(BIN / "snakemake"), "--list-rules"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    rules = dict(line.split(" ", 1) if " " in line else (line, "") for line in lines)
    assert set(rules) == {st.name for st in all_stages(params_profile())} | {"all"}
    # each rule says which pipeline defines it, and where
    assert rules["ntscc_banana_fig10"] == "(ntscc: pipelines/ntscc/stages.py)"
    assert rules["separation_kodak_cbr"] == "(separation: pipelines/separation/stages.py)"


@pytest.mark.skipif(not (REPO / ".git").exists() or shutil.which("git") is None, reason="needs a git checkout")
def test_dvc_dag_accepts_the_pipeline():
    res = subprocess.run([str(BIN / "dvc"), "dag", "--md"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "ntscc_banana_fig10" in res.stdout and "ntscc_banana_evaluate" in res.stdout


def test_unknown_config_key_is_refused():
    res = subprocess.run([str(BIN / "snakemake"), "-n", "reports/fig10.pdf", "--config", "profle=paper"], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.strip().splitlines()[-1] == ("snakemake: error: unknown --config key 'profle' (did you mean "
                                                   "profile?); the accepted keys are: profile=NAME_OR_YAML")
    assert "Traceback" not in res.stderr and 'File "' not in res.stderr


def test_snakemake_lint_leaves_only_the_environment_note():
    """The one remaining lint asks for a conda env per rule: every rule runs in the project's pinned
    environment (docs/pipelines.md)."""
    out = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=REPO, capture_output=True, text=True)
    text = out.stdout + out.stderr
    lints = {line.strip() for line in text.splitlines() if line.strip().startswith("* ")}
    assert lints == {"* Specify a conda environment or container for each rule.:"}, text[-3000:]


def test_a_rules_params_carry_the_values_of_its_keys():
    """Snakemake's rerun trigger sees a one-key edit in exactly the stages that read the key."""
    from pipelines.profile import load
    from pipelines.stages import params_fingerprint

    stages = {st.name: st for st in all_stages("mini")}
    before, after = load("mini"), load("mini", overrides={"ntscc.banana.maps.noise_draws": 1})
    changed = {name for name, st in stages.items()
               if params_fingerprint(st, before) != params_fingerprint(st, after)}
    assert changed == {"ntscc_banana_evaluate", "ntscc_banana_fig09", "ntscc_banana_fig10"}
