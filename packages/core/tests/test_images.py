"""Image data sets from the registry: decoding, corrupt files, tensors and the random-crop sampler."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from jscc_core import registry
from jscc_core.images import (
    RandomCrops,
    dataset_entry,
    load_cifar_subset,
    load_dataset,
    load_entry_images,
    load_folder,
    to_tensor,
    to_uint8,
)

KODAK_PORTRAIT = {"kodim04", "kodim09", "kodim10", "kodim17", "kodim18", "kodim19"}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A data root holding the fetched kodak, natural_train and cifar10_subset entries."""
    root = tmp_path_factory.mktemp("data")
    for name in ("kodak", "natural_train", "cifar10_subset"):
        try:
            registry.fetch(name, root=root, progress=False)
        except registry.DataUnavailableError as exc:
            pytest.skip(f"data mirror lacks {name}: {exc}")
    return root


@pytest.fixture(scope="module")
def kodak(root) -> dict[str, np.ndarray]:
    return load_entry_images("kodak", root)


def test_kodak_loads_24_images_in_either_orientation(kodak):
    assert list(kodak) == [f"kodim{i:02d}" for i in range(1, 25)]
    for name, im in kodak.items():
        assert im.dtype == np.uint8
        assert im.shape == ((768, 512, 3) if name in KODAK_PORTRAIT else (512, 768, 3)), name


def test_natural_train_loads_only_the_images(root):
    folder = root / "natural_train"
    # the mirror's manifest beside the images must be skipped
    shutil.copy(Path(os.environ["JSCC_DATA_MIRROR"]) / "natural_train" / "MANIFEST.csv", folder / "MANIFEST.csv")
    images = load_entry_images("natural_train", root)
    expected = sorted(Path(f).stem for f in registry.entry_checksums("natural_train") if f.endswith(".png"))
    assert len(images) == 251 and list(images) == expected
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images.values())
    assert list(load_entry_images("natural_train", root, limit=3)) == expected[:3]
    assert list(load_folder(folder, ["t91_t9.png", "bsd100_img_001_SRF_2_HR.png"])) == [
        "bsd100_img_001_SRF_2_HR", "t91_t9"]


def test_cifar_subset_splits(root):
    train, test = load_cifar_subset(root, "train"), load_cifar_subset(root, split="test")
    assert train.shape == (4000, 32, 32, 3) and test.shape == (1000, 32, 32, 3)
    assert train.dtype == test.dtype == np.uint8
    with pytest.raises(ValueError, match="split"):
        load_cifar_subset(root, "valid")


def test_load_dataset_reads_cifar_splits_and_image_entries(tmp_path):
    root = tmp_path / "data"
    for name in ("kodak", "cifar10_subset"):
        try:
            registry.fetch(name, root=root, progress=False)
        except registry.DataUnavailableError as exc:
            pytest.skip(f"data mirror lacks {name}: {exc}")
    test = load_dataset("cifar10_test", root)
    assert len(test) == 1000 and list(test)[:2] == ["cifar10_test_0000", "cifar10_test_0001"]
    assert list(test)[-1] == "cifar10_test_0999"
    assert all(im.shape == (32, 32, 3) and im.dtype == np.uint8 for im in test.values())
    first = load_dataset("cifar10_test", root, limit=3)
    assert list(first) == ["cifar10_test_0000", "cifar10_test_0001", "cifar10_test_0002"]
    assert np.array_equal(first["cifar10_test_0002"], load_cifar_subset(root, "test")[2])
    assert list(load_dataset("cifar10_train", root, limit=1)) == ["cifar10_train_0000"]
    assert list(load_dataset("kodak", root, limit=2)) == ["kodim01", "kodim02"]
    assert (dataset_entry("cifar10_test"), dataset_entry("cifar10_train"), dataset_entry("kodak")) == (
        "cifar10_subset", "cifar10_subset", "kodak")
    with pytest.raises(ValueError, match="limit"):
        load_dataset("cifar10_test", root, limit=0)
    # what is missing or damaged is named, with the command that restores it
    with pytest.raises(FileNotFoundError, match="jscc-data fetch cifar10_subset"):
        load_dataset("cifar10_test", tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="jscc-data fetch kodak"):
        load_dataset("kodak", tmp_path / "empty")
    (root / "kodak" / "kodim02.png").write_bytes(b"not a png" * 50)
    with pytest.raises(ValueError, match=r"kodim02\.png.*jscc-data fetch kodak"):
        load_dataset("kodak", root, limit=2)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_png_is_a_value_error_naming_the_file(root, tmp_path, damage):
    shutil.copy(root / "kodak" / "kodim01.png", tmp_path / "kodim01.png")
    good = (root / "kodak" / "kodim02.png").read_bytes()
    bad = b"not a png at all" * 64 if damage == "garbage" else good[: len(good) // 2]
    (tmp_path / "kodim02.png").write_bytes(bad)
    with pytest.raises(ValueError, match="kodim02.png") as exc:
        load_folder(tmp_path)
    assert "jscc-data" not in str(exc.value)  # not a registry entry's folder: no fetch advice
    assert list(load_folder(tmp_path, limit=1)) == ["kodim01"]  # files after the limit are not read


def test_a_missing_folder_says_how_to_fetch_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="jscc-data fetch kodak"):
        load_folder(tmp_path / "kodak")
    with pytest.raises(FileNotFoundError, match="jscc-data fetch kodak"):
        load_entry_images("kodak", tmp_path)
    with pytest.raises(FileNotFoundError, match="jscc-data fetch cifar10_subset"):
        load_cifar_subset(tmp_path)


