"""The HEVC + FEC baseline's bit accounting: the chosen quality is the highest whose k data + r
parity packets, headers included, fit the budget (equal transmitted bits with our scheme)."""
import pytest

from jscc_core.digital.erasure import transmitted_bits
from pipelines.dgm.hevc_fec import match_quality


def _size(q: int) -> int:
    return 100 + 37 * q  # stream bytes grow with quality


@pytest.mark.parametrize("k,r", [(10, 0), (10, 3), (10, 12), (4, 1)])
def test_highest_quality_within_the_budget(k, r):
    for budget in (9000, 20000, 41234, 200000):
        q = match_quality(_size, budget, k, r)
        assert q is not None and transmitted_bits(_size(q), k, r) <= budget
        assert q == 51 or transmitted_bits(_size(q + 1), k, r) > budget
    assert match_quality(_size, transmitted_bits(_size(0), k, r) - 1, k, r) is None


def test_parity_is_charged():
    budget = transmitted_bits(_size(30), 10, 0)
    assert match_quality(_size, budget, 10, 0) == 30
    assert match_quality(_size, budget, 10, 5) < 30  # the same bits buy a lower quality with parity
