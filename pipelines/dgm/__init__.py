"""Dai et al. 2024, Deep Generative Modeling Reshapes Compression and Transmission (pipelines/dgm)."""
