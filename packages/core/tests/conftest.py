"""Fixtures shared by jscc_core's tests."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """BP decoding and codecs are many short ops: on 2 shared cores extra threads only wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
