"""The checks of the paper's Fig. 10 findings compare curves by time-sharing, as an RD comparison should."""
import math

import numpy as np
import pytest

from jscc_core.results import ResultRow
from pipelines.ntscc.fig10 import fig10_findings, time_sharing_sdr
from pipelines.ntscc.paper import printed_values


def test_time_sharing_averages_distortion_not_decibels():
    pts = np.array([(1.0, 10.0), (3.0, 20.0)])
    # half the time at each point: D = (0.1 + 0.01) / 2
    assert time_sharing_sdr(pts, 2.0) == pytest.approx(-10 * math.log10(0.055))
    assert time_sharing_sdr(pts, 0.5) == -math.inf  # below the smallest bandwidth: unreachable
    # a dominated point does not lower the envelope
    assert time_sharing_sdr(np.vstack([pts, (2.0, 5.0)]), 2.0) == pytest.approx(-10 * math.log10(0.055))


def _row(method, r, sdr):
    return ResultRow(figure="fig10", panel="c", method=method, dataset="banana", snr_db=5.0,
                     bandwidth_ratio=r, metric="sdr_db", value=sdr)


def test_findings_report_where_ntscc_falls_below_deep_jscc():
    rows = [_row("NTSCC", 0.5, 9.0), _row("NTSCC", 2.0, 12.0), _row("Deep JSCC", 0.5, 7.0),
            _row("Deep JSCC", 2.0, 14.0), _row("NTC + capacity", 0.5, 5.0), _row("NTC + capacity", 2.0, 20.0)]
    r_range = printed_values().value("fig10", "ntscc_above_ntc_capacity_r")  # [0.25, 0.9]
    (claim1, ok1, detail1), (claim2, ok2, detail2) = fig10_findings(rows, r_range)
    assert not ok1 and "R=2" in detail1
    assert ok2 and "+4.00 dB at R = 0.500" in detail2
