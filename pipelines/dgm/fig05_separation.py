"""Fig. 5, scheme (1): HEVC-intra + 5G NR LDPC + QAM with adaptive coding and modulation (AMC).

    python -m pipelines.dgm.fig05_separation records --profile mini --data data \\
        --split results/mini/gjscc/split.json --out-dir results/mini/dgm/fig05

writes three records (:mod:`pipelines.dgm.fig05_record`), one per way the transmitter learns the SNR:
``separation_amc`` (the estimate is the actual SNR), ``separation_stale`` (estimate
``dgm.fig05.separation.stale_estimate_db[i]`` for actual SNR ``dgm.fig05.snr_db[i]``) and
``separation_fixed`` (one MCS chosen for ``fixed_estimate_db``, sent at every SNR).

Per face: the budget is k = floor(rho 3 H W) complex channel uses (rho = ``dgm.fig05.max_rho``).
The MCS table is TS 38.214 Table 5.1.3.1-1 (indices 0-28), each entry with the information length
``ldpc_k`` when one such codeword fits k, else the largest k_i (12 <= k_i <= 8448) whose codeword of
``codeword_length(k_i, R, Q_m) / Q_m`` symbols fits (:func:`amc_table`; then one codeword per face).
AMC picks the entry of largest spectral efficiency whose BLER threshold at the *estimated* SNR meets
``target_bler`` (:func:`~jscc_core.digital.mcs.select_mcs`; the threshold rule
:func:`~jscc_core.digital.mcs.snr_threshold_db` accounts for the short block); below every threshold
nothing is sent; entries below ``lowest_mcs`` are left out of the table.  The face is HEVC-coded to
the largest stream that fits the codewords' bits minus the 24-bit CRC (``count``: "payload" charges
the HEVC NAL units, parameter sets included, the receiver rebuilding the HEIF container; "slice" the
coded slice alone, the receiver holding the parameter sets and container for the coded size), sent
at the *actual* SNR through the exact 5G LDPC link (BP decoding, seeded;
:func:`~jscc_core.digital.separation.evaluate_separation`).  A face that is not sent or not decoded
shows the per-pixel mean of the training faces.  TS 38.214 entries 0-2 (R < 1/5) have no exact
link: the stage stops with an error naming the entry if a face fits one.

Resolution per MCS: the sender may code the face downsampled by a factor of ``scales`` (area
averaging; the receiver upsamples bicubically to 64 px, :class:`~jscc_core.digital.codecs.Rescaled`).
The factor is chosen once per MCS, hence per bit budget, by a design both ends know (no side bit):
the factor with the best mean PSNR after upsampling (a face that does not fit counts as the mean
face) over the first ``design_faces`` training faces at that MCS's budget (:func:`design_scales`).
Finished points are kept in ``--partial`` (default checkpoints/<profile>/dgm/fig05_separation), so an
interrupted run resumes; they are dropped once the records are written.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from jscc_core.channels import SNR_DB_RANGE, check_snr_db
from jscc_core.determinism import seed_everything
from jscc_core.digital.codecs import HEVCIntra, ImageCodec, Rescaled
from jscc_core.digital.mcs import (
    MCS,
    TS38214_MCS_TABLE,
    codeword_length,
    select_mcs,
    snr_threshold_db,
    ts38214_mcs,
)
from jscc_core.digital.rate_control import EncodingCache, counted_bytes, fit_to_budget
from jscc_core.digital.separation import (
    CRC_BITS,
    ImageResult,
    channel_uses_budget,
    evaluate_separation,
    mcs_frame_budget,
)
from jscc_core.metrics import psnr
from jscc_core.registry import sha256_file
from jscc_core.results import atomic_write_bytes
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm import paths
from pipelines.dgm.fig05_record import test_faces, write_record
from pipelines.dgm.keys import FIG05_SEPARATION_KEYS, fingerprint
from pipelines.gjscc.common import split_faces
from pipelines.profile import load

SCHEMES = tuple(s for s in paths.FIG05_SCHEMES if s.startswith("separation_"))  # amc, stale, fixed
#: The exact 5G LDPC link (Sionna) supports code rates k / n >= 1/5 only.
MIN_LINK_RATE = Fraction(1, 5)


def fitted_k(index: int, channel_uses: int, ldpc_k: int) -> int | None:
    """Information bits per codeword of TS 38.214 entry ``index`` within ``channel_uses`` complex uses:
    ``ldpc_k`` if its codeword fits, else the largest k (12 <= k < ldpc_k) whose codeword
    (``codeword_length(k, R, Q_m) / Q_m`` symbols) fits; None if not even k = 12 fits."""
    e = TS38214_MCS_TABLE[index]
    rate = Fraction(e.rate_x1024, 1024)

    def symbols(k: int) -> int:
        return codeword_length(k, rate, e.qm) // e.qm

    if not 12 <= int(ldpc_k) <= 8448:
        raise ValueError(f"dgm.fig05.separation.ldpc_k = {ldpc_k}: 5G NR LDPC needs 12 <= k <= 8448")
    if symbols(ldpc_k) <= channel_uses:
        return int(ldpc_k)
    if symbols(12) > channel_uses:
        return None
    lo, hi = 12, int(ldpc_k) - 1  # symbols(k) is non-decreasing in k: bisect for the last k that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if symbols(mid) <= channel_uses else (lo, mid - 1)
    return lo


def amc_table(channel_uses: int, ldpc_k: int, lowest: int = 0) -> list[MCS]:
    """The TS 38.214 table-1 MCSs (index order) with their fitted k (:func:`fitted_k`); entries
    whose shortest codeword exceeds ``channel_uses`` and entries below index ``lowest`` are left out."""
    if not 0 <= int(lowest) < len(TS38214_MCS_TABLE):
        raise ValueError(f"dgm.fig05.separation.lowest_mcs = {lowest}: a TS 38.214 table-1 index, "
                         f"0..{len(TS38214_MCS_TABLE) - 1}")
    out = []
    for e in TS38214_MCS_TABLE[int(lowest):]:
        k = fitted_k(e.index, channel_uses, ldpc_k)
        if k is not None:
            out.append(ts38214_mcs(e.index, k))
    if not out:
        raise ValueError(f"no TS 38.214 MCS has a codeword within {channel_uses} channel uses")
    return out


def mcs_index(mcs: MCS) -> int:
    """I_MCS of an MCS made by :func:`~jscc_core.digital.mcs.ts38214_mcs` (its name "MCS<i> ...")."""
    return int(mcs.name.split()[0][3:])


def choose_mcs(estimate_db: float, table: list[MCS], target_bler: float) -> MCS | None:
    """The MCS AMC picks for an estimated SNR: the largest spectral efficiency of ``table`` whose
    threshold (:func:`~jscc_core.digital.mcs.snr_threshold_db` at ``target_bler``) the estimate
    meets, or None when no entry does (nothing is sent)."""
    return select_mcs(check_snr_db(float(estimate_db)), table, target_bler=target_bler)


def estimates_db(profile, scheme: str) -> list[float]:
    """Per actual SNR of ``dgm.fig05.snr_db``, the SNR estimate the transmitter picks the MCS for."""
    actual = snr_list(profile, "dgm.fig05.snr_db")
    if scheme == "separation_amc":
        return actual
    if scheme == "separation_stale":
        stale = snr_list(profile, "dgm.fig05.separation.stale_estimate_db")
        if len(stale) != len(actual):
            raise ValueError(f"dgm.fig05.separation.stale_estimate_db has {len(stale)} values, dgm.fig05.snr_db "
                             f"{len(actual)}: one estimate per actual SNR")
        return stale
    if scheme == "separation_fixed":
        return snr_list(profile, "dgm.fig05.separation.fixed_estimate_db") * len(actual)
    raise ValueError(f"unknown separation scheme {scheme!r}; one of {SCHEMES}")


def snr_list(profile, key: str) -> list[float]:
    """The SNR(s) of profile key ``key`` (a number or a list), each checked against the channel's range."""
    value = profile.get(key)
    if value is None:
        raise ValueError(f"profile {profile.name}: {key} is not set")
    values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    for v in values:
        try:
            check_snr_db(v)
        except ValueError:
            raise ValueError(f"{key}: {v:g} dB is not a valid SNR; it must be finite and within "
                             f"[{SNR_DB_RANGE[0]:g}, {SNR_DB_RANGE[1]:g}] dB") from None
    return values


