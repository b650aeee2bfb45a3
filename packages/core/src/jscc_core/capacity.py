"""Gaussian channel capacity, for the "+ capacity" separation bounds (NTSCC "BPG + Capacity").

C = log2(1 + SNR) bits per complex channel use, 1/2 log2(1 + SNR) bits per real channel use,
SNR linear = 10^(SNR_dB / 10), SNR = P / sigma^2 (docs/conventions.md, "Channels and SNR").
Functions take scalars (returning float) or arrays (returning ndarray).
"""

from __future__ import annotations

import numpy as np

from .channels import ChannelUse, check_snr_db

__all__ = ["awgn_capacity", "capacity_channel_uses", "capacity_bits"]


def _out(value: np.ndarray):
    return float(value) if np.ndim(value) == 0 else value


def awgn_capacity(snr_db, channel_use: ChannelUse = "complex"):
    """AWGN capacity in bits per channel use: log2(1+SNR) (complex) or 1/2 log2(1+SNR) (real)."""
    if channel_use not in ("real", "complex"):
        raise ValueError(f"channel_use must be 'real' or 'complex', got {channel_use!r}")
    check_snr_db(snr_db)
    snr = np.power(10.0, np.asarray(snr_db, dtype=np.float64) / 10.0)
    bits = np.log2(1.0 + snr)
    return _out(bits if channel_use == "complex" else bits / 2)


def capacity_channel_uses(bits, snr_db, channel_use: ChannelUse = "complex"):
    """Channel uses k = bits / C that capacity-achieving channel coding needs for ``bits`` bits."""
    bits = np.asarray(bits, dtype=np.float64)
    if (bits < 0).any() or not np.isfinite(bits).all():
        raise ValueError(f"bits must be finite and >= 0, got {bits!r}")
    return _out(bits / np.asarray(awgn_capacity(snr_db, channel_use)))


def capacity_bits(channel_uses, snr_db, channel_use: ChannelUse = "complex"):
    """Bits k C that ``channel_uses`` uses carry at capacity (the "BPG + Capacity" bit budget)."""
    uses = np.asarray(channel_uses, dtype=np.float64)
    if (uses < 0).any() or not np.isfinite(uses).all():
        raise ValueError(f"channel_uses must be finite and >= 0, got {channel_uses!r}")
    return _out(uses * np.asarray(awgn_capacity(snr_db, channel_use)))
