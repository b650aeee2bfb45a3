"""The CIFAR-10 block of the NTSCC image stages (ntscc.cifar): data, operating points, errors."""
from __future__ import annotations

import pytest
import torch

from jscc_core import registry
from pipelines.ntscc import images
from pipelines.profile import load


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    try:
        registry.fetch("cifar10_subset", root=root, progress=False)
    except registry.DataUnavailableError as exc:
        pytest.skip(f"data mirror lacks cifar10_subset: {exc}")
    return root


@pytest.fixture(scope="module")
def mini():
    return load("mini")


def test_cifar_block_trains_on_the_training_split_and_tests_on_the_first_test_images(mini, root):
    train = images.training_crops(mini, root, "cifar")
    assert isinstance(train, torch.Tensor) and train.shape == (4000, 3, 32, 32)
    assert 0.0 <= float(train.min()) and float(train.max()) <= 1.0
    test = images.test_images(mini, root, "cifar")
    limit = mini.get("ntscc.cifar")["test_limit"]
    assert list(test)[:2] == ["cifar10_test_0000", "cifar10_test_0001"] and len(test) == limit
    assert all(im.shape == (32, 32, 3) for im in test.values())
    assert set(images.data_checksums(mini, "cifar")) == {"cifar10_subset/cifar10_subset.npz"}


def test_cifar_models_fit_32x32_images(mini):
    cfg = images.images_cfg(mini, "cifar")
    ntc = images.ntc_config(cfg)
    assert ntc.stages == 2 and 32 % ntc.multiple == 0  # y is 8 x 8 (4 x 4-pixel patches)
    # no Fig. 12 sweep on CIFAR-10: NTSCC is evaluated at fig11_snr_db for each eta only
    points = images.evaluation_grid(cfg, "ntscc")
    assert points == [(eta, cfg["fig11_snr_db"]) for eta in cfg["eta_test"]]
    assert images.evaluation_grid(cfg, "deepjscc") == [(None, cfg["fig11_snr_db"])]


def test_unknown_block_is_named(mini):
    with pytest.raises(ValueError, match="block must be one of"):
        images.images_cfg(mini, "clic")