def label(profile, scheme: str) -> str:
    """The row's legend: the codec chain and how the SNR estimate relates to the actual SNR."""
    base = "HEVC-intra + 5G LDPC + QAM"
    if scheme == "separation_amc":
        return f"{base}, AMC (SNR_AMC = SNR)"
    if scheme == "separation_fixed":
        return f"{base}, fixed MCS (SNR_AMC = {float(profile.get('dgm.fig05.separation.fixed_estimate_db')):g} dB)"
    offsets = {round(e - a, 6) for e, a in zip(estimates_db(profile, scheme), snr_list(profile, "dgm.fig05.snr_db"))}
    return f"{base}, stale AMC (SNR_AMC = SNR {offsets.pop():+g} dB)" if len(offsets) == 1 else \
        f"{base}, stale AMC (SNR_AMC != SNR)"


def mean_face(profile, split: str | Path, root: str | Path) -> tuple[np.ndarray, int]:
    """(float (H, W, 3) in [0, 1], N): the per-pixel mean of the N training faces of gjscc's split."""
    _, faces = split_faces(profile, split, root, "train")
    if not len(faces):
        raise ValueError(f"{split}: the training split is empty; the mean face needs training faces")
    return faces.astype(np.float64).mean(axis=0) / 255.0, len(faces)


