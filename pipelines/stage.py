"""The stage model shared by every pipeline: one shell command with its inputs, outputs,
profile keys and resources.  The Snakefile turns a stage into a rule and ``dvc.yaml`` into a
DVC stage (see docs/pipelines.md).  Imports nothing from ``pipelines``, so every paper's stage
module can use it without a circle.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PYTHON = "{python}"  # the interpreter: sys.executable for Snakemake, "python" in dvc.yaml
SIDECARS = ("pdf", "csv", "json")  # every figure or table writes these three files


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline.

    name: rule / DVC stage name (non-word characters become ``_``).
    cmd: shell command; ``{python}`` (:data:`PYTHON`) stands for the interpreter.
    deps: files or folders it reads (data folders, code folders or files, upstream outputs).
    outs: files it writes, and folders it writes whole, marked by a trailing ``/`` (``data/kodak/``).
    params: dotted profile keys it reads (``ntscc.images.schedules.ntc``); DVC tracks their values
        (``params:``) and Snakemake reruns the rule when one of them changes.
    pipeline: id of the registry entry the stage comes from (``ntscc``, ``separation``, ``data``).
    threads, mem_mb, runtime_min, gpus: what a cluster executor asks for.
    alone: the stage must run with no other job beside it (timing); Snakemake gives it every core
        of a local run, and one task of its own on a cluster.
    always_run: the stage reads whatever exists when it runs (the scorecard), so it has no
        upstream outputs as dependencies and runs every time it is asked for.
    """

    name: str
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...] = ()
    pipeline: str = ""
    threads: int = 1
    mem_mb: int = 2000
    runtime_min: int = 30
    gpus: int = 0
    alone: bool = False
    always_run: bool = False

    def __post_init__(self):
        object.__setattr__(self, "name", re.sub(r"\W", "_", self.name))
        for field_name in ("deps", "outs", "params"):  # one entry once, in first-seen order
            object.__setattr__(self, field_name, tuple(dict.fromkeys(getattr(self, field_name))))

    @property
    def out_paths(self) -> tuple[str, ...]:
        """``outs`` as paths (folder marks removed)."""
        return tuple(o.rstrip("/") for o in self.outs)

    @property
    def out_folders(self) -> tuple[str, ...]:
        """The outputs that are whole folders."""
        return tuple(o.rstrip("/") for o in self.outs if o.endswith("/"))

    def command(self, python: str) -> str:
        return self.cmd.replace(PYTHON, python)

    def input_files(self, root: Path, produced: frozenset[str] = frozenset()) -> list[str]:
        """``deps`` for Snakemake, which compares files: a source folder becomes its .py, .yaml and
        .json files; a folder another stage writes whole (``produced``, e.g. a data set) stays a
        folder.  DVC hashes folders itself, so dvc.yaml keeps every folder."""
        files: list[str] = []
        for dep in self.deps:
            folder = root / dep
            if folder.is_dir() and dep not in produced:
                files += sorted(str(p.relative_to(root)) for p in folder.rglob("*")
                                if p.suffix in (".py", ".yaml", ".json") and "__pycache__" not in p.parts)
            else:
                files.append(dep)
        return files


def figure_outs(paper: str, figure: str) -> tuple[str, ...]:
    """The three files of a figure or table: ``reports/<paper>/<figure>.{pdf,csv,json}``."""
    return tuple(f"reports/{paper}/{figure}.{ext}" for ext in SIDECARS)
