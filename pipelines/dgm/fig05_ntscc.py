"""Fig. 5, scheme (2), strongly-coupled JSCC: NTSCC (Dai et al., JSAC 2022) trained on gjscc's faces and
sent at every SNR of ``dgm.fig05.snr_db`` within the figure's bandwidth ratio.

    python -m pipelines.dgm.fig05_ntscc train-ntc --profile mini --data data \\
        --split results/mini/gjscc/split.json --out results/mini/dgm/fig05/models/ntscc_ntc
    python -m pipelines.dgm.fig05_ntscc train-ntscc --profile mini --data data \\
        --split results/mini/gjscc/split.json --ntc results/mini/dgm/fig05/models/ntscc_ntc \\
        --out results/mini/dgm/fig05/models/ntscc
    python -m pipelines.dgm.fig05_ntscc evaluate --profile mini --data data \\
        --split results/mini/gjscc/split.json --model results/mini/dgm/fig05/models/ntscc \\
        --out results/mini/dgm/fig05/ntscc.npz

The models are NTSCC's image models (``pipelines.ntscc.images``: the same configuration, training loop
and objectives) with the sizes, rate weight and schedules of the profile block ``dgm.fig05.ntscc``,
trained on the training faces of gjscc's split: first the NTC (eq. 13), then NTSCC from it
(Algorithm 1), one SNR of ``train_snr_db`` drawn per minibatch (a single value: one training SNR).

Bandwidth (docs/bandwidth.md): a face costs k = k_y + k_z + k_q complex channel uses, z̄'s real
bitstream and the rate indices charged over the side-information link (``side_info``; capacity:
log2(1 + SNR) bits per use, so they cost most at the lowest SNR).  The transmitter sends each face at
each SNR with the largest η of ``eta`` whose k fits ``dgm.fig05.max_rho`` · 3HW (rate control on the
transmitter's side: the receiver needs only the signalled rate indices, not η); a face that fits
with no η is sent at the smallest and the record refuses it (:func:`write_record`).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from jscc_core.capacity import awgn_capacity
from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.metrics import psnr
from jscc_core.profiles import ProfileError
from jscc_core.registry import RegistryError, read_checksums
from jscc_core.tracking import track_run
from jscc_core.training import CheckpointError, TrainSchedule, describe_device, load_weights, weights_digest
from ntscc.image.model import ImageNTSCC, eval_mode
from ntscc.image.ntc import ImageNTC
from ntscc.image.objectives import AUX_LEARNING_RATE, ntc_objective, ntscc_objective
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.fig05_record import BandwidthError, test_faces, write_record
from pipelines.dgm.keys import FIG05_NTSCC_KEYS, FIG05_NTSCC_NTC_KEYS, FIG05_NTSCC_TRAIN_KEYS, fingerprint
from pipelines.gjscc.common import as_tensor, as_uint8, read_run, split_faces
from pipelines.ntscc.images import ntc_config, ntscc_config, stage_device, train_model, with_pretrained_ntc
from pipelines.profile import load

EXPERIMENT = "dgm-fig05"
BLOCK = "dgm.fig05.ntscc"
SCHEME = "ntscc"
NOTES = ("The magazine's Fig. 5 cites the improved NTSCC (Wang et al., IEEE JSTSP 2023); this is the NTSCC of "
         "Dai et al., IEEE JSAC 2022 (no SNR input), trained on the faces.",
         "Channel uses per face count k_y + k_z + k_q: the rate tokens' symbols plus z's real bitstream and the rate "
         "indices, both charged over the side-information link (capacity: log2(1 + SNR) bits per complex use).",
         "Each face is sent with the largest eta of the profile's list whose channel uses fit the budget; where none "
         "fits with z (lowest SNRs), without z if the profile allows it: Comparison-I's receiver (no refinement, "
         "k_z = 0, rate indices still sent), see z_sent.")


# --------------------------------------------------------------------------- configuration


def block(profile) -> dict:
    """The profile block ``dgm.fig05.ntscc``, its NTC checked against the face size."""
    cfg = profile.get(BLOCK)
    if cfg is None:
        raise ProfileError(f"{profile.name}: no {BLOCK} block (NTSCC on the faces of Fig. 5)")
    size = int(profile.get("gjscc.image_size"))
    multiple = ntc_config(cfg).multiple
    if size % multiple:
        raise ProfileError(f"{BLOCK}.ntc: {len(cfg['ntc']['depths'])} stages need images a multiple of {multiple} px "
                           f"(g_a's and h_a's down-sampling), but gjscc.image_size is {size}")
    return cfg


def face_checksums(profile) -> dict[str, str]:
    """sha256 of the face set's files this process read (each checked against the registry as it was read)."""
    return read_checksums([str(profile.get("gjscc.data.faces"))])


