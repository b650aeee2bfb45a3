"""5G NR LDPC + QAM link for the "BPG + LDPC" separation baseline (NTSCC Sec. V-A).

Sionna style, one job per layer: the code is Sionna's :class:`LDPC5GEncoder` (3GPP TS 38.212
lifting, rate matching and bit interleaving), the modulation Sionna's ``Mapper("qam", q)``, the
channel :class:`jscc_core.channels.ComplexAWGN` (SNR = Es/N0 per complex channel use), and
:class:`LDPCQAMLink` chains them; :func:`link_for` gives the link of a modulation-and-coding
scheme (:class:`~jscc_core.digital.mcs.MCS`), the one way the baselines build it. Sionna's
encoder, demapper and decoder are the reference; three drop-ins produce the same results an
order of magnitude faster on CPU:

* :class:`FastLDPCEncoder`: bit-identical codewords from sparse GF(2) products;
* :class:`SeparableQAMDemapper`: Sionna's exact "app" LLRs computed per I/Q dimension;
* :class:`FastLDPCDecoder`: Sionna's ``LDPC5GDecoder`` with faster message passing (below).

:class:`FastLDPCDecoder` reuses Sionna's own 5G rate recovery (de-interleaving, punctured and
filler positions, PCM pruning, output selection) by cooperative inheritance and replaces only the
iterative message passing. The update rules are Sionna's default ones, not an approximation:

* flooding schedule, sum variable-node update, input LLRs clipped to +-``llr_max`` and
  variable-to-check messages clipped to +-``llr_max`` (as Sionna);
* exact boxplus check-node update y_j->i = 2 atanh(prod_{i' != i} tanh(x_i'->j / 2)), computed
  with prefix/suffix products (no division, so zero messages from punctured bits are exact) and
  2 atanh(e) = log((1 + e) / (1 - e)) with |e| <= 1 - 1e-7, which reproduces Sionna's
  ``boxplus-phi`` saturation at |y| = 16.6355.

Speed comes from (i) a Tanner graph whose check nodes are grouped by degree, so there is no
padding (Sionna pads every check node to degree 19 and every variable node to the maximum
variable degree), (ii) batch-last ``[edges, codewords]`` memory with preallocated buffers,
(iii) per-codeword early stopping on the syndrome of the a-posteriori hard decision, and
(iv) continuous batching: a codeword that has converged leaves the batch and a waiting codeword
takes its column, so the batch stays full until the input is exhausted.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import NamedTuple, Optional, Union

import numpy as np
import scipy.sparse as sp
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.ldpc.decoding import LDPCBPDecoder
from sionna.phy.mapping import Demapper, Mapper
from torch import Tensor, nn

from ..channels import ComplexAWGN, check_snr_db, snr_db_to_noise_var
from .mcs import MCS, CodewordGeometry

__all__ = ["FastLDPCEncoder", "FastLDPCDecoder", "DecoderOutput", "SeparableQAMDemapper", "LDPCQAMLink",
           "LinkResult", "link_for"]

ArrayLike = Union[np.ndarray, Tensor]

# 1 - 1e-7 in float32 (0.99999988): 2 atanh of it is 16.6355, Sionna's boxplus-phi saturation.
_ATANH_CLIP = 1.0 - 1e-7


class DecoderOutput(NamedTuple):
    """Result of :meth:`FastLDPCDecoder.decode`."""

    bits: Tensor  #: [..., k] (or [..., n]) hard decisions (float 0/1) or logits, as Sionna returns
    num_iter: Tensor  #: [B] int32 BP iterations run per codeword (B = flattened batch)
    syndrome_ok: Tensor  #: [B] bool, decision satisfies all parity checks of the (pruned) code


class _TannerGraph:
    """Edges of a parity-check matrix, check nodes grouped by degree (no padding).

    Edge slots are laid out group after group; group ``(offset, d, m)`` holds its ``m`` check
    nodes of degree ``d`` as a ``[d, m]`` block (slot ``offset + i * m + r`` is the i-th edge
    of the r-th check node of the group). ``vn`` maps slots to variable nodes and
    ``half_sum`` is the [N, E] sparse matrix that sums half the check-to-variable messages
    into their variable nodes.
    """

    def __init__(self, pcm, device: torch.device):
        pcm = sp.csr_matrix(pcm)
        pcm.sort_indices()
        num_cns, num_vns = pcm.shape
        degree = np.diff(pcm.indptr)
        groups, vn_slots, offset = [], [], 0
        for d in np.unique(degree[degree > 0]):
            rows = np.flatnonzero(degree == d)
            cols = pcm.indices[pcm.indptr[rows][None, :] + np.arange(d)[:, None]]  # [d, m]
            vn_slots.append(cols.reshape(-1))
            groups.append((offset, int(d), len(rows)))
            offset += int(d) * len(rows)
        vn = np.concatenate(vn_slots)
        self.num_cns, self.num_vns, self.num_edges = num_cns, num_vns, offset
        self.groups = groups
        self.max_group = max(m for _, _, m in groups)
        self.vn = torch.as_tensor(vn, dtype=torch.long, device=device)
        half_sum = sp.csr_matrix((np.full(offset, 0.5, np.float32), (vn, np.arange(offset))),
                                 shape=(num_vns, offset))
        half_sum.sort_indices()
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            self.half_sum = torch.sparse_csr_tensor(
                torch.as_tensor(half_sum.indptr, dtype=torch.long, device=device),
                torch.as_tensor(half_sum.indices, dtype=torch.long, device=device),
                torch.as_tensor(half_sum.data, device=device), size=half_sum.shape, check_invariants=False)


class _FloodingBoxplusBP(LDPCBPDecoder):
    """Replaces :meth:`LDPCBPDecoder.call` (message passing only) with the fast version.

    Placed after :class:`LDPC5GDecoder` in the MRO of :class:`FastLDPCDecoder`, so that
    ``LDPC5GDecoder.call``'s ``super().call(llr_5g, ...)`` (Sionna's rate recovery, then BP)
    lands here.
    """

    def call(self, llr_ch: Tensor, /, *, num_iter: Optional[int] = None,
             msg_v2c: Optional[Tensor] = None) -> Tensor:
        if msg_v2c is not None or self._return_state:
            raise ValueError("FastLDPCDecoder does not take or return the decoder state (msg_v2c / return_state)")
        num_iter = self._num_iter if num_iter is None else int(num_iter)
        shape = llr_ch.shape
        llr = llr_ch.reshape(-1, self._num_vns)
        if self._llr_max is not None:
            llr = llr.clamp(-self._llr_max, self._llr_max)
        # Sionna's inputs are logits log p(1)/p(0); BP runs on LLRs log p(0)/p(1), here halved.
        half_llr = llr.to(torch.float32).mul(-0.5)
        soft, iters, ok = self._run_bp(half_llr, num_iter)
        self._last_num_iter, self._last_syndrome_ok = iters, ok
        if self._hard_out:
            x_hat = (soft <= 0).to(self.dtype)
        else:
            x_hat = soft.mul(-2.0)
            if self._llr_max is not None:
                x_hat = x_hat.clamp(-self._llr_max, self._llr_max)
            x_hat = x_hat.to(self.dtype)
        return x_hat.reshape(shape)

    # ------------------------------------------------------------------ message passing

    def _run_bp(self, half_llr: Tensor, num_iter: int):
        """Flooding BP on [B, N] halved LLRs; returns ([B, N] halved APP LLRs, iters, syndrome ok)."""
        g: _TannerGraph = self._graph
        total, num_vns, num_edges = half_llr.shape[0], g.num_vns, g.num_edges
        dev = half_llr.device
        app = torch.empty(total, num_vns, device=dev)
        iters = torch.zeros(total, dtype=torch.int32, device=dev)
        ok = torch.zeros(total, dtype=torch.bool, device=dev)
        if total == 0:
            return app, iters, ok

        cap = min(total, self._batch_size)
        buf = self._workspace(cap, dev)
        b = cap
        # column j of the batch holds codeword owner[j] (-1: finished, kept until compaction)
        owner = torch.arange(b, device=dev)
        it_done = torch.zeros(b, dtype=torch.int32, device=dev)
        next_cw = b
        lch = buf["lch"][0][: num_vns * b].view(num_vns, b)
        lch.copy_(half_llr[:b].t())
        lapp = buf["lapp"][0][: num_vns * b].view(num_vns, b)
        lapp.copy_(lch)
        c2v = buf["c2v"][0][: num_edges * b].view(num_edges, b)
        c2v.zero_()
        side = 0  # which of the double buffers is current

        while True:
            work = buf["work"][: num_edges * b].view(num_edges, b)
            torch.index_select(lapp, 0, g.vn, out=work)  # halved APP LLR of every edge's VN

            need_check = self._early_stop or bool((it_done >= num_iter).any())
            if need_check:
                sat = self._syndrome_ok(work, buf["hard"][: num_edges * b].view(num_edges, b))
                finished = (sat & (it_done > 0)) if self._early_stop else torch.zeros_like(sat)
                finished |= it_done >= num_iter
                finished &= owner >= 0
            else:
                finished = None
            if finished is not None and bool(finished.any()):
                cols = torch.nonzero(finished).squeeze(1)
                who = owner[cols]
                app[who] = lapp[:, cols].t()
                iters[who] = it_done[cols]
                ok[who] = sat[cols]
                owner[cols] = -1
                n_new = min(len(cols), total - next_cw)
                if n_new > 0:  # continuous batching: waiting codewords take the freed columns
                    new_cols = cols[:n_new]
                    new_llr = half_llr[next_cw:next_cw + n_new]
                    owner[new_cols] = torch.arange(next_cw, next_cw + n_new, device=dev)
                    next_cw += n_new
                    it_done[new_cols] = 0
                    lch[:, new_cols] = new_llr.t()
                    lapp[:, new_cols] = new_llr.t()
                    c2v[:, new_cols] = 0.0
                    work[:, new_cols] = new_llr[:, g.vn].t()
                live = owner >= 0
                n_live = int(live.sum())
                if n_live == 0:
                    break
                if b - n_live >= max(1, b // 8):  # input exhausted: shrink the batch
                    keep = torch.nonzero(live).squeeze(1)
                    side = 1 - side
                    nb = len(keep)
                    lch = torch.index_select(lch, 1, keep, out=buf["lch"][side][: num_vns * nb].view(num_vns, nb))
                    lapp = torch.index_select(lapp, 1, keep,
                                              out=buf["lapp"][side][: num_vns * nb].view(num_vns, nb))
                    c2v = torch.index_select(c2v, 1, keep,
                                             out=buf["c2v"][side][: num_edges * nb].view(num_edges, nb))
                    owner, it_done, b = owner[keep], it_done[keep], nb
                    work = buf["work"][: num_edges * b].view(num_edges, b)
                    torch.index_select(lapp, 0, g.vn, out=work)

            # variable-to-check (halved): x/2 = APP/2 - c2v/2; t = tanh(x/2). Clipping x to
            # +-llr_max (Sionna) does not change t in float32: tanh saturates at |x/2| > 9.01.
            work.sub_(c2v, alpha=0.5).tanh_()
            self._check_update(work, c2v, buf["scratch"][: g.max_group * b].view(g.max_group, b))
            # 2 atanh(e) = log((1 + e) / (1 - e)) = log(1 + 2 e / (1 - e)), |e| <= 1 - 1e-7,
            # so |c2v| <= 16.6355 as with Sionna's boxplus-phi
            c2v.clamp_(-_ATANH_CLIP, _ATANH_CLIP)
            torch.sub(buf["one"], c2v, out=work)
            torch.addcdiv(buf["one"], c2v, work, value=2.0, out=c2v).log_()
            # APP/2 = llr/2 + sum(c2v)/2  (sparse matrix of 0.5s)
            torch.addmm(lch, g.half_sum, c2v, out=lapp)
            it_done += 1
        return app, iters, ok

    def _check_update(self, t: Tensor, out: Tensor, scratch: Tensor) -> None:
        """Extrinsic products out_i = prod_{i' != i} t_i' per check node (prefix x suffix)."""
        b = t.shape[1]
        for offset, d, m in self._graph.groups:
            tt = t[offset:offset + d * m].view(d, m, b)
            oo = out[offset:offset + d * m].view(d, m, b)
            if d == 1:  # a lone bit in a check is 0: certain message
                oo[0].fill_(1.0)
                continue
            oo[1].copy_(tt[0])
            for i in range(2, d):  # prefix products
                torch.mul(oo[i - 1], tt[i - 1], out=oo[i])
            suffix = scratch[:m]
            suffix.copy_(tt[d - 1])
            for i in range(d - 2, 0, -1):  # times suffix products
                oo[i].mul_(suffix)
                suffix.mul_(tt[i])
            oo[0].copy_(suffix)

    def _syndrome_ok(self, half_app_edges: Tensor, hard: Tensor) -> Tensor:
        """[b] bool: hard decisions (APP <= 0 -> 1, as Sionna) satisfy every check."""
        torch.le(half_app_edges, 0.0, out=hard)
        bits = hard.view(torch.uint8)
        b = hard.shape[1]
        bad = torch.zeros(b, dtype=torch.uint8, device=hard.device)
        for offset, d, m in self._graph.groups:
            parity = bits[offset:offset + d * m].view(d, m, b).sum(0, dtype=torch.uint8)
            bad.bitwise_or_(parity.bitwise_and_(1).amax(0))
        return bad == 0

    def _workspace(self, cap: int, dev: torch.device) -> dict:
        """Flat buffers for one call, reused by every iteration (a fresh large tensor per
        operation would cost page faults each time). The second copies are only touched when
        the batch shrinks."""
        g = self._graph
        e, nv = g.num_edges, g.num_vns
        return {
            "one": torch.ones((), device=dev),
            "work": torch.empty(e * cap, device=dev),
            "hard": torch.empty(e * cap, dtype=torch.bool, device=dev),
            "scratch": torch.empty(g.max_group * cap, device=dev),
            "c2v": [torch.empty(e * cap, device=dev) for _ in range(2)],
            "lch": [torch.empty(nv * cap, device=dev) for _ in range(2)],
            "lapp": [torch.empty(nv * cap, device=dev) for _ in range(2)],
        }


class FastLDPCDecoder(LDPC5GDecoder, _FloodingBoxplusBP):
    """Drop-in for Sionna's ``LDPC5GDecoder`` (flooding boxplus BP), with early stopping.

    Same inputs and outputs as ``LDPC5GDecoder``: logits log p(1)/p(0) of the ``n`` rate-matched
    codeword bits ``[..., n]`` in, hard (or soft) info bits ``[..., k]`` out. Sionna's 5G rate
    recovery is reused unchanged; only the message passing is replaced (see the module doc).

    :param encoder: the :class:`LDPC5GEncoder` of the code.
    :param num_iter: maximum BP iterations (Sionna's default 20).
    :param early_stop: stop iterating a codeword once its hard decision satisfies all parity
        checks (checked after every iteration; at least one iteration always runs). With
        ``False`` every codeword runs exactly ``num_iter`` iterations, as Sionna does.
    :param batch_size: codewords decoded side by side; working memory is about
        ``batch_size * (13 * edges + 16 * variable nodes)`` bytes (120 MB for 256 codewords of
        the (6144, 4096) code).
    Other keywords (``hard_out``, ``return_infobits``, ``llr_max``, ``precision``, ``device``)
    as for ``LDPC5GDecoder``; the ``cn_update``/``cn_schedule`` are fixed to boxplus/flooding.

    After each call, ``last_num_iter`` ([B] int32) and ``last_syndrome_ok`` ([B] bool) hold the
    iterations used and the parity-check status of each codeword; :meth:`decode` returns all three.
    """

    def __init__(self, encoder: LDPC5GEncoder, num_iter: int = 20, early_stop: bool = True,
                 batch_size: int = 256, hard_out: bool = True, return_infobits: bool = True,
                 llr_max: Optional[float] = 20.0, precision: Optional[str] = None,
                 device: Optional[str] = None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        super().__init__(encoder, cn_update="boxplus", cn_schedule="flooding", hard_out=hard_out,
                         return_infobits=return_infobits, num_iter=num_iter, llr_max=llr_max,
                         precision=precision, device=device)
        self._early_stop = bool(early_stop)
        self._batch_size = int(batch_size)
        self._graph = _TannerGraph(self._pcm, torch.device(self.device))
        self._last_num_iter = torch.zeros(0, dtype=torch.int32)
        self._last_syndrome_ok = torch.zeros(0, dtype=torch.bool)

    @property
    def early_stop(self) -> bool:
        return self._early_stop

    @property
    def last_num_iter(self) -> Tensor:
        """[B] int32: iterations run per codeword in the last call."""
        return self._last_num_iter

    @property
    def last_syndrome_ok(self) -> Tensor:
        """[B] bool: whether each codeword's decision satisfied all parity checks in the last call."""
        return self._last_syndrome_ok

    def decode(self, llr_ch: Tensor, num_iter: Optional[int] = None) -> DecoderOutput:
        """Decode and return bits with the per-codeword iteration counts and syndrome status."""
        bits = self(llr_ch, num_iter=num_iter)
        return DecoderOutput(bits, self._last_num_iter, self._last_syndrome_ok)


# --------------------------------------------------------------------------- encoder


def _gf2_inverse(mat: np.ndarray) -> np.ndarray:
    """Inverse of a square binary matrix over GF(2) (Gauss-Jordan)."""
    size = mat.shape[0]
    aug = np.concatenate([mat.astype(np.uint8) & 1, np.eye(size, dtype=np.uint8)], axis=1)
    for col in range(size):
        pivots = np.flatnonzero(aug[col:, col]) + col
        if len(pivots) == 0:
            raise ValueError("matrix is singular over GF(2)")
        aug[[col, pivots[0]]] = aug[[pivots[0], col]]
        rows = np.flatnonzero(aug[:, col])
        rows = rows[rows != col]
        aug[rows] ^= aug[col]
    return aug[:, size:]


def _csr(mat, device) -> Tensor:
    mat = sp.csr_matrix(mat, dtype=np.float32)
    mat.sort_indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.as_tensor(mat.indptr, dtype=torch.long, device=device),
                                       torch.as_tensor(mat.indices, dtype=torch.long, device=device),
                                       torch.as_tensor(mat.data, device=device), size=mat.shape,
                                       check_invariants=False)


class FastLDPCEncoder(nn.Module):
    """Same codewords as Sionna's ``LDPC5GEncoder(bits)`` (rv 0), computed with sparse products.

    5G parity-check matrices are H = [[A, B, 0], [C1, C2, I]] with B (4Z x 4Z) invertible, so
    p_a = B^-1 A s and p_b = C1 s + C2 p_a (mod 2) (TS 38.212 5.3.2; Sionna's "RU" encoder).
    Only the parity bits that survive rate matching are computed; the bits then go through
    the encoder's own selection (skip the first 2Z, drop fillers, keep n) and bit interleaver.
    """

    def __init__(self, encoder: LDPC5GEncoder):
        super().__init__()
        self.encoder = encoder
        k, kl, z, n = encoder.k, encoder.k_ldpc, encoder.z, encoder.n
        pcm = sp.csr_matrix(encoder.pcm)
        # positions of the full codeword c = [s, p_a, p_b] that reach the channel, in order
        sent = np.concatenate([np.arange(2 * z, k), kl + np.arange(n - (k - 2 * z))])
        if encoder.num_bits_per_symbol is not None:
            sent = sent[encoder.out_int.cpu().numpy()]
        n_pb = max(0, int(sent.max()) + 1 - kl - 4 * z)
        dev = torch.device(encoder.device)
        self.k, self.k_ldpc, self.n_pa, self.n_pb = k, kl, 4 * z, n_pb
        self.a = _csr(pcm[:4 * z, :kl], dev)
        self.b_inv = torch.as_tensor(_gf2_inverse(pcm[:4 * z, kl:kl + 4 * z].toarray()),
                                     dtype=torch.float32, device=dev)
        self.c1 = _csr(pcm[4 * z:4 * z + n_pb, :kl], dev)
        self.c2 = _csr(pcm[4 * z:4 * z + n_pb, kl:kl + 4 * z], dev)
        self.register_buffer("sent", torch.as_tensor(sent, dtype=torch.long, device=dev))

    def forward(self, bits: Tensor) -> Tensor:
        """[B, k] 0/1 -> [B, n] float 0/1 rate-matched (and interleaved) codewords."""
        batch = bits.shape[0]
        s = torch.zeros(self.k_ldpc, batch, device=bits.device)  # filler bits are 0
        s[:self.k] = bits.t()
        p_a = torch.remainder(self.b_inv @ torch.remainder(torch.sparse.mm(self.a, s), 2.0), 2.0)
        p_b = torch.remainder(torch.sparse.mm(self.c1, s) + torch.sparse.mm(self.c2, p_a), 2.0)
        return torch.cat([s, p_a, p_b]).index_select(0, self.sent).t().contiguous()


# --------------------------------------------------------------------------- demapper


class SeparableQAMDemapper(nn.Module):
    """Exact "app" LLRs of Sionna's square Gray QAM, computed per real dimension.

    Sionna's "qam" constellation (TS 38.211 5.1) is the product grid of two Gray PAMs, and
    every label bit depends on only the real or only the imaginary part. With circular noise
    CN(0, N0), the per-bit sums over the constellation in Sionna's ``Demapper("app", ...)``
    factorise, and the factor of the other dimension cancels, so

        LLR_i = log sum_{a: b_i(a)=1} exp(-(y_d - a)^2 / N0) - log sum_{a: b_i(a)=0} exp(-(y_d - a)^2 / N0)

    over the sqrt(M) levels a of the bit's dimension d: the same LLRs (logits log p(1)/p(0),
    bit 0 = MSB of the label) at 2 sqrt(M) instead of M distances per symbol. The structure is
    derived from (and checked against) Sionna's own constellation points.
    """

    def __init__(self, bits_per_symbol: int):
        super().__init__()
        points = Mapper("qam", bits_per_symbol).constellation.points.detach().to(torch.complex128).cpu()
        q, m = int(bits_per_symbol), points.numel()
        labels = (torch.arange(m)[:, None] >> torch.arange(q - 1, -1, -1)) & 1  # [M, q], bit 0 = MSB
        parts = (points.real, points.imag)
        levels = [torch.unique(p.round(decimals=12)) for p in parts]
        if len(levels[0]) * len(levels[1]) != m:
            raise ValueError("constellation is not a square product grid")
        level_idx = [torch.searchsorted(lv, p.round(decimals=12)) for lv, p in zip(levels, parts)]
        dims, masks = [], []
        for i in range(q):  # the dimension whose level determines label bit i
            for d in (0, 1):
                bit_of_level = {}
                for a, bit in zip(level_idx[d].tolist(), labels[:, i].tolist()):
                    bit_of_level.setdefault(a, set()).add(bit)
                if all(len(v) == 1 for v in bit_of_level.values()):
                    dims.append(d)
                    masks.append(torch.tensor([bit_of_level[a] == {1} for a in range(len(levels[d]))]))
                    break
            else:
                raise ValueError(f"label bit {i} depends on both I and Q: not separable")
        self.bits_per_symbol = q
        self.levels = [[float(a) for a in lv] for lv in levels]  # per dimension, ascending
        # per label bit: its dimension and the level indices where the bit is 1 / 0
        self.bit_levels = [(d, torch.nonzero(mask).squeeze(1).tolist(), torch.nonzero(~mask).squeeze(1).tolist())
                           for d, mask in zip(dims, masks)]

    @staticmethod
    def _logsumexp(terms: list) -> Tensor:
        peak = terms[0]
        for t in terms[1:]:
            peak = torch.maximum(peak, t)
        acc = None
        for t in terms:
            # clamp: exp below -87 is a (slow) float32 denormal and adds < 1e-38 anyway
            e = (t - peak).clamp_(min=-80.0).exp_()
            acc = e if acc is None else acc.add_(e)
        return acc.log_().add_(peak)

    def forward(self, y: Tensor, no) -> Tensor:
        """y: [..., S] complex symbols; no: N0 (scalar or broadcastable to y). -> [..., S q] logits."""
        inv_no = 1.0 / torch.as_tensor(no, dtype=torch.float32, device=y.device).clamp_min(
            torch.finfo(torch.float32).tiny)
        parts = (y.real.to(torch.float32), y.imag.to(torch.float32))
        # metric[d][a] = -(y_d - a)^2 / N0, one contiguous [..., S] tensor per level
        metric = [[(p - a).square_().mul_(-inv_no) for a in lv] for p, lv in zip(parts, self.levels)]
        llr = torch.empty(*y.shape, self.bits_per_symbol, device=y.device)
        for i, (d, ones, zeros) in enumerate(self.bit_levels):
            llr[..., i] = (self._logsumexp([metric[d][a] for a in ones])
                           - self._logsumexp([metric[d][a] for a in zeros]))
        return llr.reshape(*y.shape[:-1], y.shape[-1] * self.bits_per_symbol)


# --------------------------------------------------------------------------- link


class LinkResult(NamedTuple):
    """Outcome of :meth:`LDPCQAMLink.forward` for B codewords."""

    bits: Tensor  #: [B, k] float 0/1 decoded information bits
    success: Tensor  #: [B] bool, decoded bits == transmitted bits (the codeword got through)
    num_iter: Tensor  #: [B] int32 BP iterations used
    syndrome_ok: Tensor  #: [B] bool, decoder's parity checks satisfied


def _as_bits(bits: ArrayLike, k: int, device) -> Tensor:
    u = torch.as_tensor(np.asarray(bits) if not isinstance(bits, Tensor) else bits, device=device)
    if u.dim() != 2 or u.shape[1] != k:
        raise ValueError(f"bits must have shape (B, k={k}), got {tuple(u.shape)}")
    if u.numel() and not bool(((u == 0) | (u == 1)).all()):
        raise ValueError("bits must be 0/1")
    return u.to(torch.float32)


class LDPCQAMLink(CodewordGeometry, nn.Module):
    """Exact coded link: 5G LDPC (k, n) -> Gray QAM -> complex AWGN -> app demapper -> BP.

    ``forward(bits, snr_db, generator=None, codewords=None)`` sends each row of ``bits``
    (B, k) as one codeword of ``n // bits_per_symbol`` complex channel uses and returns a
    :class:`LinkResult` (decoded bits, per-codeword success = decoded == transmitted, ...).

    * ``snr_db``: Es/N0 per complex channel use, SNR = P / sigma^2 with the unit-energy QAM
      (P = 1) and CN(0, sigma^2) noise (docs/conventions.md, "Channels and SNR"); a scalar, or
      one value per codeword (B,), e.g. |h|^2 SNR for a block-fading codeword with perfect CSI
      (for constant h over the codeword, zero forcing and demapping with sigma^2 / |h|^2 is
      exactly that AWGN link).
    * ``generator``: ``torch.Generator`` for the noise (reproducible for a given seed and
      ``block_size``).
    * ``codewords``: precomputed ``encode(bits)`` to skip encoding when the same data is sent
      at several SNRs.
    * ``n`` must be a multiple of ``bits_per_symbol`` (the 5G bit interleaver works on whole
      symbols). For other lengths pad the codeword length up to the next multiple, i.e. use
      ``n = bits_per_symbol * ceil(n / bits_per_symbol)`` (:func:`jscc_core.digital.mcs.codeword_length`
      does this); the few extra bits are extra parity from the 5G circular buffer.

    The code is Sionna's ``LDPC5GEncoder(k, n, num_bits_per_symbol)`` (TS 38.212 lifting, rate
    matching and 5.4.2.2 bit interleaver), whose codewords :class:`FastLDPCEncoder` reproduces
    bit for bit; bits are Gray-mapped by Sionna's "qam" ``Mapper``, demapped with exact "app"
    LLRs (:class:`SeparableQAMDemapper`, equal to Sionna's ``Demapper("app", "qam", q)``; pass
    ``demapper="sionna"`` to use Sionna's) and decoded by :class:`FastLDPCDecoder` (at most
    ``num_iter`` iterations).
    """

    def __init__(self, k: int, n: int, bits_per_symbol: int, num_iter: int = 20, early_stop: bool = True,
                 demapper: str = "separable", block_size: int = 4096, decoder_batch_size: int = 256,
                 device: str | torch.device = "cpu"):
        super().__init__()
        k, n, q = int(k), int(n), int(bits_per_symbol)
        if q < 2 or q % 2:
            raise ValueError(f"bits_per_symbol must be even and >= 2 (square QAM), got {bits_per_symbol!r}")
        if n % q:
            raise ValueError(
                f"n={n} is not a multiple of bits_per_symbol={q}: pad the codeword to "
                f"n={q * math.ceil(n / q)} (see jscc_core.digital.mcs.codeword_length)")
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size!r}")
        self.k, self.n, self.bits_per_symbol = k, n, q
        self.block_size = int(block_size)
        # Encoding, mapping and the noise (from the caller's CPU generator) run on the CPU, so a
        # seed gives the same channel on every device; demapping and BP decoding on ``device``.
        self.decode_device = torch.device(device)
        self.encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=q, device="cpu")
        self.fast_encoder = FastLDPCEncoder(self.encoder)
        self.mapper = Mapper("qam", q, device="cpu")
        self.channel = ComplexAWGN()
        if demapper == "separable":
            self.demapper = SeparableQAMDemapper(q).to(self.decode_device)
        elif demapper == "sionna":
            self.demapper = Demapper("app", "qam", q, device=str(self.decode_device))
        else:
            raise ValueError(f"demapper must be 'separable' or 'sionna', got {demapper!r}")
        self.decoder = FastLDPCDecoder(self.encoder, num_iter=num_iter, early_stop=early_stop,
                                       batch_size=decoder_batch_size, device=str(self.decode_device))

    def encode(self, bits: ArrayLike) -> Tensor:
        """(B, k) bits -> (B, n) float 0/1 codewords (rate-matched and bit-interleaved)."""
        return self.fast_encoder(_as_bits(bits, self.k, self.encoder.device))

    def forward(self, bits: ArrayLike, snr_db, generator: Optional[torch.Generator] = None,
                codewords: Optional[Tensor] = None) -> LinkResult:
        u = _as_bits(bits, self.k, self.encoder.device)
        batch = u.shape[0]
        check_snr_db(snr_db)
        snr = torch.as_tensor(snr_db, dtype=torch.float32)
        if snr.dim() > 1 or (snr.dim() == 1 and snr.shape[0] != batch):
            raise ValueError(f"snr_db must be a scalar or have shape ({batch},), got {tuple(snr.shape)}")
        if codewords is not None:
            codewords = torch.as_tensor(codewords, dtype=torch.float32)
            if codewords.shape != (batch, self.n):
                raise ValueError(f"codewords must have shape ({batch}, {self.n}), got {tuple(codewords.shape)}")

        # demapper working set ~ symbols x 2^q points per codeword; keep it to ~2^22 values
        sub = max(1, (1 << 22) // (self.num_symbols << self.bits_per_symbol))
        outs = []
        for start in range(0, batch, self.block_size):
            stop = min(batch, start + self.block_size)
            llr = torch.empty(stop - start, self.n, device=self.decode_device)
            for s0 in range(start, stop, sub):
                s1 = min(stop, s0 + sub)
                c = codewords[s0:s1] if codewords is not None else self.fast_encoder(u[s0:s1])
                snr_i = snr if snr.dim() == 0 else snr[s0:s1]
                y = self.channel(self.mapper(c), snr_db=snr_i, generator=generator)
                no = snr_db_to_noise_var(snr_i)
                no = (no if no.dim() == 0 else no[:, None]).to(self.decode_device)
                llr[s0 - start:s1 - start] = self.demapper(y.to(self.decode_device), no)
            outs.append(self.decoder.decode(llr))
        if not outs:
            empty = torch.zeros(0, dtype=torch.bool)
            return LinkResult(u.clone(), empty, torch.zeros(0, dtype=torch.int32), empty)
        bits_hat = torch.cat([o.bits for o in outs]).cpu()
        return LinkResult(bits_hat, (bits_hat == u).all(1), torch.cat([o.num_iter for o in outs]).cpu(),
                          torch.cat([o.syndrome_ok for o in outs]).cpu())

    def extra_repr(self) -> str:
        return (f"k={self.k}, n={self.n}, bits_per_symbol={self.bits_per_symbol}, "
                f"num_iter={self.decoder.num_iter}, early_stop={self.decoder.early_stop}, "
                f"decode_device={self.decode_device}")


@lru_cache(maxsize=None)
def _shared_link(k: int, n: int, bits_per_symbol: int, num_iter: int, device: str) -> LDPCQAMLink:
    return LDPCQAMLink(k, n, bits_per_symbol, num_iter=num_iter, device=device)


_link_device = "cpu"


def set_link_device(device: str | torch.device) -> None:
    """Where the links :func:`link_for` builds from now on demap and BP-decode (a stage's
    ``device`` setting, resolved by ``jscc_core.training.resolve_device``)."""
    global _link_device
    _link_device = str(torch.device(device))


def link_for(mcs: MCS, num_iter: int = 20) -> LDPCQAMLink:
    """The exact :class:`LDPCQAMLink` of a modulation-and-coding scheme.

    ``mcs``: the scheme (its ``k``, ``n`` and ``bits_per_symbol``); ``num_iter``: maximum BP
    iterations. The link (separable app demapper, early stopping) is built once per
    (k, n, bits_per_symbol, num_iter) and then shared: building it derives the code's Tanner
    graph and encoder matrices, and a call keeps no state a later call depends on (the noise
    comes from the ``generator`` each call is given). It decodes on the device of
    :func:`set_link_device` (the CPU unless a stage set it).
    """
    return _shared_link(mcs.k, mcs.n, mcs.bits_per_symbol, int(num_iter), _link_device)
