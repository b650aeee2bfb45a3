"""Helpers of the end-to-end pipeline tests: a clean copy of the project and a Snakemake call."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def project_copy(dest: Path) -> Path:
    """The tracked (and not ignored) files of the project, as a fresh clone would have them."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def has_git_checkout() -> bool:
    return shutil.which("git") is not None and (REPO / ".git").exists()


READS = "profile_reads.jsonl"  # what each stage read from the profile ($JSCC_PROFILE_READS)


def snakemake(workdir: Path, profile: str, *targets: str) -> subprocess.CompletedProcess:
    """Run Snakemake on ``targets`` with ``profile``, its own MLflow store, no progress bars, the profile
    keys each stage reads logged to ``workdir/profile_reads.jsonl``; must succeed."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{workdir}/mlruns/mlflow.db", JSCC_PROGRESS="0",
               JSCC_PROFILE_READS=str(workdir / READS))
    env.pop("JSCC_REPO_ROOT", None)
    # targets first: --config takes every following word as a key=value pair
    res = subprocess.run([str(BIN / "snakemake"), *targets, "--cores", "2", "--config", f"profile={profile}"],
                         cwd=workdir, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res


def undeclared_reads(workdir: Path, profile: str) -> dict[str, list[str]]:
    """``{stage: keys}`` for every stage that ran in ``workdir`` and read a profile key it does not
    declare in its ``params`` (a declared key covers the keys inside it); also checks that some
    stages were logged at all."""
    from pipelines.stages import all_stages

    here = os.getcwd()
    os.chdir(workdir)  # profile paths in the commands are relative to the project
    try:
        stages = all_stages(profile)
    finally:
        os.chdir(here)
    by_command = {}
    for st in stages:
        words = st.command("python").split()
        if len(words) > 2 and words[1] == "-m":
            by_command[(words[2], tuple(words[3:]))] = st
    modules = {module for module, _ in by_command}
    # a stage command's reads; the workflow engine's own reads (it builds the stage list) are not a stage's
    lines = [json.loads(x) for x in (workdir / READS).read_text().splitlines() if x.strip()]
    lines = [line for line in lines if line["module"] in modules and line["keys"]]
    assert lines, "no stage logged a profile read"
    bad: dict[str, list[str]] = {}
    for line in lines:
        st = by_command.get((line["module"], tuple(line["argv"])))
        name = st.name if st else f"(no stage) {line['module']} {' '.join(line['argv'])}"
        declared = st.params if st else ()
        missing = [k for k in line["keys"] if not any(k == p or k.startswith(p + ".") for p in declared)]
        if missing:
            bad[name] = missing
    return bad
