"""The one list of pipeline stages, from which the Snakefile's rules and dvc.yaml are both made.

Every entry of the registry (pipelines/registry.py) contributes its stages; this module adds the
short figure names and the replication scorecard, and writes dvc.yaml.  A test fails if the
dvc.yaml on disk differs from what this list gives, so the two engines cannot drift.

    python -m pipelines.stages list            # every stage, by pipeline, with where it is defined
    python -m pipelines.stages dvc [--check]   # write (or check) dvc.yaml for the profile in params.yaml
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import yaml

from jscc_core.profiles import ProfileError, canonical_json, thaw
from pipelines.profile import REPO_ROOT, load, profile_dep
from pipelines.registry import PIPELINES
from pipelines.stage import PYTHON, SIDECARS, Stage, figure_outs

SCORECARD = ("reports/index.html", "reports/index.md")


def all_stages(profile_ref: str) -> list[Stage]:
    """Every stage of every registered pipeline for the profile named or pointed to by
    ``profile_ref``, then the short figure names and the scorecard."""
    profile = load(profile_ref)
    stages: list[Stage] = []
    for entry in PIPELINES:
        if entry.stages is not None:
            stages += entry.stages(profile, profile_ref)
    stages += alias_stages(stages) + [scorecard_stage(profile_ref)]
    unique: dict[str, Stage] = {}
    for st in stages:  # a data set fetched for several pipelines is one stage
        if st.name in unique and unique[st.name] != st:
            raise ValueError(f"two different stages are named {st.name}")
        unique.setdefault(st.name, st)
    return list(unique.values())


def figure_ids(stages: list[Stage], pipeline_id: str) -> list[str]:
    """The figures and tables (``fig11``, ``table1``) the stages of ``pipeline_id`` write to reports/<id>/."""
    prefix = f"reports/{pipeline_id}/"
    return [o[len(prefix):-4] for st in stages if st.pipeline == pipeline_id
            for o in st.outs if o.startswith(prefix) and o.endswith(".pdf")]


def alias_stages(stages: list[Stage]) -> list[Stage]:
    """reports/figNN.{pdf,csv,json} copied from reports/<paper>/figNN.*, for the one paper with short names."""
    out = []
    for entry in PIPELINES:
        if not entry.short_names:
            continue
        for fig in figure_ids(stages, entry.id):
            src, dst = figure_outs(entry.id, fig), tuple(f"reports/{fig}.{ext}" for ext in SIDECARS)
            out.append(Stage(name=f"alias_{fig}", cmd=" && ".join(f"cp {a} {b}" for a, b in zip(src, dst)),
                             deps=src, outs=dst, pipeline="reports", mem_mb=100, runtime_min=1))
    return out


def alias_targets(stages: list[Stage]) -> list[str]:
    """The short names users may type: reports/figNN.pdf (and .csv, .json)."""
    return [o for st in stages if st.name.startswith("alias_") for o in st.outs]


def scorecard_stage(profile_ref: str) -> Stage:
    """reports/index.html and index.md: what was reproduced, from whatever figure files exist."""
    return Stage(name="scorecard", cmd=f"{PYTHON} -m pipelines.scorecard --profile {profile_ref} --out {SCORECARD[0]}",
                 deps=("pipelines/scorecard",), outs=SCORECARD, pipeline="reports", mem_mb=1000, runtime_min=5,
                 always_run=True)


def reports_state(stages: list[Stage], root: Path) -> str:
    """A digest of what the scorecard reads: every figure file that exists (size, time) and the
    checked-out commit.  As a Snakemake param it reruns the scorecard whenever one of them changed,
    without making the figures its inputs (which would rebuild stale figures first)."""
    h = hashlib.sha256()
    for st in stages:
        if st.always_run:
            continue
        for out in st.out_paths:
            if out.startswith("reports/") and (root / out).is_file():
                info = (root / out).stat()
                h.update(f"{out}:{info.st_size}:{info.st_mtime_ns};".encode())
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    h.update(head.stdout.strip().encode())
    return h.hexdigest()[:16]


def param_values(stage: Stage, profile) -> dict:
    """``{dotted key: value}`` of the profile keys ``stage`` reads, as plain dicts and lists."""
    return {key: thaw(profile.get(key)) for key in stage.params}


def params_fingerprint(stage: Stage, profile) -> str:
    """The values of a stage's parameters as one canonical string (a Snakemake rerun trigger)."""
    return canonical_json(param_values(stage, profile))