def transmit_etas(cfg: dict) -> list[float]:
    """``eta`` of the block, largest first: the values the transmitter tries for each face."""
    etas = sorted({float(e) for e in cfg["eta"]}, reverse=True)
    if not etas or etas[-1] <= 0 or not all(math.isfinite(e) for e in etas):
        raise ProfileError(f"{BLOCK}.eta must list positive numbers, got {cfg['eta']!r}")
    return etas


def train_snrs(cfg: dict) -> list[float]:
    """``train_snr_db`` of the block as a list (one value: one training SNR)."""
    snrs = cfg["train_snr_db"]
    return [float(s) for s in (snrs if isinstance(snrs, (list, tuple)) else [snrs])]


def mixed_snr_objective(lmbda: float, snrs: list[float], eta_range, distortion: str = "mse"):
    """Algorithm 1's NTSCC objective (``ntscc_objective``) at one SNR of ``snrs`` drawn per minibatch from
    torch's global generator (saved in the checkpoint, so a resumed run draws the same SNRs)."""
    objectives = [ntscc_objective(lmbda, s, eta_range, distortion) for s in snrs]
    if len(objectives) == 1:
        return objectives[0]

    def loss_fn(model, x):
        i = int(torch.randint(len(objectives), ()))
        loss, logs = objectives[i](model, x)
        return loss, {**logs, "snr_db": snrs[i]}

    return loss_fn


# --------------------------------------------------------------------------- training


def _train(args, profile, kind: str, keys, make_model, loss_fn, sched_kind: str, extra: dict) -> None:
    """Train ``make_model()`` on the training faces of ``args.split`` with ``pipelines.ntscc.images.train_model``,
    its checkpoint keyed by the profile ``keys`` and ``extra`` (the run's parameters besides lambda)."""
    cfg = block(profile)
    sched = TrainSchedule.from_mapping(cfg["schedules"][sched_kind])
    fp = fingerprint(profile, keys, device_as=("device",), kind=kind, aux_learning_rate=AUX_LEARNING_RATE, **extra)
    out = Path(args.out)
    name = f"fig05_{out.name}"
    params = {"lmbda": float(cfg["lmbda"]), "distortion": "mse", "tag": out.name, **extra}

    def faces() -> torch.Tensor:
        _, train = split_faces(profile, args.split, args.data, "train")
        return as_tensor(train)  # (N, 3, S, S) in [0, 1]: minibatches are drawn from it

    train_model(profile, make_model, loss_fn, faces, sched, out,
                Path("checkpoints") / profile.name / "dgm" / "fig05" / out.name / "checkpoint.pt", fp,
                kind=kind, name=name, params=params, run_key=f"dgm_{name}@{fp}",
                log_params={"train_set": str(profile.get("gjscc.data.faces")), "split": str(args.split)},
                checksums=lambda: face_checksums(profile), experiment=EXPERIMENT)


def cmd_train_ntc(args) -> None:
    profile = load(args.profile)
    cfg = block(profile)
    _train(args, profile, "ntc", FIG05_NTSCC_NTC_KEYS, lambda: ImageNTC(ntc_config(cfg)),
           ntc_objective(float(cfg["lmbda"])), "ntc", {})


def cmd_train_ntscc(args) -> None:
    profile = load(args.profile)
    cfg = block(profile)
    ntc = Path(args.ntc) / "model.pt"
    if not ntc.is_file():
        raise FileNotFoundError(f"{ntc}: no trained NTC; run `python -m pipelines.dgm.fig05_ntscc train-ntc` first")
    eta = cfg["eta_train"][0] if len(cfg["eta_train"]) == 1 else tuple(cfg["eta_train"])
    _train(args, profile, "ntscc", FIG05_NTSCC_TRAIN_KEYS, lambda: with_pretrained_ntc(ntscc_config(cfg), str(ntc)),
           mixed_snr_objective(float(cfg["lmbda"]), train_snrs(cfg), eta), "ntscc",
           {"ntc": weights_digest(ntc), "eta_train": eta, "snr_db": train_snrs(cfg)})


