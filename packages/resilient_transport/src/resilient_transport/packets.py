"""Packets of the resilient bitstream: the header every packet carries (counted in the rate) and
the coding modes, which say which packets a packet may use as context.

Header (:data:`HEADER_BYTES` = 13 bytes, big-endian):

| bytes | field |
|-------|-------|
| 0     | packet index p, 0 <= p < P |
| 1     | P, packets of the image (1..255) |
| 2     | coding mode (index into :data:`CODING_MODES`) |
| 3     | alphabet bound B: the packet's symbols lie in -B..B |
| 4     | quantisation step code c: step = c / 32 (latent units) |
| 5-6   | image height H (pixels) |
| 7-8   | image width W (pixels) |
| 9-12  | CRC-32 of bytes 0-8 and the payload |

A packet whose CRC fails, that is too short, or whose fields disagree with the image's other
packets is a lost packet, counted as corrupt -- never an exception.

In the multiple-description mode the payload holds two range-coded streams: the packet's own token
set (its primary description) and a coarser copy of another packet's token set (a redundant
description), behind a :data:`MD_PREFIX_BYTES`-byte prefix (counted in the rate like the header):

| bytes | field |
|-------|-------|
| 0     | quantisation step code of the redundant description (step = c / 32) |
| 1     | alphabet bound of the redundant description |
| 2-3   | length of the primary stream (bytes) |
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

CODING_MODES = ("independent", "layered", "multiple-description")
HEADER_BYTES = 13
MD_PREFIX_BYTES = 4
STEP_UNIT = 32  # the step travels as round(step * 32)
_FIELDS = struct.Struct(">BBBBBHH")
_MD_PREFIX = struct.Struct(">BBH")


class PacketError(ValueError):
    """A packet that cannot be used (bad CRC, truncated, malformed header); its message names why."""


@dataclass(frozen=True)
class PacketHeader:
    index: int
    n_packets: int
    mode: int
    bound: int
    step_code: int
    height: int
    width: int

    @property
    def step(self) -> float:
        return self.step_code / STEP_UNIT

    @property
    def image_fields(self) -> tuple[int, ...]:
        """The fields every packet of one image shares."""
        return self.n_packets, self.mode, self.step_code, self.height, self.width


def step_code(step: float) -> int:
    """The header's code of quantisation step ``step``; a step that is not a multiple of 1/32 in
    1/32..255/32 is a ValueError naming it."""
    code = round(step * STEP_UNIT)
    if not 1 <= code <= 255 or abs(code - step * STEP_UNIT) > 1e-9:
        raise ValueError(f"quantisation step {step!r} must be a multiple of 1/{STEP_UNIT} in "
                         f"[1/{STEP_UNIT}, {255 / STEP_UNIT}]")
    return code


def pack(header: PacketHeader, payload: bytes) -> bytes:
    """Header + payload, the CRC over both."""
    head = _FIELDS.pack(header.index, header.n_packets, header.mode, header.bound, header.step_code,
                        header.height, header.width)
    return head + struct.pack(">I", zlib.crc32(head + payload)) + payload


def unpack(raw: bytes) -> tuple[PacketHeader, bytes]:
    """(header, payload) of a packet; :class:`PacketError` naming what is wrong otherwise."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise PacketError(f"a packet is bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) < HEADER_BYTES:
        raise PacketError(f"packet of {len(raw)} bytes is shorter than the {HEADER_BYTES}-byte header")
    head, (crc,), payload = raw[:9], struct.unpack(">I", raw[9:13]), raw[13:]
    if zlib.crc32(head + payload) != crc:
        raise PacketError("packet fails its CRC-32 (corrupted or truncated)")
    h = PacketHeader(*_FIELDS.unpack(head))
    if not (h.index < h.n_packets and h.mode < len(CODING_MODES) and h.step_code >= 1
            and h.height >= 1 and h.width >= 1):
        raise PacketError(f"packet header {h} is invalid")
    return h, payload


def contexts(mode: str, n_packets: int) -> list[tuple[int, ...]]:
    """The context packets of each packet under coding ``mode``:

    * independent -- none: every packet decodes alone;
    * layered -- the first ceil(P / 2) packets (the base layer) decode alone; each later packet
      (enhancement) is coded given the whole base layer, so it is cheaper but counts only when
      every base packet arrived;
    * multiple-description -- none, as independent; each packet also carries a coarser redundant
      description of the token set of packet :func:`redundant_set` (coded alone too)."""
    if mode in ("independent", "multiple-description"):
        return [()] * n_packets
    if mode == "layered":
        base = -(-n_packets // 2)
        return [() if p < base else tuple(range(base)) for p in range(n_packets)]
    raise ValueError(f"coding mode {mode!r} is not one of {', '.join(CODING_MODES)}")


def levels(ctx: list[tuple[int, ...]]) -> list[list[int]]:
    """Packets grouped so that every packet's contexts are in earlier groups."""
    done: set[int] = set()
    out = []
    while len(done) < len(ctx):
        ready = [p for p, c in enumerate(ctx) if p not in done and set(c) <= done]
        if not ready:
            raise ValueError("coding-mode contexts form a cycle")
        out.append(ready)
        done |= set(ready)
    return out


def redundant_set(p: int, n_packets: int) -> int:
    """The token set whose redundant description packet ``p`` carries in the multiple-description
    mode: the set ceil(P / 2) packets earlier, so a burst of fewer than ceil(P / 2) consecutive
    losses never takes a set's two descriptions together."""
    return (p - -(-n_packets // 2)) % n_packets


def redundant_carrier(s: int, n_packets: int) -> int:
    """The packet that carries token set ``s``'s redundant description (inverse of :func:`redundant_set`)."""
    return (s + -(-n_packets // 2)) % n_packets


def join_descriptions(primary: bytes, redundant: bytes, step_code: int, bound: int) -> bytes:
    """A multiple-description payload: prefix (redundant step code and bound, primary length), the
    primary stream, the redundant stream."""
    if len(primary) > 65535:
        raise ValueError(f"primary description of {len(primary)} bytes exceeds the prefix's 65535")
    return _MD_PREFIX.pack(step_code, bound, len(primary)) + primary + redundant


def split_descriptions(payload: bytes) -> tuple[int, int, bytes, bytes]:
    """(redundant step code, redundant bound, primary stream, redundant stream) of a
    multiple-description payload; :class:`PacketError` naming what is wrong otherwise."""
    if len(payload) < MD_PREFIX_BYTES:
        raise PacketError(f"multiple-description payload of {len(payload)} bytes is shorter than its "
                          f"{MD_PREFIX_BYTES}-byte prefix")
    step_code, bound, n = _MD_PREFIX.unpack(payload[:MD_PREFIX_BYTES])
    body = payload[MD_PREFIX_BYTES:]
    if n > len(body) or step_code < 1:
        raise PacketError(f"multiple-description prefix (step code {step_code}, primary {n} bytes) does not fit "
                          f"a body of {len(body)} bytes")
    return step_code, bound, body[:n], body[n:]
