"""The resilient codec: g_a, g_s and the dual-functional masked transformer, with CompressAI's
uniform interface.

* ``forward(x, visible)`` -- training: rate (bits) of the masked tokens given the visible ones, the
  full reconstruction g_s(y_hat) and the concealed one g_s(y_tilde), y_tilde = y_hat where visible,
  the regression head elsewhere;
* ``compress(x, n_packets, mode, step)`` -- one range-coded bitstream per packet (packets.py);
* ``decompress(packets, shape)`` -- any subset of the packets, in any state: usable packets are
  decoded, every token not decoded is concealed by the regression head.

Coding (both sides run the same passes): packets are grouped into levels by their contexts
(packets.levels); each level runs ``steps`` transformer passes over a batch holding all of its
packets, so a packet's distribution never depends on whether another packet arrived.  At step s a
packet sees its context packets' tokens and its own tokens of steps < s, and codes its step-s
tokens (all M channels each) with the entropy head's mixture PMFs.
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
    levels,
    pack,
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
    their context packets arrived); concealed_tokens / tokens: latent positions filled by the
    regression head / all positions; reasons: one line per corrupt packet."""

    n_packets: int
    received: list[int] = field(default_factory=list)
    corrupt: int = 0
    usable: list[int] = field(default_factory=list)
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

    def _passes(self, q: Tensor, step: float, mode: str, n_packets: int, code) -> None:
        """Run the coding passes over the integer latent ``q`` (M, h, w) (filled in place as the
        decoder decodes); ``code(p, s, targets, weights, means, scales)`` codes packet p's step-s
        tokens ``targets`` (flat positions, n) given their mixture parameters (n, K, M)."""
        m, h, w = q.shape
        positions = packet_positions(h, w, n_packets)
        bounds = [step_bounds(len(pos), self.steps, self.gamma) for pos in positions]
        ctx = contexts(mode, n_packets)
        for level in levels(ctx):
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
                tokens = (q.to(torch.float32) * step).unsqueeze(0).expand(len(level), -1, -1, -1)
                feats = self.transformer.features(tokens, visible.reshape(-1, h, w)).reshape(len(level), h * w, -1)
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

    @torch.no_grad()
    def compress(self, x: Tensor, n_packets: int = 10, mode: str = "independent", step: float = 1.0) -> list[bytes]:
        """x (1, 3, H, W) in [0, 1] -> ``n_packets`` packets (bytes, header included).

        ``mode``: a coding mode of :data:`CODING_MODES`; ``step``: quantisation step in latent units
        (a multiple of 1/32; > 1 lowers the rate of the same model)."""
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
        q = self.quantise(x, step)[0]
        m, h, w = q.shape
        flat = q.reshape(m, h * w)
        positions = packet_positions(h, w, n_packets)
        bound = [int(flat[:, torch.from_numpy(pos)].abs().max()) if len(pos) else 0 for pos in positions]
        encoders = [constriction.stream.queue.RangeEncoder() for _ in range(n_packets)]

        def code(p, s, targets, weights, means, scales):
            if bound[p] == 0:
                return  # a one-symbol alphabet carries no information
            symbols = (flat[:, torch.from_numpy(targets)].T.reshape(-1) + bound[p]).numpy().astype(np.int32)
            pmf = _pmf(weights, means, scales, bound[p], step)
            encoders[p].encode(symbols, _MODEL, pmf)

        self._passes(q, step, mode, n_packets, code)
        mode_id = CODING_MODES.index(mode)
        return [pack(PacketHeader(p, n_packets, mode_id, bound[p], code_of_step, height, width),
                     encoders[p].get_compressed().astype(">u4").tobytes()) for p in range(n_packets)]

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
        corrupt, reasons, fields = 0, [], None
        for i, raw in enumerate(packets):
            if raw is None:
                continue
            try:
                header, payload = unpack(raw)
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
        q = torch.zeros(self.m, h, w, dtype=torch.int64)
        flat = q.view(self.m, h * w)
        decoded = torch.zeros(h * w, dtype=torch.bool)
        if headers:
            ctx = contexts(mode, n_packets)
            ok = {p: p in headers for p in range(n_packets)}
            decoders = {p: constriction.stream.queue.RangeDecoder(_words(headers[p][1])) for p in headers
                        if len(headers[p][1]) % 4 == 0}
            for p in headers:
                if p not in decoders:
                    ok[p] = False
                    report.corrupt += 1
                    report.reasons.append(f"packet {p}: payload of {len(headers[p][1])} bytes is not 32-bit words")

            def code(p, s, targets, weights, means, scales):
                if not ok[p] or not all(ok[c] for c in ctx[p]):
                    ok[p] = False
                    return
                bound = headers[p][0].bound
                if bound == 0:
                    symbols = np.zeros(len(targets) * self.m, dtype=np.int64)
                else:
                    try:
                        symbols = decoders[p].decode(_MODEL, _pmf(weights, means, scales, bound, step))
                    except Exception as exc:  # an undecodable payload is a lost packet
                        ok[p] = False
                        report.corrupt += 1
                        report.reasons.append(f"packet {p}: range decoder failed ({exc})")
                        return
                values = torch.from_numpy(symbols.astype(np.int64) - bound).reshape(len(targets), self.m).T
                flat[:, torch.from_numpy(targets)] = values

            self._passes(q, step, mode, n_packets, code)
            positions = packet_positions(h, w, n_packets)
            report.usable = [p for p in range(n_packets) if ok[p] and all(ok[c] for c in ctx[p])]
            for p in report.usable:
                decoded[torch.from_numpy(positions[p])] = True
        y = q.to(torch.float32) * step
        report.concealed_tokens = int((~decoded).sum())
        if report.concealed_tokens:
            visible = decoded.reshape(1, h, w)
            feats = self.transformer.features(y[None], visible)[0]
            y = torch.where(visible, y, self.transformer.regression(feats).permute(2, 0, 1))
        return y, decoded.reshape(h, w), report, (height, width)


def _pmf(weights: Tensor, means: Tensor, scales: Tensor, bound: int, step: float) -> np.ndarray:
    """(n * M, 2 bound + 1) PMFs, token-major then channel, of mixture parameters (n, K, M)."""
    n, k, m = weights.shape
    flat = [t.permute(0, 2, 1).reshape(n * m, k) for t in (weights, means, scales)]
    return np.maximum(pmf_table(*flat, bound, step), PMF_FLOOR)


def _words(payload: bytes) -> np.ndarray:
    return np.frombuffer(payload, dtype=">u4").astype(np.uint32)
