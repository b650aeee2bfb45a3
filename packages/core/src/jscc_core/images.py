"""Image data sets for training and testing: registry entries decoded to uint8 RGB arrays.

Data comes through the registry (:mod:`jscc_core.registry`): an entry must have been fetched
into ``<root>/<entry name>/`` (``jscc-data fetch NAME --root ROOT``) before it is loaded here.
Every file of an entry is checked against the registry's sha256 as it is read
(:func:`jscc_core.registry.read_verified`): an edited file is a
:class:`~jscc_core.registry.ModifiedDataError` naming it, and the digests read are what
:func:`jscc_core.registry.read_checksums` reports. Any other folder of images loads the same way,
unchecked (:func:`load_folder`).

Decoding: 8-bit images of any Pillow mode become RGB; 16-bit greyscale (PNG) is scaled to 8 bits
(round(v / 257)), never clipped; an empty, truncated or otherwise undecodable file, or one of an
unsupported mode, is a ValueError naming it.

* :func:`load_folder` / :func:`load_entry_images` -- image files (:data:`IMAGE_SUFFIXES`: PNG,
  JPEG, BMP, PPM, TIFF) as ``{stem: (H, W, 3) uint8}``, in sorted file-name order;
* :func:`load_cifar_subset` -- the CIFAR-10 subset NPZ as ``(N, 32, 32, 3) uint8``;
* :func:`load_dataset` -- a data set by name: a registry entry of image files (``kodak``) or a
  split of the CIFAR-10 subset (``cifar10_train``, ``cifar10_test``), as ``{id: (H, W, 3) uint8}``;
  :func:`dataset_entry` is the registry entry behind the name (checksums, fetch stages);
* :func:`to_tensor` / :func:`to_uint8` -- uint8 ``(…, H, W, 3)`` arrays to float ``(B, 3, H, W)``
  tensors in [0, 1] and back;
* :class:`RandomCrops` -- a training sampler ``sample(batch_size) -> (B, 3, size, size)`` whose
  randomness comes from torch's global generator only, so a checkpoint holding
  ``torch.get_rng_state()`` resumes it exactly.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .registry import entry_checksums, get_entry, load_registry, read_verified

__all__ = [
    "IMAGE_SUFFIXES",
    "load_folder",
    "load_entry_images",
    "load_cifar_subset",
    "CIFAR_SETS",
    "dataset_entry",
    "load_dataset",
    "to_tensor",
    "to_uint8",
    "RandomCrops",
]

#: File suffixes read as images (any case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")
CIFAR_ENTRY = "cifar10_subset"
CIFAR_SPLITS = ("train", "test")
#: Data set names of the CIFAR-10 subset's splits (image ids ``<name>_0000``, ...).
CIFAR_SETS = {"cifar10_train": "train", "cifar10_test": "test"}


def _fetch_hint(name: str, root: Path | None = None) -> str:
    where = f" --root {root}" if root is not None else ""
    return f"run `jscc-data fetch {name}{where}`"


def _restore_hint(folder: Path, action: str) -> str:
    """``"; run `jscc-data fetch NAME ...` <action>"`` if ``folder`` is a registry entry's folder, else ``""``."""
    if folder.name not in load_registry():
        return ""
    return f"; {_fetch_hint(folder.name, folder.parent)} {action}"


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


#: Pillow modes of 16-bit greyscale images (PNG), scaled to 8 bits by :func:`_to_rgb8`.
_MODES_16BIT = ("I;16", "I;16B", "I;16L", "I;16N")
#: Pillow modes converted to RGB as they are (8 bits per sample).
_MODES_8BIT = ("L", "P", "RGBA", "LA", "CMYK", "YCbCr", "1", "PA")


def _to_rgb8(im) -> np.ndarray:
    """A loaded Pillow image as uint8 (H, W, 3) RGB; 16-bit greyscale is scaled by 255/65535, not clipped."""
    if im.mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if im.mode in _MODES_16BIT or (im.mode == "I" and im.format == "PNG"):  # older Pillow: 16-bit PNG as "I"
        v = np.asarray(im).astype(np.float64)
        if v.size and (v.min() < 0 or v.max() > 65535):
            raise ValueError(f"image mode {im.mode!r} holds values outside 0..65535")
        grey = np.round(v / 257).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode not in _MODES_8BIT:
        raise ValueError(f"unsupported image mode {im.mode!r} (8-bit modes and 16-bit greyscale are read)")
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _decode(path: Path, data: bytes | None = None) -> np.ndarray:
    """One image file as a writable uint8 (H, W, 3) RGB array; unreadable files raise ValueError.

    ``data``: the file's bytes when already read (and checked); else the file is read here.
    """
    try:
        from PIL import Image
    except ImportError as exc:  # Pillow decodes every image format
        raise ImportError("decoding images needs Pillow: pip install pillow") from exc
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{path} cannot be read ({exc.__class__.__name__}: {exc.strerror or exc})") from exc
    if not data:
        raise ValueError(f"{path} is empty (0 bytes), not an image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            arr = _to_rgb8(im)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path} is not a readable image ({exc.__class__.__name__}: {exc})") from exc
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{path} decoded to shape {arr.shape}, expected (H, W, 3)")
    return arr


