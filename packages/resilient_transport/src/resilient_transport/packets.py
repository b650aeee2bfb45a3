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
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

CODING_MODES = ("independent", "layered")
HEADER_BYTES = 13
STEP_UNIT = 32  # the step travels as round(step * 32)
_FIELDS = struct.Struct(">BBBBBHH")


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
      every base packet arrived."""
    if mode == "independent":
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
