"""Every figure and table of the replicated papers is a target of this workflow.

    snakemake reports/fig10.pdf                         # NTSCC Fig. 10, mini profile
    snakemake reports/ntscc/fig09.pdf --config profile=paper
    snakemake -n reports/fig10.pdf --config profile=paper   # dry run (targets before --config)

Rules are made from the one stage list in pipelines/stages.py, from which
dvc.yaml is generated too (see CONTRIBUTING.md).  Workflow defaults (cores,
log printing) live in profiles/default/config.yaml.
"""
import os
import sys

sys.path.insert(0, workflow.basedir)  # the pipelines package lives beside this file

from pipelines.profile import load
from pipelines.stages import all_stages, alias_targets

PROFILE = str(config.get("profile") or os.environ.get("JSCC_PROFILE", "mini"))
PROFILE_NAME = load(PROFILE).name
STAGES = all_stages(PROFILE)


rule all:
    input:
        [alias for alias, _ in alias_targets()],


onstart:
    shell(f"{sys.executable} -m jscc_core.tracking init")


for stage in STAGES:

    rule:
        name:
            stage.name
        input:
            stage.input_files(),
        output:
            list(stage.outs),
        threads: stage.threads
        resources:
            mem_mb=stage.mem_mb,
            runtime=stage.runtime_min,
            gpu=stage.gpus,
        log:
            f"logs/{PROFILE_NAME}/{stage.name}.log",
        params:
            cmd=stage.command(sys.executable),  # bound now: the shell directive is read after the loop
        shell:
            "({params.cmd}) 2>&1 | tee {log}"