def _check_stems(folder: Path, files: Sequence[str]) -> None:
    """Images are keyed by file stem: two files with one stem (``a.png``, ``a.jpg``) are a ValueError naming both."""
    seen: dict[str, str] = {}
    for name in sorted(files):
        stem = Path(name).stem
        if stem in seen:
            raise ValueError(f"{folder / seen[stem]} and {folder / name} share the stem {stem!r} (images are "
                             "keyed by file stem): keep one of them")
        seen[stem] = name


def load_folder(folder: str | os.PathLike, names: Sequence[str] | None = None,
                limit: int | None = None, *, entry: str | None = None) -> dict[str, np.ndarray]:
    """Decode images of ``folder`` to uint8 RGB (H, W, 3) arrays keyed by file stem, in sorted order.

    ``folder``: a registry entry's folder or any folder of images; ``names``: file names inside
    ``folder`` to load (default: every file there with a suffix of :data:`IMAGE_SUFFIXES`);
    ``limit``: keep only the first ``limit`` files in sorted file-name order; ``entry``: the
    registry entry ``folder`` holds (``<root>/<entry>/``), whose files are then checked against the
    registry's sha256 as they are read (:func:`jscc_core.registry.read_verified`). A missing folder
    or file raises FileNotFoundError; a corrupt or empty file, or two files with the same stem,
    raise ValueError naming them; a file of ``entry`` that differs from the registry a
    :class:`~jscc_core.registry.ModifiedDataError` (also a ValueError). For a registry entry's
    folder the message says how to fetch it again.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist{_restore_hint(folder, 'first')}")
    if names is None:
        files = [p.name for p in folder.iterdir() if p.is_file() and _is_image(p.name)]
    else:
        files = list(names)
    _check_stems(folder, files)
    images: dict[str, np.ndarray] = {}
    for name in sorted(files)[:limit]:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"image {path} is missing{_restore_hint(folder, 'to restore it')}")
        data = read_verified(entry, name, folder.parent) if entry is not None else None
        try:
            images[Path(name).stem] = _decode(path, data)
        except ValueError as exc:
            raise ValueError(f"{exc}{_restore_hint(folder, 'to restore it')}") from None
    return images


def load_entry_images(name: str, root: str | os.PathLike = "data",
                      limit: int | None = None) -> dict[str, np.ndarray]:
    """The image files that registry entry ``name`` lists, decoded from ``<root>/<name>/``.

    ``root``: the data root the entry was fetched into. Other files of the entry (manifests,
    notes) are skipped. Each listed file is checked against the registry's sha256 as it is read.
    A user-supplied entry (no file list, e.g. Open Images) is every image file in the folder, with
    nothing to check. ``limit`` keeps the first ``limit`` images in sorted file-name order.
    """
    files = sorted(f for f in entry_checksums(name) if _is_image(f))
    listed = bool(files)
    if not files and get_entry(name).user_supplied and (Path(root) / name).is_dir():
        files = sorted(p.name for p in (Path(root) / name).iterdir() if p.is_file() and _is_image(p.name))
    if not files:
        raise ValueError(f"registry entry {name!r} lists no image files ({', '.join(IMAGE_SUFFIXES)})")
    folder = Path(root) / name
    if not folder.is_dir():
        raise FileNotFoundError(f"data set {name!r} is not in {folder}; {_fetch_hint(name, Path(root))} first")
    return load_folder(folder, files, limit, entry=name if listed else None)


def load_cifar_subset(root: str | os.PathLike = "data", split: str = "train") -> np.ndarray:
    """The ``split`` images ("train": 4000, "test": 1000) of the CIFAR-10 subset as uint8 (N, 32, 32, 3).

    The NPZ is checked against the registry's sha256 as it is read
    (:class:`~jscc_core.registry.ModifiedDataError` if it differs)."""
    if split not in CIFAR_SPLITS:
        raise ValueError(f"split must be one of {CIFAR_SPLITS}, got {split!r}")
    (filename,) = entry_checksums(CIFAR_ENTRY)
    path = Path(root) / CIFAR_ENTRY / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {_fetch_hint(CIFAR_ENTRY, Path(root))} first")
    data = read_verified(CIFAR_ENTRY, filename, root)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            x = npz[f"x_{split}"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable CIFAR-10 subset ({exc.__class__.__name__}: {exc})") from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise ValueError(f"{path}: x_{split} has dtype {x.dtype} and shape {x.shape}, expected uint8 (N, 32, 32, 3)")
    return x


def dataset_entry(name: str) -> str:
    """The registry entry holding data set ``name`` (``cifar10_test`` -> ``cifar10_subset``)."""
    return CIFAR_ENTRY if name in CIFAR_SETS else name


def load_dataset(name: str, root: str | os.PathLike = "data", limit: int | None = None) -> dict[str, np.ndarray]:
    """Images of data set ``name`` as ``{id: uint8 (H, W, 3)}``, the first ``limit`` only if given.

    A split of the CIFAR-10 subset (:data:`CIFAR_SETS`) has ids ``cifar10_test_0000``, ... in the
    NPZ's order; any other name is a registry entry of image files (:func:`load_entry_images`,
    ids = file stems in sorted order). A missing entry raises FileNotFoundError naming
    ``jscc-data fetch``; an unreadable file raises ValueError naming it.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    if name in CIFAR_SETS:
        x = load_cifar_subset(root, CIFAR_SETS[name])[:limit]
        return {f"{name}_{i:04d}": np.array(im) for i, im in enumerate(x)}
    return load_entry_images(name, root, limit=limit)


