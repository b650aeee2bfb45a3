"""Nonlinear transform source-channel coding (Dai et al., IEEE JSAC 2022).

Sub-packages follow the paper: ``ntscc.banana`` holds the two-dimensional
"banana" source experiments of Section IV-B (Figs. 9 and 10).
"""

__version__ = "0.1.0"