def dvc_yaml(profile_ref: str) -> str:
    """dvc.yaml text for ``profile_ref``: folders as dependencies, the profile keys each stage
    reads as its ``params:``.  The profile must be one file (no ``extends``), since DVC reads
    parameter values from that file alone."""
    profile = load(profile_ref)
    if len(profile.sources) > 1:
        chain = " <- ".join(str(p) for p in profile.sources)
        raise ProfileError(f"profile {profile.name!r} extends another ({chain}); DVC reads parameters from one "
                           f"file: write the merged profile with `python -m pipelines.profile flatten {profile_ref} "
                           f"OUT.yaml` and generate dvc.yaml for OUT.yaml")
    params_file = profile_dep(profile_ref)
    stages = {}
    for st in all_stages(profile_ref):
        entry: dict = {"cmd": st.command("python"), "deps": list(st.deps)}
        if st.params:
            entry["params"] = [{params_file: list(st.params)}]
        entry["outs"] = list(st.out_paths)
        if st.always_run:
            entry["always_changed"] = True
        stages[st.name] = entry
    header = (
        f"# Generated by `python -m pipelines.stages dvc` for the profile {params_file} (named in params.yaml);\n"
        "# do not edit by hand (tests/test_stage_sync.py checks it is current).  Stages come from\n"
        "# pipelines/registry.py: `python -m pipelines.stages list` says where each is defined.\n"
    )
    # lists of paths and keys in flow style, one stage a few lines
    return header + yaml.safe_dump({"stages": stages}, sort_keys=False, width=120, default_flow_style=None)


def params_profile() -> str:
    return str(yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["profile"])


SOURCES = {p.id: p.source for p in PIPELINES} | {"data": "pipelines/data.py", "reports": "pipelines/stages.py"}


def stage_source(stage: Stage) -> str:
    """Which pipeline a stage belongs to and the file that defines it: 'ntscc: pipelines/ntscc/stages.py'."""
    return f"{stage.pipeline}: {SOURCES.get(stage.pipeline, 'pipelines/stages.py')}"


def list_stages(profile_ref: str) -> str:
    """The stages grouped by registry entry, each group headed by the file that defines it."""
    stages = all_stages(profile_ref)
    lines = []
    groups = [(p.id, f"{p.title} ({p.source})" if p.stages else p.title) for p in PIPELINES]
    groups += [("data", "data sets (pipelines/data.py)"),
               ("reports", "scorecard and short names (pipelines/stages.py)")]
    for pid, title in groups:
        mine = [st for st in stages if st.pipeline == pid]
        if not mine:
            lines.append(f"# {pid}: {title}: no stages yet")
            continue
        lines.append(f"# {pid}: {title}")
        lines += [f"{st.name}: {' '.join(st.out_paths)}" for st in mine]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile name or YAML path (default: the one in params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("dvc", help="write dvc.yaml")
    gen.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not current")
    sub.add_parser("list", help="list the stages, by pipeline")
    args = parser.parse_args(argv)
    profile_ref = args.profile or params_profile()
    try:
        if args.command == "list":
            print(list_stages(profile_ref))
            return 0
        text = dvc_yaml(profile_ref)
    except ProfileError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    path = REPO_ROOT / "dvc.yaml"
    if args.check:
        if (path.read_text() if path.exists() else "") != text:
            print("dvc.yaml is out of date: run `python -m pipelines.stages dvc`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path.relative_to(REPO_ROOT)} ({text.count(chr(10))} lines, profile {profile_ref})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