def to_tensor(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 images as a float (B, 3, H, W) tensor in [0, 1].

    ``images``: one (H, W, 3) array, a stack (N, H, W, 3) or a list of equal-size (H, W, 3) arrays.
    """
    if isinstance(images, np.ndarray):
        arr = images[None] if images.ndim == 3 else images
    else:
        if len(images) == 0:
            raise ValueError("to_tensor got no images")
        shapes = {np.shape(im) for im in images}
        if len(shapes) > 1:
            raise ValueError(f"images differ in shape ({sorted(shapes)}); convert them one at a time")
        arr = np.stack(images)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {arr.dtype}")
    if arr.ndim != 4 or arr.shape[3] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) images, got shape {arr.shape}")
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    return t.to(torch.float32, memory_format=torch.contiguous_format).div_(255)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """A float image tensor in [0, 1] as uint8 images, rounded and clamped.

    ``tensor``: (B, 3, H, W) or (3, H, W); the result is (B, H, W, 3) or (H, W, 3).
    """
    if tensor.ndim not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"expected a (B, 3, H, W) or (3, H, W) tensor, got shape {tuple(tensor.shape)}")
    x = tensor.detach().to("cpu", torch.float32).mul(255).round_().clamp_(0, 255).to(torch.uint8)
    return np.ascontiguousarray(x.movedim(-3, -1).numpy())


class RandomCrops:
    """Random ``size`` x ``size`` crops (and horizontal flips) of uint8 images, as training batches.

    ``images``: a sequence of uint8 (H, W, 3) arrays of any sizes, or a stacked uint8
    (N, H, W, 3) array such as the CIFAR subset (``size`` = 32 then gives whole images, only
    flipped at random). Images stay uint8; only the sampled crops are converted to float.

    Each :meth:`sample` call draws, from torch's global generator and in this order, the
    image indices, the crop offsets and (if ``flip``) the flips, using the same number of
    draws for a given batch size, so the generator state saved in a training checkpoint
    reproduces every later batch.
    """

    def __init__(self, images: Sequence[np.ndarray] | np.ndarray, size: int, flip: bool = True):
        if int(size) != size or size < 1:
            raise ValueError(f"crop size must be a positive integer, got {size}")
        self.size = int(size)
        self.flip = bool(flip)
        if isinstance(images, np.ndarray):
            if images.ndim != 4 or images.shape[3] != 3:
                raise ValueError(f"a stacked image array must be (N, H, W, 3), got shape {images.shape}")
            if images.dtype != np.uint8:
                raise ValueError(f"images must be uint8, got {images.dtype}")
        if len(images) == 0:
            raise ValueError("RandomCrops needs at least one image")
        for i, im in enumerate(images):
            if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
                what = f"{im.dtype} {im.shape}" if isinstance(im, np.ndarray) else type(im).__name__
                raise ValueError(f"image {i} must be a uint8 (H, W, 3) array, got {what}")
            if im.shape[0] < self.size or im.shape[1] < self.size:
                raise ValueError(
                    f"image {i} is {im.shape[0]}x{im.shape[1]} (HxW), smaller than the crop size {self.size}; "
                    "drop it or use a smaller crop")
        self.images = images if isinstance(images, np.ndarray) else list(images)
        # number of valid offsets per image along height and width
        spans = np.array([(im.shape[0] - self.size + 1, im.shape[1] - self.size + 1) for im in images],
                         dtype=np.int64)
        self._spans = torch.from_numpy(spans)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"RandomCrops({len(self)} images, size={self.size}, flip={self.flip})"

    def sample(self, batch_size: int) -> torch.Tensor:
        """A float32 batch (batch_size, 3, size, size) in [0, 1]."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        index = torch.randint(len(self.images), (batch_size,))
        # uniform offsets in [0, span): floor of a float64 uniform times the span
        u = torch.rand(batch_size, 2, dtype=torch.float64)
        spans = self._spans[index]
        offsets = torch.minimum((u * spans).floor_().to(torch.int64), spans - 1)
        flips = torch.rand(batch_size) < 0.5 if self.flip else torch.zeros(batch_size, dtype=torch.bool)
        s = self.size
        out = np.empty((batch_size, s, s, 3), dtype=np.uint8)
        for b, (i, (top, left), f) in enumerate(zip(index.tolist(), offsets.tolist(), flips.tolist())):
            crop = self.images[i][top:top + s, left:left + s]
            out[b] = crop[:, ::-1] if f else crop
        t = torch.from_numpy(out).permute(0, 3, 1, 2)
        return t.to(torch.float32, memory_format=torch.contiguous_format).div_(255)

    __call__ = sample