def design_faces(profile, split: str | Path, root: str | Path) -> np.ndarray:
    """uint8 (D, H, W, 3): the first ``dgm.fig05.separation.design_faces`` training faces, on which
    the resolution per MCS is chosen (:func:`design_scales`)."""
    n = int(profile.get("dgm.fig05.separation.design_faces"))
    _, faces = split_faces(profile, split, root, "train", limit=n)
    if len(faces) < n:
        raise ValueError(f"dgm.fig05.separation.design_faces = {n}, but {split} has {len(faces)} training faces")
    return faces


def scales_of(profile) -> list[int]:
    """``dgm.fig05.separation.scales``: the downsampling factors the sender may use, checked."""
    scales = [int(f) for f in profile.get("dgm.fig05.separation.scales")]
    if not scales or len(set(scales)) != len(scales) or min(scales) < 1:
        raise ValueError(f"dgm.fig05.separation.scales = {scales}: distinct integer factors >= 1")
    return scales


def design_scales(mcss: list[MCS], channel_uses: int, faces: np.ndarray, fallback: np.ndarray, *, codec: ImageCodec,
                  scales: list[int], count: str, cache: EncodingCache) -> dict[str, dict]:
    """The resolution each MCS sends at: per MCS (its frame budget within ``channel_uses``), the factor
    of ``scales`` whose faces - coded to the budget at 1/factor size and upsampled by the receiver -
    have the best mean PSNR over ``faces`` (uint8 (D, H, W, 3), design faces both ends know); a face
    no stream fits counts as ``fallback`` (float (H, W, 3) in [0, 1]).  Ties go to the earlier factor.

    Returns {MCS name: {"scale": factor, "budget_bits": b, "mean_psnr_db": {factor: dB},
    "fits": {factor: faces that fit}}}."""
    shown_lost = np.rint(fallback * 255.0).astype(np.uint8)
    out = {}
    for mcs in mcss:
        budget = mcs_frame_budget(channel_uses, mcs)[1]
        mean, fits = {}, {}
        for f in scales:
            rescaled = Rescaled(codec, f)
            shown = np.empty_like(faces)
            fits[f] = 0
            for i, face in enumerate(faces):
                rc = fit_to_budget(rescaled, face, budget, count=count, cache=cache)
                shown[i] = rescaled.decode(rc.data, face.shape) if rc.fits else shown_lost
                fits[f] += int(rc.fits)
            mean[f] = float(psnr(_as_tensor(faces), _as_tensor(shown)).mean())
        best = max(scales, key=lambda f: (mean[f], -scales.index(f)))
        out[mcs.name] = {"scale": best, "budget_bits": budget,
                         "mean_psnr_db": {str(f): round(mean[f], 3) for f in scales},
                         "fits": {str(f): fits[f] for f in scales}}
    return out