def test_tensor_round_trip(kodak):
    im = kodak["kodim01"]
    x = to_tensor(im)
    assert x.shape == (1, 3, 512, 768) and x.dtype == torch.float32 and x.is_contiguous()
    assert 0 <= x.min() and x.max() <= 1
    assert np.array_equal(to_uint8(x)[0], im)
    assert to_tensor([im, im]).shape == (2, 3, 512, 768)
    # rounding and clamping
    clamped = to_uint8(torch.tensor([-0.5, 0.6 / 255, 2.0]).view(1, 1, 3).expand(3, 1, 3))
    assert clamped.shape == (1, 3, 3) and clamped[0, :, 0].tolist() == [0, 1, 255]


def test_random_crops_are_reproducible_windows_in_range(kodak):
    images = list(kodak.values())[:4]
    crops = RandomCrops(images, 64)
    torch.manual_seed(3)
    a = crops.sample(16)
    torch.manual_seed(3)
    b = crops(16)
    assert torch.equal(a, b)
    assert a.shape == (16, 3, 64, 64) and a.dtype == torch.float32 and a.is_contiguous()
    assert 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, crops(16))  # the generator moved on


def test_every_offset_and_both_flips_occur():
    image = np.arange(5 * 5 * 3, dtype=np.uint8).reshape(5, 5, 3)
    windows = {}
    for top in range(3):
        for left in range(3):
            w = image[top:top + 3, left:left + 3]
            windows[w.tobytes()] = (top, left, False)
            windows[w[:, ::-1].tobytes()] = (top, left, True)
    torch.manual_seed(0)
    batch = to_uint8(RandomCrops([image], 3).sample(400))
    seen = {windows[c.tobytes()] for c in batch}  # a KeyError would mean a crop that is no window
    assert len(seen) == 18
    torch.manual_seed(0)
    unflipped = {windows[c.tobytes()] for c in to_uint8(RandomCrops([image], 3, flip=False).sample(200))}
    assert {f for _, _, f in unflipped} == {False}


def test_cifar_stack_gives_whole_images_flipped_at_random(root):
    x = load_cifar_subset(root, "test")
    crops = RandomCrops(x, 32)
    torch.manual_seed(1)
    batch = to_uint8(crops.sample(64))
    flipped = 0
    for c in batch:
        match = (x == c).all(axis=(1, 2, 3))
        if not match.any():
            assert (x == c[:, ::-1]).all(axis=(1, 2, 3)).any()
            flipped += 1
    assert 0 < flipped < 64


def test_images_smaller_than_the_crop_are_refused():
    images = [np.zeros((40, 40, 3), np.uint8), np.zeros((40, 20, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"image 1 is 40x20.*crop size 32"):
        RandomCrops(images, 32)
    with pytest.raises(ValueError, match="crop size 33"):
        RandomCrops(np.zeros((2, 32, 32, 3), np.uint8), 33)
    with pytest.raises(ValueError, match="uint8"):
        RandomCrops([np.zeros((40, 40, 3), np.float32)], 32)
