"""Test-wide settings: the data mirror, a throw-away MLflow store, quiet progress bars."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "packages" / "core" / "tests"))  # kodak_images: real Kodak crops for any test


def pytest_configure(config):
    # The shared research data beside the project is the mirror in tests and CI (never copied into git).
    shared = REPO.parent / "shared" / "data"
    if "JSCC_DATA_MIRROR" not in os.environ and shared.is_dir():
        os.environ["JSCC_DATA_MIRROR"] = str(shared)
    os.environ.setdefault("JSCC_PROGRESS", "0")
    os.environ["JSCC_OFFLINE"] = "1"  # tests never reach the internet


@pytest.fixture(autouse=True, scope="session")
def _mlflow_store(tmp_path_factory):
    """Keep test runs out of the project's own MLflow store."""
    if "MLFLOW_TRACKING_URI" not in os.environ:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    yield


@pytest.fixture(scope="module")
def one_thread():
    """Small models, BP decoding and codecs are many short ops: on 2 shared cores extra threads only wait."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(session, config, items):
    """Modules with end-to-end pipeline runs (marked ``slow``) first, in collection order otherwise:
    under ``make test``'s two pytest-xdist workers (``--dist loadfile --no-loadscope-reorder``) the
    longest modules then start at once instead of meeting at the end of the run."""
    slow_modules = {item.module.__name__ for item in items
                    if item.get_closest_marker("slow") is not None and getattr(item, "module", None)}
    items.sort(key=lambda item: getattr(getattr(item, "module", None), "__name__", "") not in slow_modules)
