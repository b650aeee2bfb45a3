"""What the dgm commands share: the codec of a profile, the training crops, the test images, the
loss trace, per-image CSV records and the run JSON."""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from jscc_core.images import load_dataset, to_tensor
from jscc_core.packet_loss import LossTrace, time_varying_trace
from jscc_core.registry import read_checksums
from jscc_core.results import atomic_write_bytes
from jscc_core.training import load_weights, weights_digest
from pipelines.dgm import paths
from resilient_transport import ResilientCodec


def build_codec(profile) -> ResilientCodec:
    """The ResilientCodec of ``dgm.codec`` and ``dgm.order``."""
    c, o = profile.get("dgm.codec"), profile.get("dgm.order")
    return ResilientCodec(n=int(c["n"]), m=int(c["m"]), units=int(c["units"]), dim=int(c["dim"]),
                          depth=int(c["depth"]), heads=int(c["heads"]), window=int(c["window"]),
                          components=int(c["components"]), steps=int(o["steps"]), gamma=float(o["gamma"]),
                          max_bound=int(c["max_bound"]))


def load_codec(profile, folder: str | Path) -> tuple[ResilientCodec, dict]:
    """(codec in eval mode, its run.json) from a training stage's folder."""
    model_pt, run_json = (Path(p) for p in paths.model_files(str(folder)))
    if not run_json.is_file():
        raise FileNotFoundError(f"{run_json}: no trained codec; run the dgm_train stage first")
    codec = load_weights(build_codec(profile), model_pt).eval()
    meta = json.loads(run_json.read_text())
    meta["weights_sha256"] = weights_digest(model_pt)
    return codec, meta


def test_images(profile, root: str | Path) -> dict[str, np.ndarray]:
    """{id: uint8 (H, W, 3)} of ``dgm.test_set`` (first ``dgm.test_limit``; ``dgm.test_crop``: a
    centre crop of that side)."""
    images = load_dataset(profile.get("dgm.test_set"), root, limit=profile.get("dgm.test_limit"))
    side = profile.get("dgm.test_crop")
    if side is not None:
        out = {}
        for k, im in images.items():
            h, w = im.shape[:2]
            if min(h, w) < side:
                raise ValueError(f"test image {k} is {h} x {w}, smaller than dgm.test_crop = {side}")
            top, left = (h - side) // 2, (w - side) // 2
            out[k] = np.ascontiguousarray(im[top:top + side, left:left + side])
        images = out
    return images


def as_input(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return to_tensor(image)


def loss_trace(profile, n_images: int, k: int) -> LossTrace:
    """The time-varying Gilbert trace of ``dgm.trace``: per interval, room for every test image to
    send k packets plus up to k parity packets per unit of the largest FEC provisioning (each
    scheme takes its packets in order from the interval's start)."""
    cfg = profile.get("dgm.trace")
    most = max([1.0] + [float(n) for n in profile.get("dgm.fec.provisioning")])
    per_interval = int(n_images * k * (1 + np.ceil(most)))
    return time_varying_trace([tuple(e) for e in cfg["schedule"]], per_interval,
                              seed=np.random.SeedSequence([int(profile["seed"]), 17]),
                              initial_estimate=float(cfg["initial_estimate"]))


def data_checksums(profile) -> dict:
    return read_checksums([profile.get("dgm.test_set")])


def write_rows(path: str | Path, rows: Sequence[dict]) -> None:
    """Per-image records as CSV (columns of the first row)."""
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such evaluation; run its dgm stage first")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_json(path: str | Path, data: dict) -> None:
    atomic_write_bytes(Path(path), (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())
