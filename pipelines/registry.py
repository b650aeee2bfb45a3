"""The registry of pipelines: every paper (and the shared separation baselines) contributes its
stages through one entry here.  Adding a paper is a package under packages/, a folder
pipelines/<id>/ whose stages.py has ``stages(profile, profile_ref)``, and one line below
(docs/pipelines.md walks through it)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.dgm import stages as dgm
from pipelines.gjscc import stages as gjscc
from pipelines.ntscc import stages as ntscc
from pipelines.separation import stages as separation
from pipelines.stage import Stage


@dataclass(frozen=True)
class Pipeline:
    """One registry entry.

    id: folder name under pipelines/ and reports/ (``ntscc``), also the stages' ``pipeline``.
    title: what a reader sees (the paper's citation for a paper).
    stages: ``stages(profile, profile_ref) -> list[Stage]``, or None while the paper has no stages.
    paper: False for shared baselines that reproduce no figure of their own.
    short_names: its figures may be asked for as reports/figNN.pdf (one paper only, so no name is ambiguous).
    builds_on: ids of earlier papers' pipelines whose stages' outputs and code it reuses (the only other
        papers' pipelines it may import; the edges must not form a circle).
    """

    id: str
    title: str
    stages: Callable[..., list[Stage]] | None
    paper: bool = True
    short_names: bool = False
    builds_on: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """Where its stages are defined."""
        return f"pipelines/{self.id}/stages.py"


PIPELINES = (
    Pipeline("separation", "Separation baselines: HEVC-intra + 5G NR LDPC / + capacity", separation.stages,
             paper=False),
    Pipeline("ntscc", "Dai et al., Nonlinear Transform Source-Channel Coding for Semantic Communications, "
                      "IEEE JSAC 2022", ntscc.stages, short_names=True),
    Pipeline("gjscc", "Erdemir, Tung, Dragotti, Gündüz, Generative Joint Source-Channel Coding for Semantic Image "
                      "Transmission, 2022", gjscc.stages),
    Pipeline("dgm", "Dai et al., Deep Generative Modeling Reshapes Compression and Transmission: From Efficiency "
                    "to Resiliency, 2024", dgm.stages,
             builds_on=("gjscc", "ntscc")),  # Fig. 5: gjscc's faces, prior, DeepJSCC, metrics; NTSCC's models
)


def pipeline(pipeline_id: str) -> Pipeline:
    """The registry entry ``pipeline_id``; a ValueError lists the known ids."""
    for p in PIPELINES:
        if p.id == pipeline_id:
            return p
    raise ValueError(f"no pipeline {pipeline_id!r} (known: {', '.join(p.id for p in PIPELINES)})")
