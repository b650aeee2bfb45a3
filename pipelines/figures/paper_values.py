"""A paper's printed values, read from its data file (e.g. ``pipelines/ntscc/paper_values.yaml``).

The file is YAML::

    paper: Dai et al., "Nonlinear Transform Source-Channel Coding ...", IEEE JSAC, 2022
    full_text: ntscc_jsac2022.txt        # optional: the text the values were read from
    values:                              # groups nest freely; a leaf is a printed value
      table1:
        ntscc:
          kodak:
            bd_cbr_percent: {value: -17.96, source: "Table I, p. 13"}

Every value is a mapping with ``value`` (a number, text, a list, or null where the paper prints
nothing) and ``source`` (where the paper prints it: table or figure, page), and may have a
``note`` (for a null value: why there is none). A value without a source, an unknown key or
an empty group is an error: the figures draw these values as the paper's (``source="paper"``
rows), so each must say where it was read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LEAF_KEYS = ("value", "source", "note")
TOP_KEYS = ("paper", "full_text", "values")


class PaperValuesError(ValueError):
    """A paper values file that does not follow the format (names the file and the key)."""


@dataclass(frozen=True)
class PaperValue:
    """A value as the paper prints it, ``source`` saying where (table or figure, page)."""

    value: Any
    source: str
    note: str = ""


class PaperValues:
    """The printed values of one paper; ``get("table1", "ntscc", "kodak", "bd_cbr_percent")``."""

    def __init__(self, path: Path, paper: str, values: dict):
        self.path, self.paper, self._values = path, paper, values

    def _node(self, keys: tuple[str, ...]) -> Any:
        node: Any = self._values
        for i, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                raise KeyError(f"{self.path}: no value {'.'.join(keys[: i + 1])}")
            node = node[k]
        return node

    def get(self, *keys: str) -> PaperValue:
        """The printed value at ``keys`` (group names, then the value's name)."""
        node = self._node(keys)
        if not isinstance(node, PaperValue):
            raise KeyError(f"{self.path}: {'.'.join(keys)} is a group of values, not a value")
        return node

    def value(self, *keys: str) -> Any:
        """``get(*keys).value``."""
        return self.get(*keys).value

    def names(self, *keys: str) -> list[str]:
        """The names inside the group at ``keys``, in the file's order."""
        node = self._node(keys)
        if not isinstance(node, dict):
            raise KeyError(f"{self.path}: {'.'.join(keys)} is a value, not a group")
        return list(node)


def _scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float, str))


def _parse(node: Any, where: list[str], path: Path) -> Any:
    name = ".".join(where) or "values"
    if not isinstance(node, dict):
        raise PaperValuesError(f"{path}: {name} = {node!r} has no source; write it as "
                               f"{{value: {node!r}, source: \"Table N, p. M\"}}")
    if "value" in node:
        unknown = sorted(set(node) - set(LEAF_KEYS))
        if unknown:
            raise PaperValuesError(f"{path}: {name}: unknown key {unknown[0]!r} (a value has {', '.join(LEAF_KEYS)})")
        source = node.get("source")
        if not isinstance(source, str) or not source.strip():
            raise PaperValuesError(f"{path}: {name} has no source (where the paper prints it: table or figure, page)")
        value = node["value"]
        if not (_scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))):
            raise PaperValuesError(f"{path}: {name}: a value is a number, text, a list of them or null, "
                                   f"got {value!r}")
        note = node.get("note", "")
        if not isinstance(note, str):
            raise PaperValuesError(f"{path}: {name}: note must be text, got {note!r}")
        return PaperValue(value, source.strip(), note)
    if not node:
        raise PaperValuesError(f"{path}: {name} is an empty group")
    out = {}
    for k, v in node.items():
        if not isinstance(k, str):
            raise PaperValuesError(f"{path}: {name}: key {k!r} is not text (quote it)")
        out[k] = _parse(v, where + [k], path)
    return out


def load_paper_values(path: Path | str) -> PaperValues:
    """Read and check a paper values file; PaperValuesError (a ValueError) names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the paper's printed values)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PaperValuesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise PaperValuesError(f"{path}: expected a mapping with keys {', '.join(TOP_KEYS)}")
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise PaperValuesError(f"{path}: unknown top-level key {unknown[0]!r} (expected {', '.join(TOP_KEYS)})")
    paper = doc.get("paper")
    if not isinstance(paper, str) or not paper.strip():
        raise PaperValuesError(f"{path}: 'paper' must name the paper the values are printed in")
    if "values" not in doc:
        raise PaperValuesError(f"{path}: no 'values'")
    return PaperValues(path, paper.strip(), _parse(doc["values"], [], path))
