"""Seeding and library versions for reproducible runs.

Results are reproducible for a fixed seed *and* a fixed thread count on the same hardware and
library versions; :func:`seed_everything` pins both, :func:`stage_seed` gives every stage (and
every draw inside one) its own seed derived from the profile seed, and :func:`library_versions`
records the versions for provenance.
"""

from __future__ import annotations

import os
import platform
import random
import zlib
from importlib import metadata

__all__ = ["seed_everything", "stage_seed", "library_versions"]

_CORE_LIBS = ("torch", "numpy", "mlflow")
_OPTIONAL_LIBS = ("compressai", "sionna", "sionna-no-rt", "pillow-heif", "lpips", "torchvision", "scipy",
                  "pytorch-msssim",
                  "bjontegaard", "matplotlib", "jsonschema", "tensorflow")


def seed_everything(seed: int, threads: int | None = None, *, warn_only: bool = False):
    """Seed Python, NumPy and torch, force deterministic torch kernels and return a seeded
    ``torch.Generator`` (CPU) for data loaders and channel noise.

    ``threads`` sets torch's intra-op thread count (pin it for bit-reproducible results).
    Also sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (required by deterministic cuBLAS) and
    ``PYTHONHASHSEED`` (effective for subprocesses only). ``warn_only`` turns errors from ops
    without a deterministic implementation into warnings.
    """
    import numpy as np
    import torch

    seed = int(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if threads is not None:
        torch.set_num_threads(int(threads))
    return torch.Generator().manual_seed(seed)


def stage_seed(base: int, name: str) -> int:
    """The seed of stage (or draw) ``name`` under profile seed ``base``: (base + CRC-32(name)) mod 2^31.

    ``base``: the profile's seed; ``name``: what is seeded, e.g. a stage name ``"ntc_lam64"`` or
    one draw ``"0.2/10.0/kodim01"``. CRC-32 of the UTF-8 name (unlike ``hash``) is the same in
    every process and on every platform, so a stage's seed does not change when others are added.
    """
    return (base + zlib.crc32(name.encode())) % (2**31)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str]:
    """``{"python": ..., "torch": ..., ...}``: core libraries always (``"not installed"`` if
    absent), optional ones (compressai, sionna, lpips, ...) only when installed. Read from
    package metadata, so nothing heavy is imported."""
    out = {"python": platform.python_version()}
    for lib in _CORE_LIBS:
        out[lib] = _version(lib) or "not installed"
    for lib in _OPTIONAL_LIBS:
        v = _version(lib)
        if v is not None:
            out[lib] = v
    return out
