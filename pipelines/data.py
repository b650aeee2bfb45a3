"""Data sets as pipeline stages: a registry entry copied whole into data/<entry>/, sha256 checked.

Stages that read a data set depend on its folder (:func:`data_dir`), so DVC hashes one folder
and Snakemake sees one directory output, whatever the number of files.
"""
from __future__ import annotations

from jscc_core.registry import entry_checksums
from pipelines.paths import DATA_ROOT
from pipelines.stage import PYTHON, Stage

REGISTRY_FILE = "packages/core/src/jscc_core/registry.yaml"


def data_dir(name: str) -> str:
    """The folder registry entry ``name`` is fetched into (a stage dependency)."""
    return f"{DATA_ROOT}/{name}"


def fetch_stage(name: str) -> Stage:
    """Copy a registry entry into data/<name>/ (from $JSCC_DATA_MIRROR, checking every sha256).

    An entry without a file list (user-supplied) is taken as it is, and the files found are
    listed in data/<name>.files; listed files without a published checksum are fetched unverified
    (their sha256 is recorded in the folder's stamp)."""
    cmd = f"{PYTHON} -m jscc_core.registry fetch {name} --root {DATA_ROOT} -q"
    outs: tuple[str, ...] = (f"{data_dir(name)}/",)
    sums = entry_checksums(name)
    if not sums:
        cmd += f" --allow-unverified --list {DATA_ROOT}/{name}.files"
        outs += (f"{DATA_ROOT}/{name}.files",)
    elif "unknown" in sums.values():  # listed files without a published checksum (official weights)
        cmd += " --allow-unverified"
    return Stage(name=f"data_{name}", cmd=cmd, deps=(REGISTRY_FILE,), outs=outs, pipeline="data",
                 mem_mb=500, runtime_min=10)
