"""The values the NTSCC paper (Dai et al., JSAC 2022) prints, kept as data in paper_values.yaml."""
from __future__ import annotations

from pathlib import Path

from pipelines.figures.paper_values import PaperValues, load_paper_values

VALUES_FILE = Path(__file__).with_name("paper_values.yaml")


def printed_values() -> PaperValues:
    """The paper's printed values (tables I-III, settings of Figs. 10 and 17), each with its source."""
    return load_paper_values(VALUES_FILE)
