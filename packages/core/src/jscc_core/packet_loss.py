"""Time-varying packet-loss traces and the sender's running loss estimate (docs/packet_loss.md).

A schedule is a sequence of intervals, each with its own Gilbert channel (loss rate, mean
burst length; :meth:`jscc_core.channels.GilbertElliottErasure.from_loss_and_burst`). One
Markov chain runs through all intervals: its state carries over at each boundary and only
its transition probabilities change. Per interval the trace records the loss actually
measured over it, and the *running estimate* a sender has when the interval starts: the
loss measured over the previous interval (the dashed line of the magazine's Fig. 6, which
sets the coding mode or the FEC parity of the next interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jscc_core.channels import GilbertElliottErasure

__all__ = ["EXAMPLE_LOSS_SCHEDULE", "LossTrace", "time_varying_trace"]

#: An illustrative (loss rate, mean burst) schedule rising from light loss through the WLAN
#: model's 13.9 % to the 20-30 % range where the magazine reports that even 4x FEC fails,
#: then falling back. The magazine prints no schedule; this one is the project's choice.
EXAMPLE_LOSS_SCHEDULE: tuple[tuple[float, float], ...] = (
    (0.02, 1.5), (0.05, 1.68), (0.10, 1.68), (0.139, 1.68), (0.20, 2.0),
    (0.25, 2.5), (0.30, 3.0), (0.20, 2.0), (0.10, 1.68), (0.05, 1.5),
)


@dataclass(frozen=True)
class LossTrace:
    """A seeded packet-loss trace over consecutive intervals (I intervals, P packets in all).

    - ``erased``: bool (P,), True = packet lost.
    - ``boundaries``: int (I + 1,), interval i covers packets ``boundaries[i]:boundaries[i+1]``.
    - ``target_loss``, ``target_burst``: float (I,), the schedule's loss rate and mean burst.
    - ``measured_loss``: float (I,), fraction of interval i's packets that were lost.
    - ``running_estimate``: float (I,), the loss a sender assumes for interval i:
      ``measured_loss[i - 1]``, and the given initial estimate for i = 0.
    """

    erased: np.ndarray
    boundaries: np.ndarray
    target_loss: np.ndarray
    target_burst: np.ndarray
    measured_loss: np.ndarray
    running_estimate: np.ndarray

    @property
    def n_intervals(self) -> int:
        return len(self.target_loss)

    def interval(self, i: int) -> np.ndarray:
        """Bool erasures (True = lost) of interval ``i``."""
        if not 0 <= i < self.n_intervals:
            raise IndexError(f"interval {i} does not exist: the trace has {self.n_intervals} intervals")
        return self.erased[self.boundaries[i]:self.boundaries[i + 1]]


def _packet_counts(packets_per_interval: int | Sequence[int], n_intervals: int) -> list[int]:
    counts = ([packets_per_interval] * n_intervals if np.ndim(packets_per_interval) == 0
              else list(packets_per_interval))
    if len(counts) != n_intervals:
        raise ValueError(f"packets_per_interval has {len(counts)} entries but the schedule has "
                         f"{n_intervals} intervals")
    for i, n in enumerate(counts):
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"packets_per_interval[{i}]={n!r} must be a positive integer")
    return [int(n) for n in counts]


def time_varying_trace(schedule: Sequence[tuple[float, float]], packets_per_interval: int | Sequence[int],
                       seed: int | np.random.SeedSequence | np.random.Generator,
                       initial_estimate: float = 0.0) -> LossTrace:
    """Packet erasures over ``schedule``'s intervals, reproducible from ``seed``.

    ``schedule``: one (loss rate in [0, 1), mean burst length >= 1 packets) pair per interval;
    an impossible pair raises :class:`jscc_core.channels.InfeasibleLossModelError` naming the
    interval. ``packets_per_interval``: one count for all intervals or one per interval.
    ``initial_estimate``: the running estimate before any measurement (interval 0).
    The first packet's state is drawn from the first interval's stationary distribution.
    """
    if len(schedule) == 0:
        raise ValueError("schedule is empty: give at least one (loss rate, mean burst) interval")
    if not (0.0 <= initial_estimate <= 1.0):
        raise ValueError(f"initial_estimate={initial_estimate!r} must be a loss rate in [0, 1]")
    channels = []
    for i, entry in enumerate(schedule):
        try:
            loss, burst = entry
        except (TypeError, ValueError) as exc:
            raise ValueError(f"schedule[{i}]={entry!r} must be a (loss rate, mean burst) pair") from exc
        try:
            channels.append(GilbertElliottErasure.from_loss_and_burst(loss, burst))
        except ValueError as exc:
            raise type(exc)(f"schedule[{i}]: {exc}") from exc
    counts = _packet_counts(packets_per_interval, len(channels))

    rng = np.random.default_rng(seed)
    pieces = []
    start_bad = None
    for ge, n in zip(channels, counts):
        if start_bad is not None:  # one step of the new interval's chain from the last state
            start_bad = bool(rng.random() < (1.0 - ge.p_bg if start_bad else ge.p_gb))
        # Gilbert channel: a packet is lost exactly when the chain is in the bad state.
        states = ge.states(n, rng, start_bad=start_bad)
        pieces.append(states)
        start_bad = bool(states[-1])

    boundaries = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    measured = np.array([p.mean() for p in pieces], dtype=np.float64)
    return LossTrace(
        erased=np.concatenate(pieces),
        boundaries=boundaries,
        target_loss=np.array([float(e[0]) for e in schedule]),
        target_burst=np.array([float(e[1]) for e in schedule]),
        measured_loss=measured,
        running_estimate=np.concatenate([[float(initial_estimate)], measured[:-1]]),
    )
