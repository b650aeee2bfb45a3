"""GJSCC evaluations: the columns of ``eval.csv``, the methods and data sets by name, and the mean
of each operating point that the figures draw.

``eval.csv`` has one row per image and operating point (method, A's training domain, c_out, SNR,
test set): LPIPS with the VGG (primary) and AlexNet backbones, PSNR and MS-SSIM, the bandwidth
ratio rho = c_out / 1536 in complex channel uses per source dimension.  An InverseJSCC folder's
``eval.csv`` holds, for every image and SNR, the DeepJSCC reconstruction it inverts (method
DeepJSCC) and its own (method InverseJSCC).  ``eval.json`` beside it records the MLflow run, run
key, wall time, data checksums and measures over a whole set of images (FD-VGG16).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.figures.evals import EvalRun, group_points, read_eval

EVAL_COLUMNS = ("method", "model", "domain", "c_out", "rho", "test_set", "dataset", "snr_db", "image_id",
                "lpips_vgg", "lpips_alex", "psnr", "ms_ssim", "seconds", "run_key")
METRICS = ("lpips_vgg", "lpips_alex", "psnr", "ms_ssim")
METHODS = ("DeepJSCC", "InverseJSCC", "GenerativeJSCC")
TEST_SETS = {"test": "test split", "ood": "out-of-distribution"}  # test_set column -> label
DOMAINS = {"faces": "faces", "natural": "natural images"}  # A's training domain -> label

#: Registry entries of the data sets, as the pages name them.
DATASET_NAMES = {"faces_more": "UTKFace", "celeba_hq": "CelebA-HQ", "faces": "CelebA-HQ (64 faces)",
                 "natural_train": "natural_train crops", "imagenet": "ImageNet"}


def dataset_name(entry: str) -> str:
    """A data set's name on a page (``faces_more`` -> UTKFace); an unknown entry is its own name."""
    return DATASET_NAMES.get(entry, entry)


def picture_key(kind: str, snr_db: float) -> str:
    """Name of a pictures.npz array: reconstructions of ``kind`` (``x_hat``: the DeepJSCC or
    GenerativeJSCC output, ``x_star``: InverseJSCC's) at an SNR; ``x`` holds the originals."""
    return f"{kind}_snr{float(snr_db):g}"


def read_gjscc_eval(path: Path | str) -> EvalRun:
    """One ``eval.csv`` (and ``eval.json``) of a GJSCC evaluation: the columns above, known methods."""
    return read_eval(path, EVAL_COLUMNS, {"method": METHODS, "test_set": tuple(TEST_SETS),
                                          "domain": tuple(DOMAINS)})


@dataclass(frozen=True)
class Point:
    """Means over the images of one (method, domain, c_out, test set, SNR); ``std`` per metric."""

    method: str
    domain: str
    c_out: int
    rho: float
    test_set: str
    dataset: str
    snr_db: float
    n_images: int
    mean: dict
    std: dict
    run_key: str
    image_ids: tuple[str, ...]

    def value(self, metric: str) -> float:
        return self.mean[metric]


def mean_points(runs: Sequence[EvalRun]) -> list[Point]:
    """One :class:`Point` per (method, domain, c_out, test set, SNR) of the evaluations, in order
    of first appearance; an image twice at one point is a ValueError naming both files."""
    by = {"method": str, "domain": str, "c_out": int, "test_set": str, "snr_db": float}
    out = []
    for (method, domain, c_out, test_set, snr), rows in group_points(runs, by).items():
        values = {m: np.array([float(r[m]) for r in rows]) for m in METRICS}
        out.append(Point(method=method, domain=domain, c_out=c_out, rho=float(rows[0]["rho"]), test_set=test_set,
                         dataset=rows[0]["dataset"], snr_db=snr, n_images=len(rows),
                         mean={m: float(v.mean()) for m, v in values.items()},
                         std={m: float(v.std(ddof=1)) if v.size > 1 else 0.0 for m, v in values.items()},
                         run_key=rows[0]["run_key"], image_ids=tuple(r["image_id"] for r in rows)))
    return out


def select(points: Sequence[Point], **match) -> list[Point]:
    """The points whose fields equal ``match`` (e.g. ``method="DeepJSCC", c_out=2``), sorted by SNR."""
    return sorted((p for p in points if all(getattr(p, k) == v for k, v in match.items())), key=lambda p: p.snr_db)
