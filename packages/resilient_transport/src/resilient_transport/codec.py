"""The resilient codec: g_a, g_s and the dual-functional masked transformer, with CompressAI's
uniform interface.

* ``forward(x, visible)`` -- training: rate (bits) of the masked tokens given the visible ones, the
  full reconstruction g_s(y_hat) and the concealed one g_s(y_tilde), y_tilde = y_hat where visible,
  the regression head elsewhere;
* ``compress(x, n_packets, mode, step)`` -- one range-coded bitstream per packet (packets.py);
* ``decompress(packets, shape)`` -- any subset of the packets, in any state: usable packets are
  decoded, a token set whose packet is missing is taken from its redundant description where the
  multiple-description mode sent one and it arrived, every token still missing is concealed by the
  regression head.

Coding (both sides run the same passes): packets are grouped into levels by their contexts
(packets.levels); each level runs ``steps`` transformer passes over a batch holding all of its
packets, so a packet's distribution never depends on whether another packet arrived.  At step s a
packet sees its context packets' tokens and its own tokens of steps < s, and codes its step-s
tokens (all M channels each) with the entropy head's mixture PMFs.  Redundant descriptions are coded
one token set per pass batch, so the decoder can decode just the sets it lacks with the same
arithmetic as the encoder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import constriction
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resilient_transport.mixture import bin_probability, pmf_table
from resilient_transport.order import packet_positions, step_bounds
from resilient_transport.packets import (
    CODING_MODES,
    PacketError,
    PacketHeader,
    contexts,
    join_descriptions,
    levels,
    pack,
    redundant_carrier,
    redundant_set,
    split_descriptions,
    step_code,
    unpack,
)
from resilient_transport.transformer import MaskedTransformer
from resilient_transport.transforms import analysis, synthesis

STRIDE = 16  # g_a downsamples by 16
_MODEL = constriction.stream.model.Categorical(perfect=False)
PMF_FLOOR = 1e-12  # every symbol of the alphabet stays codable


def ste_round(y: Tensor) -> Tensor:
    """round(y) forward, identity backward (straight-through estimator)."""
    return y + (torch.round(y) - y).detach()


@dataclass
class DecodeReport:
    """What :meth:`ResilientCodec.decompress` made of the packets it got.

    received: packets that passed their checks; corrupt: packets given but unusable (bad CRC,
    truncated, inconsistent header, undecodable payload); usable: packets decoded (they and all
    their context packets arrived); redundant: token sets of packets not usable that were taken from
    their coarser redundant description (multiple-description mode); concealed_tokens / tokens:
    latent positions filled by the regression head / all positions; reasons: one line per corrupt
    packet or undecodable redundant description."""

    n_packets: int
    received: list[int] = field(default_factory=list)
    corrupt: int = 0
    usable: list[int] = field(default_factory=list)
    redundant: list[int] = field(default_factory=list)
    concealed_tokens: int = 0
    tokens: int = 0
    reasons: list[str] = field(default_factory=list)


class ResilientCodec(nn.Module):
    """g_a / g_s (``n`` inside, ``m`` latent channels, ``units`` residual units per stage) and the
    masked transformer (``dim``, ``depth``, ``heads``, ``window``, ``components``); the coding order
    has ``steps`` steps with power schedule ``gamma``; symbols are clamped to -max_bound..max_bound."""

    def __init__(self, n: int = 192, m: int = 192, units: int = 3, dim: int = 768, depth: int = 12, heads: int = 8,
                 window: int = 4, components: int = 3, steps: int = 12, gamma: float = 2.0, max_bound: int = 63):
        super().__init__()
        if not 1 <= max_bound <= 255:
            raise ValueError(f"max_bound must be in 1..255 (one header byte), got {max_bound}")
        self.m, self.steps, self.gamma, self.max_bound = m, steps, gamma, max_bound
        self.g_a = analysis(n, m, units)
        self.g_s = synthesis(n, m, units)
        self.transformer = MaskedTransformer(m, dim, depth, heads, window, components)

    # ------------------------------------------------------------------ training

    def forward(self, x: Tensor, visible: Tensor) -> dict[str, Tensor]:
        """x (B, 3, H, W) in [0, 1], H and W multiples of 16; visible (B, H/16, W/16) bool.

        Returns ``bits`` (B,): -log2 P of the masked tokens given the visible ones; ``x_hat`` and
        ``x_conceal`` (B, 3, H, W); ``y_hat`` and ``y_conceal`` (B, M, h, w)."""
        y = self.g_a(x)
        y_hat = ste_round(y)
        weights, means, scales, regression = self.transformer(y_hat, visible)
        p = bin_probability(y_hat, weights, means, scales)
        masked = (~visible).unsqueeze(1)
        bits = (-torch.log2(p) * masked).sum((1, 2, 3))
        y_conceal = torch.where(visible.unsqueeze(1), y_hat, regression)
        return {"bits": bits, "x_hat": self.g_s(y_hat), "x_conceal": self.g_s(y_conceal), "y_hat": y_hat,
                "y_conceal": y_conceal}

    # ------------------------------------------------------------------ coding

    def _pad(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x

    def _passes(self, q: Tensor, step: float, mode: str, n_packets: int, code,
                only: Sequence[int] | None = None) -> None:
        """Run the coding passes over the integer latent ``q`` (M, h, w) (filled in place as the
        decoder decodes); ``code(p, s, targets, weights, means, scales)`` codes packet p's step-s
        tokens ``targets`` (flat positions, n) given their mixture parameters (n, K, M).  ``only``:
        the packets to run (default all); both ends must run the same packets together."""
        m, h, w = q.shape
        positions = packet_positions(h, w, n_packets)
        bounds = [step_bounds(len(pos), self.steps, self.gamma) for pos in positions]
        ctx = contexts(mode, n_packets)
        for level in levels(ctx):
            if only is not None:
                level = [p for p in level if p in only]
                if not level:
                    continue
            base = torch.zeros(len(level), h * w, dtype=torch.bool)
            for b, p in enumerate(level):
                for c in ctx[p]:
                    base[b, torch.from_numpy(positions[c])] = True
            for s in range(self.steps):
                if all(bounds[p][s] == bounds[p][s + 1] for p in level):
                    continue
                visible = base.clone()
                for b, p in enumerate(level):
                    visible[b, torch.from_numpy(positions[p][:bounds[p][s]])] = True
                # Packets that see the same tokens (e.g. every independent packet at its first step)
                # share one pass: the features depend on the visible tokens only.
                unique, row = torch.unique(visible, dim=0, return_inverse=True)
                tokens = (q.to(torch.float32) * step).unsqueeze(0).expand(len(unique), -1, -1, -1)
                feats = self.transformer.features(tokens, unique.reshape(-1, h, w)).reshape(len(unique), h * w, -1)
                feats = feats[row]
                for b, p in enumerate(level):
                    targets = positions[p][bounds[p][s]:bounds[p][s + 1]]
                    if len(targets) == 0:
                        continue
                    code(p, s, targets, *self.transformer.mixture(feats[b, torch.from_numpy(targets)]))

    @torch.no_grad()
    def quantise(self, x: Tensor, step: float = 1.0) -> Tensor:
        """The integer symbols q = clamp(round(g_a(x) / step)) (B, M, ceil(H/16), ceil(W/16)) of x (B, 3, H, W)."""
        y = self.g_a(self._pad(x))
        return torch.round(y / step).clamp_(-self.max_bound, self.max_bound).to(torch.int64)

    def _encode(self, q: Tensor, step: float, mode: str, n_packets: int, one_by_one: bool = False
                ) -> tuple[list[bytes], list[int]]:
        """(stream, bound) of every packet's token set of the integer latent ``q`` (M, h, w);
        ``one_by_one``: one pass batch per packet (redundant descriptions)."""
        m, h, w = q.shape
        flat = q.reshape(m, h * w)
        positions = packet_positions(h, w, n_packets)
        bound = [int(flat[:, torch.from_numpy(pos)].abs().max()) if len(pos) else 0 for pos in positions]
        encoders = [constriction.stream.queue.RangeEncoder() for _ in range(n_packets)]

        def code(p, s, targets, weights, means, scales):
            if bound[p] == 0:
                return  # a one-symbol alphabet carries no information
            symbols = (flat[:, torch.from_numpy(targets)].T.reshape(-1) + bound[p]).numpy().astype(np.int32)
            encoders[p].encode(symbols, _MODEL, _pmf(weights, means, scales, bound[p], step))

        for group in ([[p] for p in range(n_packets)] if one_by_one else [None]):
            self._passes(q, step, mode, n_packets, code, only=group)
        return [e.get_compressed().astype(">u4").tobytes() for e in encoders], bound

    @torch.no_grad()
    def compress(self, x: Tensor, n_packets: int = 10, mode: str = "independent", step: float = 1.0,
                 redundant_step: float | None = None) -> list[bytes]:
        """x (1, 3, H, W) in [0, 1] -> ``n_packets`` packets (bytes, header included).

        ``mode``: a coding mode of :data:`CODING_MODES`; ``step``: quantisation step in latent units
        (a multiple of 1/32; > 1 lowers the rate of the same model); ``redundant_step``: the step of
        the redundant descriptions in the multiple-description mode (default 2 ``step``)."""
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise ValueError(f"compress codes one image (1, 3, H, W), got {tuple(x.shape)}")
        if mode not in CODING_MODES:
            raise ValueError(f"coding mode {mode!r} is not one of {', '.join(CODING_MODES)}")
        if not 1 <= n_packets <= 255:
            raise ValueError(f"n_packets must be in 1..255, got {n_packets}")
        height, width = x.shape[-2:]
        if height > 65535 or width > 65535:
            raise ValueError(f"image of {height} x {width} pixels is larger than the header's 65535")
        code_of_step = step_code(step)
        streams, bound = self._encode(self.quantise(x, step)[0], step, mode, n_packets)
        if mode == "multiple-description":
            r_step = 2 * step if redundant_step is None else redundant_step
            r_code = step_code(r_step)
            r_streams, r_bound = self._encode(self.quantise(x, r_step)[0], r_step, "independent", n_packets,
                                              one_by_one=True)
            sets = [redundant_set(p, n_packets) for p in range(n_packets)]
            streams = [join_descriptions(streams[p], r_streams[sets[p]], r_code, r_bound[sets[p]])
                       for p in range(n_packets)]
        mode_id = CODING_MODES.index(mode)
        return [pack(PacketHeader(p, n_packets, mode_id, bound[p], code_of_step, height, width), streams[p])
                for p in range(n_packets)]

    @torch.no_grad()
    def decompress(self, packets: Sequence[bytes | None], shape: tuple[int, int] | None = None
                   ) -> tuple[Tensor, DecodeReport]:
        """The image (1, 3, H, W) from whatever packets arrived (None = lost), and a report;
        arguments as :meth:`decode_latent`."""
        y, _, report, (height, width) = self.decode_latent(packets, shape)
        return self.g_s(y[None]).clamp_(0, 1)[..., :height, :width], report

    @torch.no_grad()
    def decode_latent(self, packets: Sequence[bytes | None], shape: tuple[int, int] | None = None
                      ) -> tuple[Tensor, Tensor, DecodeReport, tuple[int, int]]:
        """(y_tilde (M, h, w), decoded (h, w) bool, report, (H, W)): the latent from whatever packets
        arrived (None = lost), tokens not decoded concealed by the regression head.

        ``shape`` (H, W): the image size the receiver expects, used when no packet is usable; without
        it and without a usable packet a ValueError says so.  Never raises on a lost, corrupted,
        truncated, duplicated or foreign packet: such a packet is counted and its tokens concealed."""
        headers: dict[int, tuple[PacketHeader, bytes]] = {}
        redundant: dict[int, tuple[int, int, bytes]] = {}  # token set -> (step code, bound, stream)
        corrupt, reasons, fields, r_code = 0, [], None, None
        for i, raw in enumerate(packets):
            if raw is None:
                continue
            try:
                header, payload = unpack(raw)
                if CODING_MODES[header.mode] == "multiple-description":
                    code_r, bound_r, payload, stream_r = split_descriptions(payload)
            except PacketError as exc:
                corrupt += 1
                reasons.append(f"packet {i}: {exc}")
                continue
            if fields is None:
                fields = header.image_fields
            if header.image_fields != fields or header.index in headers:
                corrupt += 1
                reasons.append(f"packet {i}: header {header} does not fit the image's other packets")
                continue
            if CODING_MODES[header.mode] == "multiple-description":
                if r_code is not None and code_r != r_code:
                    corrupt += 1
                    reasons.append(f"packet {i}: redundant step code {code_r} differs from the image's {r_code}")
                    continue
                r_code = code_r
                redundant[redundant_set(header.index, header.n_packets)] = (code_r, bound_r, stream_r)
            headers[header.index] = (header, payload)
        if fields is None:
            if shape is None:
                raise ValueError("no usable packet arrived and no image shape was given to conceal the image")
            n_packets, height, width, step, mode = len(packets), int(shape[0]), int(shape[1]), 1.0, CODING_MODES[0]
        else:
            n_packets, mode_id, code_of_step, height, width = fields
            step, mode = code_of_step / 32, CODING_MODES[mode_id]
        h, w = -(-height // STRIDE), -(-width // STRIDE)
        report = DecodeReport(n_packets, sorted(headers), corrupt, tokens=h * w, reasons=reasons)
        y = torch.zeros(self.m, h, w)
        decoded = torch.zeros(h * w, dtype=torch.bool)
        positions = packet_positions(h, w, n_packets)
        if headers:
            ctx = contexts(mode, n_packets)
            streams = {p: (headers[p][0].bound, headers[p][1]) for p in headers}
            ok = self._decode(streams, y, step, mode, n_packets, report, lambda p: f"packet {p}", every=True)
            report.usable = [p for p in range(n_packets) if ok[p] and all(ok[c] for c in ctx[p])]
            for p in report.usable:
                decoded[torch.from_numpy(positions[p])] = True
            lacking = [s for s in range(n_packets) if s not in report.usable and s in redundant]
            if lacking:
                coarse = torch.zeros(self.m, h, w)
                streams = {s: redundant[s][1:] for s in lacking}
                ok = self._decode(streams, coarse, r_code / 32, "independent", n_packets, report,
                                  lambda s: f"packet {redundant_carrier(s, n_packets)}: redundant description "
                                            f"of token set {s}", count=False)
                report.redundant = [s for s in lacking if ok[s]]
                for s in report.redundant:
                    pos = torch.from_numpy(positions[s])
                    y.view(self.m, -1)[:, pos] = coarse.view(self.m, -1)[:, pos]
                    decoded[pos] = True
        report.concealed_tokens = int((~decoded).sum())
        if report.concealed_tokens:
            visible = decoded.reshape(1, h, w)
            feats = self.transformer.features(y[None], visible)[0]
            y = torch.where(visible, y, self.transformer.regression(feats).permute(2, 0, 1))
        return y, decoded.reshape(h, w), report, (height, width)

    def _decode(self, streams: dict[int, tuple[int, bytes]], y: Tensor, step: float, mode: str, n_packets: int,
                report: DecodeReport, name, every: bool = False, count: bool = True) -> dict[int, bool]:
        """Decode the token sets ``streams`` {p: (bound, stream bytes)} into ``y`` (M, h, w) (latent
        units, filled in place); returns whether each set's stream decoded.  ``every``: run the passes
        of all packets together, as the encoder did for primary streams; otherwise one set per pass
        batch, as it did for redundant descriptions.  A stream that is not whole 32-bit words or that
        the range decoder rejects is a reason in ``report`` under ``name(p)``, and a corrupt packet
        if ``count`` (a redundant description's packet is counted by its primary stream)."""
        m, h, w = y.shape
        flat = y.view(m, h * w)
        q = torch.zeros(m, h, w, dtype=torch.int64)
        ctx = contexts(mode, n_packets)
        ok = {p: p in streams for p in range(n_packets)}
        decoders = {}
        for p, (_, data) in streams.items():
            if len(data) % 4:
                ok[p] = False
                report.corrupt += count
                report.reasons.append(f"{name(p)}: payload of {len(data)} bytes is not 32-bit words")
            else:
                decoders[p] = constriction.stream.queue.RangeDecoder(_words(data))

        def code(p, s, targets, weights, means, scales):
            if not ok[p] or not all(ok[c] for c in ctx[p]):
                ok[p] = False
                return
            bound = streams[p][0]
            if bound == 0:
                symbols = np.zeros(len(targets) * m, dtype=np.int64)
            else:
                try:
                    symbols = decoders[p].decode(_MODEL, _pmf(weights, means, scales, bound, step))
                except Exception as exc:  # an undecodable payload is a lost packet
                    ok[p] = False
                    report.corrupt += count
                    report.reasons.append(f"{name(p)}: range decoder failed ({exc})")
                    return
            values = torch.from_numpy(symbols.astype(np.int64) - bound).reshape(len(targets), m).T
            index = torch.from_numpy(targets)
            q.view(m, h * w)[:, index] = values
            flat[:, index] = values.to(flat.dtype) * step

        for group in ([None] if every else [[p] for p in sorted(streams)]):
            self._passes(q, step, mode, n_packets, code, only=group)
        return ok


def _pmf(weights: Tensor, means: Tensor, scales: Tensor, bound: int, step: float) -> np.ndarray:
    """(n * M, 2 bound + 1) PMFs, token-major then channel, of mixture parameters (n, K, M)."""
    n, k, m = weights.shape
    flat = [t.permute(0, 2, 1).reshape(n * m, k) for t in (weights, means, scales)]
    return np.maximum(pmf_table(*flat, bound, step), PMF_FLOOR)


def _words(payload: bytes) -> np.ndarray:
    return np.frombuffer(payload, dtype=">u4").astype(np.uint32)
