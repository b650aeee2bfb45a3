"""Pipelines of the NTSCC paper (Dai et al., IEEE JSAC 2022)."""