# --------------------------------------------------------------------------- evaluation


def load_model(profile, folder: Path) -> tuple[ImageNTSCC, dict]:
    """(NTSCC in eval mode, run.json) of a folder written by ``train-ntscc``."""
    meta = read_run(folder, "NTSCC of Fig. 5 (python -m pipelines.dgm.fig05_ntscc train-ntscc)")
    if meta.get("kind") != "ntscc":
        raise ValueError(f"{folder} holds a {meta.get('kind')!r} model, not the NTSCC of train-ntscc")
    model = ImageNTSCC(ntscc_config(block(profile)))
    return load_weights(model, Path(folder) / "model.pt").eval(), meta


def without_z(model: ImageNTSCC) -> ImageNTSCC:
    """The same weights with the receiver of Comparison-I (Section IV-E): z̄ is not sent (k_z = 0), the rate
    indices are, and ŷ = y̌ without the refinement of eq. (19); the transmitter still allocates rates from z̄."""
    config = model.config.comparison_i()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("jscc.f_d.refinement.")}
    lean = ImageNTSCC(config)
    lean.load_state_dict(state)
    return lean.to(next(model.parameters()).device).eval()


@torch.no_grad()
def send(model: ImageNTSCC, x: torch.Tensor, snr_db: float, etas: list[float], max_uses: float, seed: int,
         lean: ImageNTSCC | None = None) -> tuple[dict[str, torch.Tensor], float, bool]:
    """(forward output, η, whether z̄ was sent) of one face x (1, 3, H, W) over AWGN at ``snr_db``: the
    largest η of ``etas`` (largest first) whose k = k_y + k_z + k_q is at most ``max_uses``; if none fits,
    the same with ``lean`` (:func:`without_z`) when given; else the smallest η (over budget: the record
    refuses it). The channel noise is drawn from ``seed`` whatever η is."""
    for sender, sends_z in ((model, True), (lean, False)):
        if sender is None:
            continue
        with eval_mode(sender):
            analysis = sender.transmitter(x)  # g_a, z̄'s bitstream and the receiver's (μ̄, σ̄), once per face
            for eta in etas:
                out = sender(x, snr_db, eta, generator=seed, analysis=analysis)
                if float(out["k"][0]) <= max_uses:
                    return out, eta, sends_z
    return out, eta, sends_z


