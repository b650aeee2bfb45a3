"""Natural images for the domain-mismatch A (GJSCC Sec. V-B: DeepJSCC trained on ImageNet, tested
on faces): random square crops of ``gjscc.data.natural``, resized to the face size.

The paper trains on an ImageNet subset at 256 x 256, where an image shows a whole object. The mini
profile has no ImageNet: ``natural_train`` (photographs of a few hundred to a thousand pixels) stands
in, with square crops of a fraction in ``gjscc.data.natural_crop`` of the shorter side, area-resized
to ``gjscc.image_size``, so a crop frames a whole scene or object as an ImageNet picture does rather
than a patch of texture.  The images are split by a seeded permutation with ``gjscc.data.split``'s
fractions: training crops come from the training part only; the validation part gives fixed
centre crops (the plateau rule's validation loss).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jscc_core.determinism import stage_seed
from jscc_core.images import IMAGE_SUFFIXES, load_entry_images, load_folder
from jscc_core.registry import get_entry

Source = np.ndarray | Path  # an image decoded (uint8 (H, W, 3)), or its file, decoded when drawn


def natural_images(profile, root: Path | str) -> dict[str, Source]:
    """The images of ``gjscc.data.natural`` by file stem, in sorted order (the first
    ``gjscc.data.natural_limit`` only, if set): decoded when the registry
    lists the entry's files (natural_train), file paths decoded on demand for a user-supplied set
    (ImageNet: a million pictures do not fit in memory)."""
    entry = str(profile.get("gjscc.data.natural"))
    folder = Path(root) / entry
    user = get_entry(entry).user_supplied
    if not folder.is_dir():
        raise FileNotFoundError(f"natural image set {entry!r} is not in {folder}; run "
                                f"`python -m jscc_core.registry fetch {entry} --root {root}`"
                                + (" after placing the images in the mirror" if user else ""))
    limit = profile.get("gjscc.data.natural_limit")
    if not user:
        return dict(load_entry_images(entry, root, limit=limit))
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise FileNotFoundError(f"natural image set {entry!r} in {folder} holds no image files "
                                f"({', '.join(IMAGE_SUFFIXES)})")
    return {str(p.relative_to(folder).with_suffix("")): p for p in files}


def _decode(source: Source) -> torch.Tensor:
    """uint8 (3, H, W) of an image or its file."""
    if isinstance(source, Path):
        (source,) = load_folder(source.parent, [source.name]).values()
    return torch.from_numpy(np.ascontiguousarray(source)).permute(2, 0, 1)


def natural_split(profile, ids: Sequence[str]) -> dict[str, list[str]]:
    """The natural images' train / val / test parts: a permutation seeded by the profile seed and
    ``gjscc/natural-split``, cut by ``gjscc.data.split``'s fractions (train and val rounded)."""
    fractions = [float(f) for f in profile.get("gjscc.data.split")]
    ids = sorted(ids)
    n = len(ids)
    perm = np.random.default_rng(stage_seed(int(profile["seed"]), "gjscc/natural-split")).permutation(n)
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    if min(n_train, n_val, n - n_train - n_val) < 1:
        raise ValueError(f"{n} natural images are too few for the split {fractions}")
    cut = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    return {k: [ids[i] for i in sorted(v)] for k, v in cut.items()}


def _resize(crop: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, c, c) -> float (3, size, size) in [0, 1], area-averaged (antialiased when not a multiple)."""
    x = crop.float().div(255)[None]
    if crop.shape[-1] % size == 0:
        return F.avg_pool2d(x, crop.shape[-1] // size)[0]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


class NaturalCrops:
    """``sample(batch_size) -> (B, 3, size, size)`` in [0, 1] on ``device``: per sample an image drawn
    uniformly, a square crop whose side is a uniform fraction in ``crop`` of its shorter side at a
    uniform position, a horizontal flip with probability 1/2, area-resized to ``size``.

    Every draw comes from torch's global generator, so a training checkpoint resumes it exactly.
    """

    def __init__(self, images: Sequence[Source], size: int, crop: Sequence[float],
                 device: torch.device | str = "cpu"):
        lo, hi = float(crop[0]), float(crop[1])
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"gjscc.data.natural_crop must be 0 < low <= high <= 1, got {list(crop)}")
        if not images:
            raise ValueError("no natural images to crop")
        self.images = [im if isinstance(im, Path) else _decode(im) for im in images]
        self.size, self.lo, self.hi, self.device = int(size), lo, hi, device
        small = [tuple(im.shape[1:]) for im in self.images if not isinstance(im, Path) and min(im.shape[1:]) < size]
        if small:
            raise ValueError(f"{len(small)} natural images (e.g. {small[0][0]} x {small[0][1]}) are smaller than the "
                             f"{size}-px crops (gjscc.image_size)")

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch_size: int) -> torch.Tensor:
        out = []
        for i in torch.randint(len(self.images), (batch_size,)).tolist():
            im = self.images[i]
            im = _decode(im) if isinstance(im, Path) else im
            h, w = im.shape[1:]
            if min(h, w) < self.size:
                raise ValueError(f"a natural image of {h} x {w} is smaller than the {self.size}-px crops")
            u = torch.rand(4).tolist()
            side = max(self.size, int(round((self.lo + (self.hi - self.lo) * u[0]) * min(h, w))))
            top, left = int(u[1] * (h - side + 1)), int(u[2] * (w - side + 1))
            crop = im[:, top:top + side, left:left + side]
            if u[3] < 0.5:
                crop = crop.flip(-1)
            out.append(_resize(crop, self.size))
        return torch.stack(out).to(self.device)

    def centre_crops(self) -> torch.Tensor:
        """One fixed crop per image: the centred square of the largest fraction, resized: (N, 3, size, size)."""
        out = []
        for im in self.images:
            im = _decode(im) if isinstance(im, Path) else im
            h, w = im.shape[1:]
            side = max(self.size, int(round(self.hi * min(h, w))))
            top, left = (h - side) // 2, (w - side) // 2
            out.append(_resize(im[:, top:top + side, left:left + side], self.size))
        return torch.stack(out)
