"""Shared building blocks of the JSCC replications.

Channels (``channels``), metrics (``metrics``), Gaussian capacity (``capacity``),
Bjøntegaard metrics (``bd``), the data and weight registry (``registry``),
validated profiles (``profiles``), the results contract (``results``), MLflow
tracking (``tracking``), determinism (``determinism``) and the digital
separation baselines (``digital``: HEVC-intra and JPEG2000 codecs, rate
control, 5G NR LDPC + QAM).  Modules are imported on use so that
``import jscc_core`` stays light.
"""

__version__ = "0.1.0"
