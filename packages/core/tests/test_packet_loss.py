"""Gilbert-Elliott presets and time-varying packet-loss traces."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jscc_core.channels import GilbertElliottErasure, InfeasibleLossModelError
from jscc_core.packet_loss import EXAMPLE_LOSS_SCHEDULE, LossTrace, time_varying_trace


def measured_burst(erased: np.ndarray) -> float:
    """Mean length of runs of consecutive lost packets."""
    starts = np.flatnonzero(erased & ~np.r_[False, erased[:-1]])
    return erased.sum() / len(starts)


def test_wlan_preset_reading_of_q_and_q():
    ge = GilbertElliottErasure.wlan()
    assert ge.p_gb == pytest.approx(0.0958) and ge.p_bg == pytest.approx(0.594)
    assert (ge.loss_good, ge.loss_bad) == (0.0, 1.0)
    assert ge.stationary_loss_rate == pytest.approx(0.139, abs=5e-4)
    assert ge.mean_burst_length == pytest.approx(1.68, abs=5e-3)


def test_wlan_preset_long_simulation_matches_13_9_percent_and_1_68():
    erased = GilbertElliottErasure.wlan().trace(400_000, seed=2024)
    assert erased.mean() == pytest.approx(0.139, abs=0.004)
    assert measured_burst(erased) == pytest.approx(1.68, abs=0.03)


@settings(max_examples=15, deadline=None)
@given(loss=st.floats(0.02, 0.5), burst=st.floats(1.0, 6.0))
def test_loss_and_burst_round_trip(loss, burst):
    assume(loss <= burst / (1 + burst))
    ge = GilbertElliottErasure.from_loss_and_burst(loss, burst)
    assert ge.stationary_loss_rate == pytest.approx(loss, rel=1e-9)
    assert ge.mean_burst_length == pytest.approx(burst, rel=1e-9)
    n = int(3000 * burst / loss)  # about 3000 bursts
    erased = ge.trace(n, seed=7)
    assert erased.mean() == pytest.approx(loss, rel=0.12)
    assert measured_burst(erased) == pytest.approx(burst, rel=0.1)


def test_loss_and_burst_at_the_feasibility_limit():
    ge = GilbertElliottErasure.from_loss_and_burst(2 / 3, 2.0)  # p_gb = 1
    assert ge.p_gb == pytest.approx(1.0)
    assert ge.mean_burst_length == pytest.approx(2.0)
    assert GilbertElliottErasure.from_loss_and_burst(0.0, 3.0).trace(1000, seed=0).sum() == 0


@pytest.mark.parametrize("loss, burst, match", [
    (0.8, 2.0, r"loss_rate=0.8 with mean_burst=2.0 is impossible.*B / \(1 \+ B\) = 0.6667"),
    (0.1, 0.5, r"mean_burst=0.5 packets is impossible"),
    (1.0, 3.0, r"loss_rate=1.0 is impossible"),
    (-0.1, 3.0, r"loss_rate=-0.1 is impossible"),
])
def test_impossible_loss_and_burst_pairs_are_named(loss, burst, match):
    with pytest.raises(InfeasibleLossModelError, match=match):
        GilbertElliottErasure.from_loss_and_burst(loss, burst)


@pytest.mark.parametrize("loss, burst", [(float("nan"), 2.0), (0.1, float("inf")), ("0.1", 2.0)])
def test_non_numbers_are_refused(loss, burst):
    with pytest.raises(ValueError, match="loss_rate|mean_burst"):
        GilbertElliottErasure.from_loss_and_burst(loss, burst)


def test_time_varying_trace_tracks_schedule_and_running_estimate():
    trace = time_varying_trace(EXAMPLE_LOSS_SCHEDULE, 20_000, seed=3, initial_estimate=0.05)
    assert isinstance(trace, LossTrace)
    n = len(EXAMPLE_LOSS_SCHEDULE)
    assert trace.erased.shape == (20_000 * n,) and trace.erased.dtype == bool
    assert trace.boundaries.tolist() == [20_000 * i for i in range(n + 1)]
    assert np.abs(trace.measured_loss - trace.target_loss).max() < 0.03
    assert trace.target_loss.max() == pytest.approx(0.30)  # passes through 20-30 % loss
    for i in range(n):
        assert trace.measured_loss[i] == trace.interval(i).mean()
    assert trace.running_estimate[0] == 0.05
    np.testing.assert_array_equal(trace.running_estimate[1:], trace.measured_loss[:-1])
    high = trace.interval(6)  # (0.30, 3.0)
    assert measured_burst(high) == pytest.approx(3.0, rel=0.15)


def test_time_varying_trace_is_seeded_and_accepts_per_interval_counts():
    a = time_varying_trace([(0.1, 2.0), (0.3, 2.0)], [500, 1500], seed=11)
    b = time_varying_trace([(0.1, 2.0), (0.3, 2.0)], [500, 1500], seed=11)
    np.testing.assert_array_equal(a.erased, b.erased)
    assert a.boundaries.tolist() == [0, 500, 2000] and a.interval(1).shape == (1500,)
    assert a.running_estimate[0] == 0.0
    with pytest.raises(IndexError, match="interval 2 does not exist"):
        a.interval(2)


@pytest.mark.parametrize("schedule, counts, match", [
    ([(0.1, 2.0), (0.9, 2.0)], 100, r"schedule\[1\]: loss_rate=0.9 with mean_burst=2.0 is impossible"),
    ([], 100, "schedule is empty"),
    ([(0.1, 2.0)], [100, 100], "packets_per_interval has 2 entries but the schedule has 1"),
    ([(0.1, 2.0)], 0, r"packets_per_interval\[0\]=0 must be a positive integer"),
    ([(0.1,)], 100, r"schedule\[0\]=\(0.1,\) must be a \(loss rate, mean burst\) pair"),
])
def test_time_varying_trace_names_bad_schedules(schedule, counts, match):
    with pytest.raises(ValueError, match=match):
        time_varying_trace(schedule, counts, seed=0)
