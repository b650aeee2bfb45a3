"""NTSCC on the two-dimensional banana source (Section IV-B, Figs. 9-10)."""

from ntscc.banana.source import BananaSource

__all__ = ["BananaSource"]