def cmd_evaluate(args) -> None:
    profile = load(args.profile)
    cfg = block(profile)
    etas = transmit_etas(cfg)
    device = stage_device(profile)
    seed = stage_seed(int(profile["seed"]), "dgm/fig05/ntscc")
    seed_everything(seed, threads=int(profile["threads"]))
    model, meta = load_model(profile, Path(args.model))
    model.to(device)
    lean = without_z(model) if cfg.get("without_z", False) else None
    ids, faces = test_faces(profile, args.split, args.data)
    snrs = [float(s) for s in profile.get("dgm.fig05.snr_db")]
    max_rho = float(profile.get("dgm.fig05.max_rho"))
    dims = 3 * faces.shape[1] * faces.shape[2]
    max_uses = max_rho * dims
    x_all = as_tensor(faces)
    fp = fingerprint(profile, FIG05_NTSCC_KEYS, device_as=("gjscc.device", "device"), model=meta["run_key"])
    run_key = f"dgm_fig05_ntscc@{fp}"
    started = time.perf_counter()
    images = np.zeros((len(snrs), len(ids), *faces.shape[1:]), dtype=np.uint8)
    parts = {k: np.zeros((len(snrs), len(ids))) for k in ("k", "k_y", "k_z", "k_q", "eta", "z_sent", "psnr")}
    with track_run(EXPERIMENT, "ntscc", params={"profile": profile.name, "snr_db": snrs, "faces": len(ids),
                                                "eta": etas, "max_rho": max_rho},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256, "model_run_id": meta["run_id"]}) as run:
        bar = tqdm(total=len(snrs) * len(ids), desc="fig05 ntscc", mininterval=2.0,
                   disable=os.environ.get("JSCC_PROGRESS", "1") == "0")
        for j, snr in enumerate(snrs):
            for i, face in enumerate(ids):
                x = x_all[i:i + 1].to(device)
                out, eta, sends_z = send(model, x, snr, etas, max_uses, stage_seed(seed, f"{snr}/{face}"), lean)
                images[j, i] = as_uint8(out["x_hat"])[0]
                for k in ("k", "k_y", "k_z", "k_q"):
                    parts[k][j, i] = float(out[k][0])
                parts["eta"][j, i] = eta
                parts["z_sent"][j, i] = sends_z
                bar.update(1)
        bar.close()
        rho = parts["k"] / dims
        for j in range(len(snrs)):  # of the uint8 faces and reconstructions the record holds
            parts["psnr"][j] = psnr(torch.from_numpy(faces), torch.from_numpy(images[j])).numpy()
        for j, snr in enumerate(snrs):
            print(f"{snr:+g} dB: PSNR {parts['psnr'][j].mean():.2f} dB, rho mean {rho[j].mean():.5f} max "
                  f"{rho[j].max():.5f} (k_y {parts['k_y'][j].mean():.1f} + k_z {parts['k_z'][j].mean():.1f} + "
                  f"k_q {parts['k_q'][j].mean():.1f} uses), eta {parts['eta'][j].min():g}..{parts['eta'][j].max():g}, "
                  f"z sent for {int(parts['z_sent'][j].sum())} of {len(ids)} faces")
        wall = time.perf_counter() - started
        info = {"scheme": SCHEME, "label": "NTSCC (Dai et al. 2022), trained on the faces",
                "lambda": float(cfg["lmbda"]), "eta": etas, "eta_sent": parts["eta"].tolist(),
                "z_sent": parts["z_sent"].astype(bool).tolist(), "without_z": bool(cfg.get("without_z", False)),
                "side_info": cfg["side_info"], "train_snr_db": train_snrs(cfg),
                "side_info_bits_per_use": [float(awgn_capacity(s, "complex")) for s in snrs]
                if cfg["side_info"] == "capacity" else None,
                "rho_mean_per_snr": rho.mean(1).tolist(), "rho_max_per_snr": rho.max(1).tolist(),
                "psnr_mean_per_snr": parts["psnr"].mean(1).tolist(),
                **{f"{k}_per_face": parts[k].tolist() for k in ("k_y", "k_z", "k_q")},
                "notes": list(NOTES), "run_id": run.run_id, "run_key": run_key, "model_run_id": meta["run_id"],
                "model_run_key": meta["run_key"], "parameters": meta["parameters"], "device": describe_device(device),
                "wall_time_s": round(wall, 3), "data_checksums": {**meta.get("data_checksums", {}),
                                                                  **face_checksums(profile)}}
        run.log_metrics({"psnr_mean": float(parts["psnr"].mean()), "rho_max": float(rho.max()), "seconds": wall})
        out_npz = Path(args.out)
        out_npz.parent.mkdir(parents=True, exist_ok=True)
        write_record(out_npz, out_npz.with_suffix(".json"), ids=ids, snr_db=snrs, images=images,
                     channel_uses=parts["k"], max_rho=max_rho, meta=info)
    print(f"ntscc: {len(ids)} faces x {len(snrs)} SNRs -> {out_npz} ({wall:.0f} s)")


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.fig05_ntscc", __doc__)
    for name, fn in (("train-ntc", cmd_train_ntc), ("train-ntscc", cmd_train_ntscc), ("evaluate", cmd_evaluate)):
        p = add(name, fn, data=True)
        p.add_argument("--split", required=True, help="gjscc's split.json (the gjscc_split stage)")
        if name == "train-ntscc":
            p.add_argument("--ntc", required=True, help="folder of the trained NTC (train-ntc)")
        if name == "evaluate":
            p.add_argument("--model", required=True, help="folder of the trained NTSCC (train-ntscc)")
    run_stage(parser, argv, (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ValueError,
                             BandwidthError))


if __name__ == "__main__":
    main()
