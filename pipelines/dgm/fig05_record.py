"""What every Fig. 5 scheme hands to the scores stage: its reconstructions of the test faces at every
SNR (one .npz) and its bandwidth accounting (one .json), so that one stage scores all schemes alike.

The .npz holds ``ids`` (N,) face ids, ``snr_db`` (S,) actual channel SNRs, ``images`` uint8
(S, N, H, W, 3) the reconstruction shown for each face, and optionally ``samples`` uint8
(S, N, K, H, W, 3) when a scheme draws K samples per face (posterior sampling).  The .json holds at
least ``scheme``, ``label``, ``source_dims`` (3 H W), ``channel_uses`` (S lists of N complex channel
uses per face, every side bit included) and ``notes``, and may hold ``wall_time_s`` and
``compute_seconds`` (the work behind the record when the stage resumed finished parts, which its wall
time does not show); :func:`write_record` adds ``rho_mean`` and ``rho_max``, and refuses a record over
``max_rho``."""
from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jscc_core.results import atomic_write_bytes
from pipelines.gjscc.common import split_faces


class BandwidthError(ValueError):
    """A scheme spent more channel uses on a face than the figure's bandwidth ratio allows."""


def test_faces(profile, split: str | Path, root: str | Path) -> tuple[list[str], np.ndarray]:
    """(ids, uint8 (N, S, S, 3)): the first ``dgm.fig05.images`` test faces of gjscc's split (all if unset)."""
    limit = profile.get("dgm.fig05.images")
    return split_faces(profile, split, root, "test", None if limit is None else int(limit))


def picture_index(profile, n_faces: int) -> int:
    """Index of the pictured face among the test faces (``dgm.fig05.picture``), checked."""
    i = int(profile.get("dgm.fig05.picture"))
    if not 0 <= i < n_faces:
        raise ValueError(f"dgm.fig05.picture = {i}, but only {n_faces} test faces are evaluated")
    return i


def write_record(npz_path: str | Path, json_path: str | Path, *, ids: Sequence[str], snr_db: Sequence[float],
                 images: np.ndarray, channel_uses: Sequence[Sequence[float]], max_rho: float, meta: dict,
                 samples: np.ndarray | None = None) -> dict:
    """Write a scheme's record (module docstring); returns the JSON written.

    ``images``: uint8 (S, N, H, W, 3); ``channel_uses``: (S, N) complex channel uses per face, side
    information included; ``max_rho``: the budget, raises :class:`BandwidthError` naming the worst face
    if any face exceeds it; ``meta``: the rest of the JSON (``scheme``, ``label``, ``notes``, ...)."""
    images = np.asarray(images)
    s, n = len(snr_db), len(ids)
    if images.dtype != np.uint8 or images.ndim != 5 or images.shape[:2] != (s, n) or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (S={s}, N={n}, H, W, 3), got {images.dtype} {images.shape}")
    if samples is not None and (samples.dtype != np.uint8 or samples.ndim != 6 or samples.shape[:2] != (s, n)):
        raise ValueError(f"samples must be uint8 (S={s}, N={n}, K, H, W, 3), got {samples.dtype} {samples.shape}")
    uses = np.asarray(channel_uses, dtype=np.float64)
    if uses.shape != (s, n):
        raise ValueError(f"channel_uses must be (S={s}, N={n}), got {uses.shape}")
    dims = 3 * images.shape[2] * images.shape[3]
    rho = uses / dims
    if rho.max() > max_rho * (1 + 1e-9):
        j, i = np.unravel_index(int(rho.argmax()), rho.shape)
        raise BandwidthError(f"{meta.get('scheme')}: face {ids[i]} at {snr_db[j]} dB uses {uses[j, i]:g} channel "
                             f"uses, rho {rho[j, i]:.5f} > {max_rho}")
    arrays = {"ids": np.asarray(ids, dtype=str), "snr_db": np.asarray(snr_db, dtype=np.float64), "images": images}
    if samples is not None:
        arrays["samples"] = samples
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(Path(npz_path), buf.getvalue())
    info = {**meta, "source_dims": dims, "channel_uses": uses.tolist(), "max_rho": max_rho,
            "rho_mean": float(rho.mean()), "rho_max": float(rho.max())}
    atomic_write_bytes(Path(json_path), (json.dumps(info, indent=1, allow_nan=True) + "\n").encode())
    return info


def read_record(npz_path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON, arrays) of a record written by :func:`write_record` (the .json beside the .npz)."""
    npz_path = Path(npz_path)
    json_path = npz_path.with_suffix(".json")
    if not npz_path.is_file() or not json_path.is_file():
        raise FileNotFoundError(f"{npz_path}: no Fig. 5 record (or its .json); run its dgm_fig05 stage first")
    info = json.loads(json_path.read_text())
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    missing = {"ids", "snr_db", "images"} - arrays.keys()
    if missing or not math.isfinite(float(info.get("rho_max", math.nan))):
        raise ValueError(f"{npz_path} is not a Fig. 5 record (missing {sorted(missing) or 'rho_max'})")
    return info, arrays
