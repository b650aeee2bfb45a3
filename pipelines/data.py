"""Data sets as pipeline stages: registry entries copied into data/<name>/ with checked sha256."""
from __future__ import annotations

from jscc_core.registry import entry_checksums
from pipelines.stages import PYTHON, Stage

DATA_ROOT = "data"


def data_files(name: str) -> tuple[str, ...]:
    """The files of registry entry ``name`` under data/ (stage inputs of whatever reads them).

    An entry without a file list (user-supplied, e.g. Open Images) is represented by the list
    of files its fetch found, data/<name>.files.
    """
    files = sorted(entry_checksums(name))
    if not files:
        return (f"{DATA_ROOT}/{name}.files",)
    return tuple(f"{DATA_ROOT}/{name}/{f}" for f in files)


def fetch_stage(name: str) -> Stage:
    """Copy a registry entry into data/<name>/ (from $JSCC_DATA_MIRROR, checking every sha256)."""
    cmd = f"{PYTHON} -m jscc_core.registry fetch {name} --root {DATA_ROOT} -q"
    if not entry_checksums(name):  # user-supplied: nothing to verify against, list what is there
        cmd += f" --allow-unverified --list {DATA_ROOT}/{name}.files"
    return Stage(name=f"data_{name}", cmd=cmd, deps=("packages/core/src/jscc_core/registry.yaml",),
                 outs=data_files(name), mem_mb=500, runtime_min=10)