class Partial:
    """The points (scheme, SNR index) a previous run finished, one .npz each in ``folder``, valid for
    one fingerprint (profile keys, split and faces); another fingerprint's points are set aside."""

    def __init__(self, folder: str | Path, fp: str):
        self.folder, self.fp = Path(folder), fp
        stamp = self.folder / "fingerprint.txt"
        if stamp.is_file() and stamp.read_text().strip() != fp:
            old = self.folder.with_name(f"{self.folder.name}.{stamp.read_text().strip()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.folder, old)
            tqdm.write(f"{self.folder} is from another configuration; kept as {old}, starting afresh")
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(stamp, (fp + "\n").encode())

    def _path(self, scheme: str, j: int) -> Path:
        return self.folder / f"{scheme}_{j}.npz"

    def get(self, scheme: str, j: int) -> tuple[np.ndarray, np.ndarray, dict] | None:
        path = self._path(scheme, j)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return z["images"], z["uses"], json.loads(str(z["point"]))
        except (OSError, ValueError, KeyError):
            tqdm.write(f"{path} cannot be read; recomputing its point")
            return None

    def put(self, scheme: str, j: int, images: np.ndarray, uses: np.ndarray, point: dict) -> None:
        buf = io.BytesIO()
        np.savez(buf, images=images, uses=uses, point=np.array(json.dumps(point)))
        atomic_write_bytes(self._path(scheme, j), buf.getvalue())

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def transmit(scheme: str, profile, ids: list[str], faces: np.ndarray, fallback: np.ndarray, *, codec: HEVCIntra,
             cache: EncodingCache, design: dict[str, dict] | None = None, bar=None,
             partial: Partial | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Send every face at every actual SNR of ``dgm.fig05.snr_db`` with the MCS AMC picks for the
    scheme's estimate, at that MCS's resolution.  ``faces``: uint8 (N, H, W, 3); ``fallback``: float
    (H, W, 3) in [0, 1]; ``design``: :func:`design_scales` of (at least) every MCS picked (None: every
    face at full size); ``partial``: points already done are taken from it, new ones saved to it.

    Returns (images uint8 (S, N, H, W, 3) shown by the receiver, channel uses spent (S, N),
    one dict per SNR: the estimate, MCS, k, n, budget bits, scale, per-face status, quality and stream bits)."""
    cfg = profile.get("dgm.fig05.separation")
    rho = float(profile.get("dgm.fig05.max_rho"))
    actual = snr_list(profile, "dgm.fig05.snr_db")
    estimates = estimates_db(profile, scheme)
    budget = channel_uses_budget(faces.shape[1:3], rho)
    table = amc_table(budget, int(cfg["ldpc_k"]), int(cfg["lowest_mcs"]))
    target = float(cfg["target_bler"])
    shown_lost = np.rint(fallback * 255.0).astype(np.uint8)
    by_id = dict(zip(ids, faces))
    images = np.empty((len(actual), len(ids)) + faces.shape[1:], dtype=np.uint8)
    uses = np.zeros((len(actual), len(ids)))
    points = []
    for j, (snr, est) in enumerate(zip(actual, estimates)):
        done = partial.get(scheme, j) if partial is not None else None
        if done is not None:
            images[j], uses[j] = done[0], done[1]
            points.append(done[2])
            if bar is not None:
                bar.update(1)
            continue
        mcs = choose_mcs(est, table, target)
        if mcs is not None and design is not None and mcs.name not in design:
            raise ValueError(f"{scheme}: no resolution was designed for {mcs.name}")
        scale = 1 if mcs is None or design is None else int(design[mcs.name]["scale"])
        sender = Rescaled(codec, scale)
        if mcs is None:  # nothing is sent: every face is lost, no channel use spent
            results = [ImageResult(i, codec.name, "none", "exact", snr, rho, budget, 0, 0.0, 0, None, 0, 0,
                                   "no_fit", math.nan, math.nan) for i in ids]
        else:
            try:
                results = evaluate_separation(by_id, codec=sender, snr_db=snr, bandwidth_ratio=rho, mcs=mcs,
                                              mode="exact", seed=int(profile["seed"]), fallback=fallback,
                                              count=cfg["count"], num_iter=int(cfg["num_iter"]), cache=cache,
                                              progress=False)
            except ValueError as exc:
                if Fraction(mcs.k, mcs.n) < MIN_LINK_RATE:
                    raise ValueError(f"{scheme}: at estimated SNR {est:g} dB AMC picks {mcs.name} (rate "
                                     f"{mcs.k}/{mcs.n} < 1/5) and a face fits it, but the exact 5G LDPC link has no "
                                     f"rate below 1/5 ({exc})") from None
                raise
        for i, r in enumerate(results):
            if r.status == "ok":  # every codeword decoded as sent (ideal CRC): the clean stream's picture
                images[j, i] = sender.decode(cache.encode(sender, faces[i], r.quality), faces[i].shape)
            else:
                images[j, i] = shown_lost
            uses[j, i] = r.channel_uses_spent
        counts = Counter(r.status for r in results)
        point = {"snr_db": snr, "estimate_db": est, "budget_channel_uses": budget, "target_bler": target,
                 "scale": scale, "coded_size": faces.shape[1] // scale}
        if mcs is None:
            point.update(mcs=None, reason=f"no MCS meets BLER {target:g} at {est:g} dB: nothing is sent")
        else:
            point.update(mcs=mcs.name, mcs_index=mcs_index(mcs), qm=mcs.bits_per_symbol,
                         code_rate=f"{mcs.code_rate.numerator}/{mcs.code_rate.denominator}", k=mcs.k, n=mcs.n,
                         symbols_per_codeword=mcs.num_symbols, threshold_db=round(snr_threshold_db(mcs, target), 3),
                         codewords_max=mcs_frame_budget(budget, mcs)[0], budget_bits=mcs_frame_budget(budget, mcs)[1])
        point.update(loss_rate=sum(r.lost for r in results) / len(results),
                     status_counts={s: counts.get(s, 0) for s in ("ok", "no_fit", "decode_failure", "corrupt_stream")},
                     status=[r.status for r in results], quality=[r.quality for r in results],
                     stream_bits=[r.stream_bits for r in results], codewords=[r.codewords for r in results],
                     mean_psnr=float(psnr(_as_tensor(faces), _as_tensor(images[j])).mean()))
        points.append(point)
        if partial is not None:
            partial.put(scheme, j, images[j], uses[j], point)
        if bar is not None:
            bar.update(1)
    return images, uses, points


def smallest_stream_bits(codec: ImageCodec, faces: np.ndarray, count: str, cache: EncodingCache) -> list[int]:
    """Counted bits of each face's lowest-quality stream (QP 51): what the budget must hold to send it."""
    lo = codec.quality_range[0]
    return [8 * counted_bytes(codec, cache.encode(codec, face, lo), count) for face in faces]


def receiver_held_bits(codec: HEVCIntra, face: np.ndarray, scale: int, cache: EncodingCache) -> tuple[int, int]:
    """(parameter-set bits, other header bits) of a face's stream at 1/``scale`` size: what the receiver
    holds for that coded size in "slice" mode (the HEIF file minus the slice; the same for every face)."""
    rescaled = Rescaled(codec, scale)
    data = cache.encode(rescaled, face, codec.quality_range[0])
    sets = codec.payload_bytes(data) - codec.slice_bytes(data)
    return 8 * sets, 8 * (len(data) - codec.slice_bytes(data) - sets)


def first_fit(table: list[MCS], channel_uses: int, bits: int) -> MCS | None:
    """The lowest-rate MCS of ``table`` whose frame carries ``bits`` stream bits (CRC included), or None."""
    return next((m for m in table if mcs_frame_budget(channel_uses, m)[1] >= bits), None)


def _as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def count_note(count: str, budget: int, table: list[MCS], held: dict[int, tuple[int, int]], file_bits: int,
               size: int) -> str:
    """What ``count`` charges and what the receiver is assumed to know; ``held``: per scale, the
    (parameter-set bits, other header bits) of :func:`receiver_held_bits`; ``file_bits``: the bits
    of a face's HEIF file (``size`` px) minus its NAL units (container)."""
    most = max(mcs_frame_budget(budget, m)[1] for m in table)
    if count == "payload":
        return (f"charged: the HEVC NAL units, parameter sets (VPS, SPS, PPS) and slice (count = payload); assumed "
                f"known at the receiver: the HEIF container and the NAL length fields ({file_bits} bits per face, "
                f"rebuilt from the image size and codec settings), against at most {most} stream bits per face")
    if count == "slice":
        sizes = ", ".join(f"{size // s} px: {p} + {c} bits" for s, (p, c) in sorted(held.items()))
        return ("charged: the coded slice NAL unit alone, the file's tail (count = slice); assumed known at the "
                "receiver, per coded size and encoder setting (identical for every face and QP): the parameter sets "
                f"(VPS, SPS, PPS) and the HEIF container with the length fields it fills from the stream length "
                f"({sizes}), against at most {most} stream bits per face")
    return f"charged: the whole HEIF file (count = file), its boxes {file_bits} bits per face"


def notes(profile, table: list[MCS], budget: int, n_train: int, smallest: dict[int, list[int]], count_text: str,
          design: dict[str, dict], size: int) -> list[str]:
    """The record's notes: what the baseline stands in for, what is charged, the resolution per MCS,
    the fitted k, the fallback.  ``smallest``: per scale, the faces' smallest counted stream bits."""
    cfg = profile.get("dgm.fig05.separation")
    ldpc_k = int(cfg["ldpc_k"])
    short = [f"MCS{mcs_index(m)}: k={m.k}" for m in table if m.k != ldpc_k]
    target = float(cfg["target_bler"])

    def smallest_note(scale: int, bits: list[int]) -> str:
        first = first_fit(table, budget, min(bits))
        return (f"at {size // scale} px the faces' smallest HEVC streams (QP 51) take {min(bits)}-{max(bits)} counted "
                f"bits; " + (f"the first MCS whose frame holds the smallest is {first.name} (k={first.k}), usable from "
                             f"an estimate of {snr_threshold_db(first, target):.2f} dB" if first
                             else "no MCS of the table holds even the smallest"))

    chosen = "; ".join(f"{name.split()[0]} ({d['budget_bits']} bits): 1/{d['scale']} ("
                       + ", ".join(f"1/{f}: {v:.2f} dB" for f, v in d["mean_psnr_db"].items()) + ")"
                       for name, d in design.items())
    return [smallest_note(s, b) for s, b in sorted(smallest.items())] + [
        "HEVC-intra (x265, HEIF; preset " + str(cfg["preset"]) + ") stands in for VTM, which codes faces better: "
        "this separation baseline is weaker than the paper's",
        count_text,
        f"resolution per MCS: the face is coded at 1/s size for s in {scales_of(profile)} (Pillow area averaging "
        f"down, bicubic up to {size} px at the receiver), s chosen once per MCS as the best mean PSNR over the first "
        f"{cfg['design_faces']} training faces at that MCS's budget (a face that does not fit counts as the mean "
        f"face); both ends know this design, so no side bit is sent: " + (chosen or "no MCS picked"),
        f"AMC table: TS 38.214 entries {int(cfg['lowest_mcs'])}-28 (lowest_mcs)" + (
            f"; entries 0-{int(cfg['lowest_mcs']) - 1} are left out (the exact 5G LDPC link has no code rate below "
            "1/5, entries 0-2): below the lowest entry's threshold nothing is sent" if int(cfg["lowest_mcs"]) > 0
            else ""),
        f"one transport block per face with a {CRC_BITS}-bit CRC (CRC24A) charged to the budget; detection is "
        "ideal; the stream length is known to the receiver (as 5G's control channel gives the transport block "
        "size) and not charged",
        f"budget {budget} complex channel uses per face (rho = {profile.get('dgm.fig05.max_rho')}); LDPC "
        f"information length {ldpc_k} where one such codeword fits, else the largest k that fits (one codeword "
        f"per face): " + (", ".join(short) if short else "none shortened"),
        f"AMC: TS 38.214 Table 5.1.3.1-1, the largest spectral efficiency whose SNR threshold for BLER "
        f"{cfg['target_bler']} (jscc_core.digital.mcs.snr_threshold_db, block length included) is at most the "
        f"estimate; exact 5G LDPC link (BP, {cfg['num_iter']} iterations) at the actual SNR",
        f"a lost face (not sent, not decoded) shows the per-pixel mean of the {n_train} training faces",
    ]


def cmd_records(args) -> None:
    started = time.perf_counter()
    profile = load(args.profile)
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    for scheme in SCHEMES:
        estimates_db(profile, scheme)  # every SNR and estimate checked before any face is loaded
    ids, faces = test_faces(profile, args.split, args.data)
    fallback, n_train = mean_face(profile, args.split, args.data)
    cfg = profile.get("dgm.fig05.separation")
    rho = float(profile.get("dgm.fig05.max_rho"))
    budget = channel_uses_budget(faces.shape[1:3], rho)
    table = amc_table(budget, int(cfg["ldpc_k"]), int(cfg["lowest_mcs"]))
    scales = scales_of(profile)
    codec = HEVCIntra(preset=str(cfg["preset"]))
    cache = EncodingCache()
    count = str(cfg["count"])
    smallest = {s: smallest_stream_bits(Rescaled(codec, s), faces, count, cache) for s in scales}
    first = cache.encode(codec, faces[0], codec.quality_range[0])
    held = {s: receiver_held_bits(codec, faces[0], s, cache) for s in scales} if count == "slice" else {}
    count_text = count_note(count, budget, table, held, 8 * (len(first) - codec.payload_bytes(first)),
                            faces.shape[1])
    picked = {m.name: m for scheme in SCHEMES for est in estimates_db(profile, scheme)
              if (m := choose_mcs(est, table, float(cfg["target_bler"]))) is not None}
    t0 = time.perf_counter()
    design = design_scales(sorted(picked.values(), key=mcs_index), budget, design_faces(profile, args.split, args.data),
                           fallback, codec=codec, scales=scales, count=count, cache=cache)
    tqdm.write(f"resolution per MCS ({time.perf_counter() - t0:.1f} s): " + ", ".join(
        f"{name.split()[0]} 1/{d['scale']}" for name, d in design.items()))
    out_dir = Path(args.out_dir or paths.fig05_root(profile))
    fp = fingerprint(profile, FIG05_SEPARATION_KEYS, split=sha256_file(args.split), ids=ids)
    partial = Partial(args.partial or f"checkpoints/{profile.name}/dgm/fig05_separation", fp)
    n_snr = len(snr_list(profile, "dgm.fig05.snr_db"))
    with tqdm(total=len(SCHEMES) * n_snr, desc="fig05 separation", mininterval=1.0,
              disable=os.environ.get("JSCC_PROGRESS", "1") == "0") as bar:
        for scheme in SCHEMES:
            t0 = time.perf_counter()
            images, uses, points = transmit(scheme, profile, ids, faces, fallback, codec=codec, cache=cache,
                                           design=design, bar=bar, partial=partial)
            npz, js = (out_dir / Path(p).name for p in paths.fig05_record(profile, scheme))
            meta = {"scheme": scheme, "label": label(profile, scheme), "profile": profile.name,
                    "seed": int(profile["seed"]), "codec": codec.label, "preset": codec.preset, "count": count,
                    "ldpc_k": int(cfg["ldpc_k"]), "mode": "exact", "num_iter": int(cfg["num_iter"]),
                    "amc_table": [{"mcs": m.name, "index": mcs_index(m), "k": m.k, "n": m.n,
                                   "symbols": m.num_symbols, "threshold_db": round(snr_threshold_db(
                                       m, float(cfg["target_bler"])), 3)} for m in table],
                    "mean_face": {"split": str(args.split), "part": "train", "faces": n_train},
                    "smallest_stream_bits": {str(s): b for s, b in smallest.items()}, "points": points,
                    "scale_design": {"part": "train", "faces": int(cfg["design_faces"]), "scales": scales,
                                     "upsampling": "bicubic", "downsampling": "area (Pillow BOX)", "by_mcs": design},
                    "notes": notes(profile, table, budget, n_train, smallest, count_text, design, faces.shape[1]) + [
                        f"{q['mcs']} (at {q['snr_db']:g} dB) has rate < 1/5, which the exact link lacks; no face "
                        "fits it, so no link was needed"
                        for q in points if q["mcs"] and Fraction(q["k"], q["n"]) < MIN_LINK_RATE],
                    "threads": torch.get_num_threads(), "wall_time_s": round(time.perf_counter() - t0, 3)}
            write_record(npz, js, ids=ids, snr_db=[p["snr_db"] for p in points], images=images,
                         channel_uses=uses, max_rho=rho, meta=meta)
            tqdm.write(f"{scheme}: " + ", ".join(
                f"{p['snr_db']:g} dB ({p['mcs'].split()[0] + ' 1/' + str(p['scale']) if p['mcs'] else 'none'}) "
                f"loss {p['loss_rate']:.2f}, {p['mean_psnr']:.2f} dB"
                for p in points))
    partial.clear()
    print(f"wrote {', '.join(s + '.npz/.json' for s in SCHEMES)} to {out_dir} in "
          f"{time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.fig05_separation", __doc__)
    p = add("records", cmd_records, out=False, data=True)
    p.add_argument("--split", required=True, help="split.json of the face set (the gjscc_split stage)")
    p.add_argument("--out-dir", default=None, help="folder of the three records (default: the profile's fig05 root)")
    p.add_argument("--partial", default=None, help="folder of finished points, to resume an interrupted run "
                                                   "(default: checkpoints/<profile>/dgm/fig05_separation)")
    run_stage(parser, argv, (ValueError, FileNotFoundError))


if __name__ == "__main__":
    main()
