import math

import numpy as np
import pytest

from jscc_core.bd import bd_cbr, bd_quality, bd_rate
from jscc_core.capacity import awgn_capacity, capacity_bits, capacity_channel_uses

# ------------------------------------------------------------------ capacity


def test_capacity_at_0_db():
    assert awgn_capacity(0.0) == pytest.approx(1.0)
    assert awgn_capacity(0.0, channel_use="complex") == pytest.approx(1.0)
    assert awgn_capacity(0.0, channel_use="real") == pytest.approx(0.5)
    assert awgn_capacity(10.0) == pytest.approx(math.log2(11))
    np.testing.assert_allclose(awgn_capacity(np.array([0.0, 10.0])), [1.0, math.log2(11)])


def test_capacity_channel_uses_inverse():
    bits = 12_345.0
    for snr in (-5.0, 0.0, 13.0):
        for use in ("real", "complex"):
            k = capacity_channel_uses(bits, snr, use)
            assert capacity_bits(k, snr, use) == pytest.approx(bits)
    assert capacity_channel_uses(1000, 0.0, "real") == pytest.approx(2000)


def test_capacity_validation():
    with pytest.raises(ValueError):
        awgn_capacity(float("nan"))
    with pytest.raises(ValueError):
        awgn_capacity(0.0, channel_use="imaginary")
    with pytest.raises(ValueError):
        capacity_bits(-1, 0.0)


# ------------------------------------------------------------------ BD metrics

RATES = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
PSNRS = np.array([26.0, 29.0, 32.0, 34.5, 36.5])


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_bd_rate_scaled_rates(method):
    assert bd_rate(RATES, PSNRS, 0.8 * RATES, PSNRS, method=method) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(RATES, PSNRS, 1.25 * RATES, PSNRS, method=method) == pytest.approx(25.0, abs=1e-6)


def test_bd_quality_shift():
    assert bd_quality(RATES, PSNRS, RATES, PSNRS + 1.0) == pytest.approx(1.0, abs=1e-9)
    assert bd_quality(RATES, PSNRS, RATES, PSNRS - 0.5, method="pchip") == pytest.approx(-0.5, abs=1e-9)


def test_bd_cbr_negative_when_less_bandwidth():
    cbr = np.array([1 / 48, 1 / 32, 1 / 16, 1 / 12, 1 / 8, 1 / 6])
    quality = np.array([24.0, 26.0, 29.0, 30.5, 32.0, 33.0])
    saving = bd_cbr(cbr, quality, 0.6 * cbr, quality)
    assert saving < 0
    assert saving == pytest.approx(-40.0, abs=1e-6)
    assert bd_cbr(cbr, quality, cbr * 1.1, quality) > 0


def test_bd_unsorted_input_is_sorted_by_rate():
    order = [3, 0, 4, 1, 2]
    assert bd_rate(RATES[order], PSNRS[order], 0.8 * RATES, PSNRS) == pytest.approx(-20.0, abs=1e-6)


@pytest.mark.parametrize(
    "rate,quality,match",
    [
        (RATES[:3], PSNRS[:3], ">= 4 points"),
        (RATES, np.array([26.0, 29.0, 28.0, 34.5, 36.5]), "increase strictly"),
        (RATES, np.array([26.0, 29.0, np.nan, 34.5, 36.5]), "finite"),
        (np.array([0.1, 0.2, 0.0, 0.8, 1.6]), PSNRS, "> 0"),
        (np.array([0.1, 0.2, 0.2, 0.8, 1.6]), PSNRS, "distinct"),
        (RATES[:4], PSNRS, "quality values"),
    ],
)
def test_bd_validation(rate, quality, match):
    with pytest.raises(ValueError, match=match):
        bd_rate(rate, quality, RATES, PSNRS)
    with pytest.raises(ValueError, match=match):
        bd_quality(RATES, PSNRS, rate, quality)


def test_bd_no_overlap_is_an_error():
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(RATES, PSNRS, RATES, PSNRS + 20)
    with pytest.raises(ValueError, match="method"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, method="cubic")
