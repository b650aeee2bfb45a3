"""Every figure and table of the replicated papers is a target of this workflow.

    snakemake reports/fig10.pdf                         # NTSCC Fig. 10, mini profile
    snakemake reports/ntscc/fig09.pdf --config profile=paper
    snakemake -n reports/fig10.pdf --config profile=paper   # dry run (targets before --config)
    snakemake reports/index.html                        # the replication scorecard

Rules are not written here: each comes from one stage of the list in pipelines/stages.py, which
collects the stages every registered pipeline defines (pipelines/registry.py; a rule's name
starts with its pipeline's id, and `python -m pipelines.stages list` prints the file each comes
from).  dvc.yaml is generated from the same list.  Workflow defaults (cores, log printing) live
in profiles/default/config.yaml.

Each rule's `params` carry the values of the profile keys its stage reads, so editing one key
reruns only the rules that read it (Snakemake's params rerun trigger); the profile file itself is
not an input.

`profile` is the only --config key: any other (a typo, a profile key such as seed) is an error,
as is a profile whose name another profile file owns (pipelines/profile.py); each is one line
`snakemake: error: ...` and exit code 2.  A run records its profile file in results/, checkpoints/
and logs/<name>/ before its first job.
"""
import os
import sys

sys.path.insert(0, workflow.basedir)  # the pipelines package lives beside this file

from jscc_core.profiles import ProfileError
from pipelines.profile import REPO_ROOT, check_identity, config_profile, load
from pipelines.stages import alias_targets, all_stages, params_fingerprint, reports_state, stage_source


try:  # a mistake in --config or the profile is one line, not a traceback
    PROFILE = config_profile(config, os.environ)
    PROFILE_DATA = load(PROFILE)
    STAGES = all_stages(PROFILE)
except ProfileError as exc:
    print(f"snakemake: error: {exc}", file=sys.stderr)
    sys.exit(2)
PRODUCED = frozenset(f for st in STAGES for f in st.out_folders)


def _threads(stage):
    """A stage that must run alone takes every core of a local run; on a cluster it is a job of its own."""
    cores = workflow.global_resources.get("_cores")
    if stage.alone and workflow.local_exec and isinstance(cores, int) and cores < 1024:
        return cores
    return stage.threads


rule all:
    input:
        alias_targets(STAGES),


onstart:
    check_identity(PROFILE_DATA, claim=True)  # results/, checkpoints/ and logs/<name> are this profile's
    shell(f"{sys.executable} -m jscc_core.tracking init")


for stage in STAGES:

    rule:
        name:
            stage.name
        input:
            stage.input_files(REPO_ROOT, PRODUCED),
        output:
            [o for o in stage.out_paths if o not in stage.out_folders] + [directory(o) for o in stage.out_folders],
        threads: _threads(stage)
        resources:
            mem_mb=stage.mem_mb,
            runtime=stage.runtime_min,
            gpu=stage.gpus,
        log:
            f"logs/{PROFILE_DATA.name}/{stage.name}.log",
        params:
            cmd=stage.command(sys.executable),  # bound now: the shell directive is read after the loop
            profile_keys=params_fingerprint(stage, PROFILE_DATA),
            reports=reports_state(STAGES, REPO_ROOT) if stage.always_run else "",
        shell:
            "({params.cmd}) 2>&1 | tee {log}"

    workflow.get_rule(stage.name).docstring = stage_source(stage)  # shown by snakemake --list-rules
