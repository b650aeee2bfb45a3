"""Inter-packet erasure FEC: a systematic Reed-Solomon code over packets (zfec).

A bitstream is split into k equal-length data packets (the last bytes zero-padded) and r
parity packets are added; any k of the k + r packets give back the bitstream exactly, fewer
than k give a :class:`FecDecodeResult` with ``recovered=False`` (the magazine's "VTM + FEC"
baseline, Section III-B and Fig. 6: r parity packets cover up to r lost packets). The
number of parity packets a sender adds for a predicted loss rate is :func:`parity_count`.

Every packet carries a 4-byte header (``HEADER_BITS`` = 32 bits, counted as sent), then its
payload of L = ceil(n / k) bytes for an n-byte bitstream:

======  =====  ==============================================================
byte    bits   field
======  =====  ==============================================================
0       8      packet index i, 0 <= i < k + r (i < k: data, i >= k: parity)
1       8      k - 1 (k in 1..256)
2       8      r (0..255)
3       8      padding: zero bytes appended to the bitstream, k L - n (0..k-1)
======  =====  ==============================================================

A code has at most k + r = 256 packets (Reed-Solomon over GF(2^8)). Bits sent for a
bitstream: :func:`transmitted_bits` = (k + r) (32 + 8 L).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import zfec

__all__ = [
    "HEADER_BITS",
    "MAX_PACKETS",
    "FecParameterError",
    "MalformedPacketError",
    "FecPacket",
    "FecDecodeResult",
    "packet_length",
    "parity_count",
    "fec_encode",
    "fec_decode",
    "transmitted_bits",
]

HEADER_BITS = 32
MAX_PACKETS = 256
_HEADER_BYTES = HEADER_BITS // 8


class FecParameterError(ValueError):
    """Code parameters (k, r, provisioning, loss rate) or data that no code can take."""


class MalformedPacketError(ValueError):
    """A received packet whose header or length does not fit the code it claims to be from."""


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    integral = isinstance(value, numbers.Integral) or isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not integral:
        raise FecParameterError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise FecParameterError(f"{name}={value} must be {bound}")
    return value


def _check_code(k: int, r: int) -> tuple[int, int]:
    k = _check_int("k", k, 1, MAX_PACKETS)
    r = _check_int("r", r, 0)
    if k + r > MAX_PACKETS:
        raise FecParameterError(
            f"k + r = {k} + {r} = {k + r} packets exceeds {MAX_PACKETS}, the most a Reed-Solomon "
            f"code over GF(2^8) has")
    return k, r


@dataclass(frozen=True)
class FecPacket:
    """One packet of a code: header fields (``index``, ``k``, ``r``, ``padding``) and payload."""

    index: int
    k: int
    r: int
    padding: int
    payload: bytes

    @property
    def is_parity(self) -> bool:
        return self.index >= self.k

    def to_bytes(self) -> bytes:
        """Header (4 bytes, module docstring) followed by the payload."""
        return bytes((self.index, self.k - 1, self.r, self.padding)) + self.payload

    @classmethod
    def from_bytes(cls, raw: bytes) -> FecPacket:
        """Parse :meth:`to_bytes` output; :class:`MalformedPacketError` if the header is invalid."""
        if len(raw) <= _HEADER_BYTES:
            raise MalformedPacketError(
                f"packet of {len(raw)} bytes is too short: it needs a {_HEADER_BYTES}-byte header and a payload")
        index, k, r, padding = raw[0], raw[1] + 1, raw[2], raw[3]
        if k + r > MAX_PACKETS or index >= k + r or padding >= k:
            raise MalformedPacketError(
                f"packet header (index={index}, k={k}, r={r}, padding={padding}) is invalid: "
                f"it needs index < k + r <= {MAX_PACKETS} and padding < k")
        return cls(index, k, r, padding, bytes(raw[_HEADER_BYTES:]))


@dataclass(frozen=True)
class FecDecodeResult:
    """Outcome of :func:`fec_decode`.

    ``recovered``: True iff ``data`` is the bitstream (at least k distinct packets arrived).
    ``received``: distinct packet indices received; ``needed``: k (None if nothing arrived).
    ``reason``: why decoding failed, e.g. "received 3 of the 4 packets needed"; "" on success.
    """

    recovered: bool
    data: bytes | None
    received: int
    needed: int | None
    reason: str = ""


def packet_length(n_bytes: int, k: int) -> int:
    """Payload bytes L = ceil(n / k) of each packet for an ``n_bytes`` bitstream in k data packets."""
    n_bytes = _check_int("n_bytes", n_bytes, 1)
    k = _check_int("k", k, 1, MAX_PACKETS)
    return -(-n_bytes // k)


def parity_count(provisioning: float, predicted_loss: float, k: int) -> int:
    """Parity packets r = ceil(N p k) for provisioning factor N >= 0 (the "N x" of "VTM + FEC
    (N x)"), predicted packet-loss rate p in [0, 1] and k data packets.

    A product that is an integer up to rounding (e.g. 2 x 0.1 x 10) is not rounded up.
    """
    for name, value in (("provisioning", provisioning), ("predicted_loss", predicted_loss)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FecParameterError(f"{name} must be a finite number, got {value!r}")
    if provisioning < 0:
        raise FecParameterError(f"provisioning={provisioning!r} must be >= 0")
    if not 0.0 <= predicted_loss <= 1.0:
        raise FecParameterError(f"predicted_loss={predicted_loss!r} must be a loss rate in [0, 1]")
    k = _check_int("k", k, 1)
    return max(0, math.ceil(provisioning * predicted_loss * k - 1e-9))


def fec_encode(data: bytes, k: int, r: int) -> list[FecPacket]:
    """The k + r packets (index order: k data packets, then r parity) protecting ``data``.

    ``data`` (non-empty bytes) is zero-padded to k L bytes, L = :func:`packet_length`, and cut
    into k data packets; the padding is recorded in every header.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FecParameterError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise FecParameterError("data is empty: there is nothing to protect")
    k, r = _check_code(k, r)
    length = packet_length(len(data), k)
    padding = k * length - len(data)
    padded = data + bytes(padding)
    blocks = tuple(padded[i * length:(i + 1) * length] for i in range(k))
    coded = zfec.Encoder(k, k + r).encode(blocks) if r else list(blocks)
    return [FecPacket(i, k, r, padding, bytes(block)) for i, block in enumerate(coded)]


def fec_decode(received: Iterable[FecPacket]) -> FecDecodeResult:
    """Recover the bitstream from the received packets (any order; duplicates count once).

    Any k distinct packets suffice. Fewer give ``recovered=False`` with the counts; packets
    that disagree on (k, r, padding) or payload length raise :class:`MalformedPacketError`
    naming the packet.
    """
    by_index: dict[int, FecPacket] = {}
    first: FecPacket | None = None
    for packet in received:
        if first is None:
            first = packet
        if (packet.k, packet.r, packet.padding, len(packet.payload)) != (
                first.k, first.r, first.padding, len(first.payload)):
            raise MalformedPacketError(
                f"packet {packet.index} (k={packet.k}, r={packet.r}, padding={packet.padding}, "
                f"{len(packet.payload)} payload bytes) does not belong to the code of packet {first.index} "
                f"(k={first.k}, r={first.r}, padding={first.padding}, {len(first.payload)} payload bytes)")
        if not 0 <= packet.index < packet.k + packet.r or not 0 <= packet.padding < packet.k:
            raise MalformedPacketError(
                f"packet {packet.index} has an invalid header (k={packet.k}, r={packet.r}, "
                f"padding={packet.padding}): it needs 0 <= index < k + r and 0 <= padding < k")
        by_index.setdefault(packet.index, packet)
    if first is None:
        return FecDecodeResult(False, None, 0, None, "no packet received")
    k, r = _check_code(first.k, first.r)
    if len(by_index) < k:
        return FecDecodeResult(False, None, len(by_index), k,
                               f"received {len(by_index)} of the {k} packets needed")
    indices = sorted(by_index)[:k]  # data packets first: none to rebuild if all arrived
    blocks = [by_index[i].payload for i in indices]
    if indices != list(range(k)):
        blocks = zfec.Decoder(k, k + r).decode(tuple(blocks), tuple(indices))
    data = b"".join(bytes(b) for b in blocks)
    return FecDecodeResult(True, data[:len(data) - first.padding], len(by_index), k)


def transmitted_bits(n_bytes: int, k: int, r: int) -> int:
    """Bits sent for an ``n_bytes`` bitstream in k data + r parity packets, headers included:
    (k + r) (``HEADER_BITS`` + 8 L), L = :func:`packet_length`.
    """
    k, r = _check_code(k, r)
    return (k + r) * (HEADER_BITS + 8 * packet_length(n_bytes, k))
