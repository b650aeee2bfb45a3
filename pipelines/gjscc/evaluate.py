"""Evaluations of GJSCC's models on the test faces (Figs. 6-9): per-image LPIPS (VGG, AlexNet), PSNR
and MS-SSIM at every test SNR, and InverseJSCC through every A.

    python -m pipelines.gjscc.evaluate model --profile mini --split results/mini/gjscc/split.json \\
        --model results/mini/gjscc/deepjscc/faces_c2
    python -m pipelines.gjscc.evaluate inverse --profile mini --split results/mini/gjscc/split.json \\
        --deepjscc results/mini/gjscc/deepjscc/faces_c2 --generator results/mini/gjscc/generator/generator.pt \\
        --out results/mini/gjscc/inverse/faces_c2

``model`` sends the first ``gjscc.data.test_limit`` test faces (all without the key) and as many
of the out-of-distribution faces (``gjscc.data.ood_faces``) through a trained DeepJSCC or GenerativeJSCC at
every SNR of ``gjscc.test_snr_db``, one channel draw per face and SNR (seeded by both, so a point
does not change when others are added).  It writes, into the model folder, eval.csv (one row per
face and SNR), eval.json (MLflow run, FD-VGG16 per SNR and set, why FID is not available) and
pictures.npz (the first ``gjscc.fig09.images`` test faces and their reconstructions, Fig. 9).

``inverse`` runs InverseJSCC (:class:`generative_jscc.inverse.InverseJSCC`, eqs. 12-14) on the first
``gjscc.inverse.images`` test faces at every SNR of ``gjscc.inverse.snr_db``: the face goes through
the DeepJSCC (the forward process, one channel draw), and the reconstruction x_hat is inverted
through the same model as A with a fresh channel draw at every step.  eval.csv holds, per face and
SNR, x_hat's metrics (method DeepJSCC) and x*'s (method InverseJSCC); pictures.npz keeps both for
the first ``gjscc.fig07.images`` faces (Fig. 7).  Finished inversions are kept under
checkpoints/<profile>/gjscc/ as they are made, so an interrupted stage resumes where it stopped.
"""
from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from generative_jscc.inverse import InverseJSCC
from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.metrics import Unavailable, fid_unavailable, frechet_distance, ms_ssim, ms_ssim_label, psnr
from jscc_core.profiles import ProfileError
from jscc_core.registry import RegistryError, read_checksums
from jscc_core.results import atomic_write_bytes
from jscc_core.tracking import track_run
from jscc_core.training import CheckpointError, load_checkpoint, weights_digest
from pipelines.cli import run_stage, stage_cli
from pipelines.gjscc import paths
from pipelines.gjscc.common import (
    ImageSizeError,
    as_tensor,
    as_uint8,
    check_image_size,
    check_snrs,
    lpips,
    ood_faces,
    read_run,
    split_faces,
    vgg16_features,
    weights_resolver,
    write_json,
)
from pipelines.gjscc.evals import EVAL_COLUMNS, picture_key
from pipelines.gjscc.generator import load_generator, stage_device
from pipelines.gjscc.keys import EVAL_KEYS, INVERSE_KEYS, key_fingerprint
from pipelines.gjscc.models import load_model
from pipelines.profile import load

EXPERIMENT = "gjscc-evaluate"
BATCH = 16  # images per forward pass of an evaluation
METHOD = {"deepjscc": "DeepJSCC", "generative": "GenerativeJSCC"}


class Metrics:
    """Per-image LPIPS (VGG, AlexNet), PSNR and MS-SSIM with ``scales`` scales, images in [0, 1]."""

    def __init__(self, root, device: torch.device, scales: int):
        self.vgg, self.alex = lpips("vgg", root, device), lpips("alex", root, device)
        self.scales = int(scales)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, x_hat: torch.Tensor) -> list[dict[str, float]]:
        """One dict per image of x, x_hat (B, 3, H, W) in [0, 1] (x_hat clamped first)."""
        x_hat = x_hat.clamp(0, 1)
        values = {"lpips_vgg": self.vgg(x, x_hat), "lpips_alex": self.alex(x, x_hat), "psnr": psnr(x, x_hat),
                  "ms_ssim": ms_ssim(x, x_hat, data_range=1.0, scales=self.scales)}
        return [{k: float(v[i]) for k, v in values.items()} for i in range(x.shape[0])]


@torch.no_grad()
def transmit(model, x: torch.Tensor, snr_db: float, generators: list[torch.Generator]) -> torch.Tensor:
    """x_hat of a batch x (B, 3, S, S): f_theta and the decoder batched, the channel drawn per image
    from its own generator, so an image's reconstruction does not depend on the batch it is in."""
    z = model.f_theta(x, snr_db)
    z_hat = torch.cat([model.channel(z[i:i + 1], snr_db, generator=g) for i, g in enumerate(generators)])
    return model.g_psi(z_hat, snr_db) if hasattr(model, "g_psi") else model.g_phi(z_hat, snr_db)


def channel_generator(seed: int, what: str, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded by the stage seed and ``what`` (SNR and face)."""
    return torch.Generator(device=device).manual_seed(stage_seed(seed, what))


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...] = EVAL_COLUMNS) -> None:
    """eval.csv (or any per-image table): ``columns``, a row's missing ones empty, floats to 6
    significant digits (atomic)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_bytes(path, buf.getvalue().encode())


def save_pictures(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def checksums(profile, keys=("gjscc.data.faces", "gjscc.data.ood_faces")) -> dict[str, str]:
    """sha256 of the registry files of the face sets (profile ``keys``) this evaluation has read, as
    read (each checked against the registry then): their NPZ (a folder of images, the paper's
    CelebA-HQ, has no published checksums)."""
    entries = [profile.get(key) for key in keys if profile.get(key) is not None]
    return {k: v for k, v in read_checksums(entries).items() if k.endswith(".npz")}


def model_runs(meta: dict) -> tuple[dict[str, str], float]:
    """{run key: MLflow run id} and the summed time of a model's training and the runs it started
    from: each run's training seconds over every run behind its checkpoint when recorded (a stage
    that resumed a finished checkpoint took seconds, its model did not), else its wall time."""
    keys, seconds = {}, 0.0
    stack = [meta]
    while stack:
        m = stack.pop()
        if m.get("run_key") and m.get("run_id"):
            keys[m["run_key"]] = m["run_id"]
        seconds += max(float(m.get("wall_time_s", 0.0)), float(m.get("train_time_s") or 0.0))
        stack += [u for u in m.get("upstream", {}).values() if isinstance(u, dict)]
    return keys, seconds


def progress_bar(total: int, desc: str):
    """A tqdm bar of ``total`` items (off when JSCC_PROGRESS=0)."""
    return tqdm(total=total, desc=desc, disable=os.environ.get("JSCC_PROGRESS", "1") == "0", mininterval=2.0)


# --------------------------------------------------------------------------- model


def embed_features(embed, x: torch.Tensor) -> torch.Tensor:
    """(N, 512) float64 features of images x (N, 3, H, W) in [0, 1] by ``embed``, on the CPU."""
    with torch.no_grad():
        return embed(x).double().cpu()


def fd_vgg16(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance of two (N, 512) feature sets."""
    return frechet_distance(real.mean(0), torch.cov(real.T), fake.mean(0), torch.cov(fake.T))


def cmd_model(args) -> None:
    profile = load(args.profile)
    folder = Path(args.model)
    device = stage_device(profile)
    seed_everything(stage_seed(int(profile["seed"]), "gjscc/evaluate"), threads=int(profile["threads"]))
    model, meta = load_model(profile, folder, device)
    kind, method = meta["kind"], METHOD[meta["kind"]]
    snrs = check_snrs(profile.get("gjscc.test_snr_db"), profile.get("gjscc.deepjscc.train_snr_db"),
                      "gjscc.test_snr_db")
    size = int(profile.get("gjscc.image_size"))
    limit = profile.get("gjscc.data.test_limit")
    ids, test = split_faces(profile, args.split, args.data, "test", limit)
    sets = {"test": (str(profile.get("gjscc.data.faces")), ids, test)}
    ood = ood_faces(profile, args.data, limit)
    if ood is not None:
        sets["ood"] = ood
    n_pictures = int(profile.get("gjscc.fig09.images"))
    scales = int(profile.get("gjscc.ms_ssim_scales"))
    metrics = Metrics(args.data, device, scales)
    embed = vgg16_features(args.data, device)
    fid = fid_unavailable(weights_resolver(args.data))
    fp = key_fingerprint(profile, EVAL_KEYS[kind], model=meta["run_key"])
    run_key = f"gjscc_evaluate_{meta['name']}@{fp}"
    seed = stage_seed(int(profile["seed"]), "gjscc/evaluate")
    started = time.perf_counter()
    rows, set_metrics = [], []
    pictures = {"image_ids": np.array(ids[:n_pictures]), "x": test[:n_pictures]}
    model_keys, model_seconds = model_runs(meta)
    with track_run(EXPERIMENT, f"evaluate-{meta['name']}",
                   params={"profile": profile.name, "model": meta["name"], "snr_db": snrs,
                           "images": {k: len(v[1]) for k, v in sets.items()}, "ms_ssim_scales": scales},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256, "model_run_id": meta["run_id"]}) as run:
        bar = progress_bar(len(snrs) * sum(len(v[1]) for v in sets.values()), f"evaluate {meta['name']}")
        for test_set, (entry, set_ids, images) in sets.items():
            x_all = check_image_size(as_tensor(images), size, f"{entry} faces")
            real = None if isinstance(embed, Unavailable) else embed_features(embed, x_all.to(device))
            for snr in snrs:
                recon = []
                for at in range(0, len(set_ids), BATCH):
                    batch_ids, x = set_ids[at:at + BATCH], x_all[at:at + BATCH].to(device)
                    t0 = time.perf_counter()
                    x_hat = transmit(model, x, snr, [channel_generator(seed, f"{snr}/{i}", device) for i in batch_ids])
                    seconds = (time.perf_counter() - t0) / len(batch_ids)
                    for image_id, values in zip(batch_ids, metrics(x, x_hat)):
                        rows.append({"method": method, "model": meta["name"], "domain": meta["domain"],
                                     "c_out": meta["c_out"], "rho": paths.rho(meta["c_out"]), "test_set": test_set,
                                     "dataset": entry, "snr_db": snr, "image_id": image_id, **values,
                                     "seconds": seconds, "run_key": run_key})
                    recon.append(x_hat.clamp(0, 1).cpu())
                    bar.update(len(batch_ids))
                fake = torch.cat(recon)
                if test_set == "test":
                    pictures[picture_key("x_hat", snr)] = as_uint8(fake[:n_pictures])
                entry_fd = {"test_set": test_set, "dataset": entry, "snr_db": snr, "metric": "fd_vgg16",
                            "n_images": len(set_ids)}
                if real is None:
                    set_metrics.append({**entry_fd, "value": None, "reason": embed.reason})
                elif len(set_ids) < 2:
                    set_metrics.append({**entry_fd, "value": None, "reason": "FD-VGG16 needs 2 images or more"})
                else:
                    set_metrics.append({**entry_fd, "value": fd_vgg16(real, embed_features(embed, fake.to(device))),
                                        "features": "ImageNet VGG16 relu5_3, global average pool (512)"})
        bar.close()
        write_csv(folder / "eval.csv", rows)
        save_pictures(folder / "pictures.npz", pictures)
        wall = time.perf_counter() - started
        means = {m: float(np.mean([r[m] for r in rows if r["test_set"] == "test"]))
                 for m in ("lpips_vgg", "lpips_alex", "psnr", "ms_ssim")}
        run.log_metrics({**{f"mean_{k}": v for k, v in means.items()}, "seconds": wall})
        info = {"run_id": run.run_id, "run_key": run_key, "model": meta["name"], "model_run_id": meta["run_id"],
                "model_runs": model_keys, "model_wall_time_s": round(model_seconds, 3),
                "wall_time_s": round(wall, 3), "data_checksums": checksums(profile), "ms_ssim_scales": scales,
                "ms_ssim_label": ms_ssim_label(scales), "set_metrics": set_metrics,
                "fid": {"available": False, "reason": fid.reason}, "a_train_set": meta.get("train_set"),
                "lpips": {"vgg": metrics.vgg.backbone_entry, "alex": metrics.alex.backbone_entry},
                "device": str(device)}
        write_json(folder / "eval.json", info)
        run.log_artifact(folder / "eval.csv")
    print(f"{meta['name']}: {len(rows)} rows, test faces: " + ", ".join(f"{k} {v:.4g}" for k, v in means.items())
          + f" ({wall:.0f} s)")


# --------------------------------------------------------------------------- inverse


def inverse_solver(profile, G, A, perceptual, cfg: dict | None = None) -> InverseJSCC:
    """InverseJSCC with the settings of ``gjscc.inverse`` (or ``cfg``, a mapping of the same keys)."""
    cfg = profile.get("gjscc.inverse") if cfg is None else cfg
    return InverseJSCC(G, A, perceptual, lambdas=[float(v) for v in cfg["lambdas"]],
                       steps=[int(s) for s in cfg["steps"]], learning_rate=float(cfg["learning_rate"]),
                       lr_rampup=float(cfg["lr_rampup"]), lr_rampdown=float(cfg["lr_rampdown"]),
                       latent_samples=int(cfg["latent_samples"]), stats_seed=int(cfg["stats_seed"]),
                       noise_layers=int(cfg["noise_layers"]), spherical=bool(cfg["spherical"]),
                       latent_radius=cfg["latent_radius"], noise_radius=cfg["noise_radius"],
                       state_radius=cfg["state_radius"])


def load_partial(path: Path, fp: str) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """(rows, tensors) a previous run of a stage finished (same fingerprint ``fp``), else empty; a file
    of another configuration is kept aside under its fingerprint, an unreadable one is ignored."""
    if not path.is_file():
        return [], {}
    try:
        state = load_checkpoint(path)
    except CheckpointError:
        tqdm.write(f"{path} cannot be read; starting afresh")
        return [], {}
    if state["fingerprint"] != fp:
        old = path.with_name(f"{path.stem}.{state['fingerprint']}{path.suffix}")
        os.replace(path, old)
        tqdm.write(f"{path} is from another configuration; kept as {old}, starting afresh")
        return [], {}
    return list(state["model"]["rows"]), dict(state["model"]["pictures"])


def save_partial(path: Path, fp: str, rows: list[dict], pictures: dict[str, torch.Tensor]) -> None:
    """Keep a stage's finished ``rows`` and ``pictures`` under fingerprint ``fp`` (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"model": {"rows": rows, "pictures": pictures}, "step": len(rows), "fingerprint": fp}, buf)
    atomic_write_bytes(path, buf.getvalue())


def cmd_inverse(args) -> None:
    profile = load(args.profile)
    device = stage_device(profile)
    seed_everything(stage_seed(int(profile["seed"]), "gjscc/inverse"), threads=int(profile["threads"]))
    A, meta = load_model(profile, args.deepjscc, device)
    if meta["kind"] != "deepjscc":
        raise ValueError(f"{args.deepjscc} holds a {meta['kind']} model; InverseJSCC inverts a DeepJSCC (A)")
    cfg = profile.get("gjscc.inverse")
    snrs = check_snrs(cfg["snr_db"], profile.get("gjscc.deepjscc.train_snr_db"), "gjscc.inverse.snr_db")
    size = int(profile.get("gjscc.image_size"))
    ids, faces = split_faces(profile, args.split, args.data, "test", cfg.get("images"))
    x_all = check_image_size(as_tensor(faces), size, f"{profile.get('gjscc.data.faces')} faces")
    n_pictures = int(profile.get("gjscc.fig07.images"))
    G = load_generator(profile, args.generator, device)
    metrics = Metrics(args.data, device, int(profile.get("gjscc.ms_ssim_scales")))
    solver = inverse_solver(profile, G, A, metrics.vgg)
    gen_meta = Path(args.generator).with_name("run.json")
    generator = {"path": args.generator, "weights_sha256": weights_digest(Path(args.generator))}
    if gen_meta.is_file():
        generator.update({k: v for k, v in read_run(gen_meta.parent, "generator").items()
                          if k in ("run_id", "run_key", "wall_time_s", "train_time_s")})
    fp = key_fingerprint(profile, INVERSE_KEYS, model=meta["run_key"], generator=generator["weights_sha256"])
    name = f"inverse_{meta['domain']}_c{meta['c_out']}"
    run_key = f"gjscc_{name}@{fp}"
    partial = Path("checkpoints") / profile.name / "gjscc" / name / "partial.pt"
    rows, pics = load_partial(partial, fp)
    done = {(float(r["snr_db"]), r["image_id"]) for r in rows if r["method"] == "InverseJSCC"}
    seed = stage_seed(int(profile["seed"]), "gjscc/inverse")
    started = time.perf_counter()
    model_keys, model_seconds = model_runs({**meta, "upstream": {**meta.get("upstream", {}), "generator": generator}})
    common = {"model": meta["name"], "domain": meta["domain"], "c_out": meta["c_out"], "rho": paths.rho(meta["c_out"]),
              "test_set": "test", "dataset": str(profile.get("gjscc.data.faces")), "run_key": run_key}
    with track_run(EXPERIMENT, f"inverse-{meta['domain']}-c{meta['c_out']}",
                   params={"profile": profile.name, "a": meta["name"], "snr_db": snrs, "images": len(ids),
                           "inverse": dict(cfg), "resumed_inversions": len(done)},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256, "model_run_id": meta["run_id"]}) as run:
        bar = progress_bar(len(snrs) * len(ids), f"InverseJSCC {meta['name']}")
        bar.update(len(done))
        for snr in snrs:
            for i, (image_id, x) in enumerate(zip(ids, x_all)):
                if (snr, image_id) in done:
                    continue
                x = x[None].to(device)
                with torch.no_grad():  # the forward process: one channel draw of the DeepJSCC
                    x_hat = A(x, snr, generator=channel_generator(seed, f"fp/{snr}/{image_id}", device)).clamp(0, 1)
                t0 = time.perf_counter()
                result = solver.invert(x_hat, snr, generator=channel_generator(seed, f"ilo/{snr}/{image_id}", device))
                seconds = time.perf_counter() - t0
                rows.append({"method": "DeepJSCC", **common, "snr_db": snr, "image_id": image_id,
                             **metrics(x, x_hat)[0], "seconds": 0.0})
                rows.append({"method": "InverseJSCC", **common, "snr_db": snr, "image_id": image_id,
                             **metrics(x, result.x)[0], "seconds": seconds})
                if i < n_pictures:
                    pics[f"{picture_key('x_hat', snr)}/{image_id}"] = torch.from_numpy(as_uint8(x_hat)[0])
                    pics[f"{picture_key('x_star', snr)}/{image_id}"] = torch.from_numpy(as_uint8(result.x)[0])
                save_partial(partial, fp, rows, pics)
                run.log_metrics({"objective": float(result.loss[0]), "seconds_per_inversion": seconds},
                                step=len(rows) // 2)
                bar.update(1)
        bar.close()
        order = {(s, i): k for k, (s, i) in enumerate((s, i) for s in snrs for i in ids)}
        rows.sort(key=lambda r: (order[float(r["snr_db"]), r["image_id"]], r["method"]))
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(folder / "eval.csv", rows)
        shown = ids[:n_pictures]
        arrays = {"image_ids": np.array(shown), "x": faces[:n_pictures]}
        for kind in ("x_hat", "x_star"):
            for snr in snrs:
                arrays[picture_key(kind, snr)] = np.stack([pics[f"{picture_key(kind, snr)}/{i}"].numpy()
                                                           for i in shown])
        save_pictures(folder / "pictures.npz", arrays)
        wall = time.perf_counter() - started
        inv_seconds = [r["seconds"] for r in rows if r["method"] == "InverseJSCC"]
        gain = float(np.mean([a["lpips_vgg"] - b["lpips_vgg"] for a, b in zip(rows[::2], rows[1::2])]))
        run.log_metrics({"mean_lpips_gain": gain, "mean_seconds_per_inversion": float(np.mean(inv_seconds)),
                         "seconds": wall})
        info = {"run_id": run.run_id, "run_key": run_key, "a": meta["name"], "model_run_id": meta["run_id"],
                "model_runs": model_keys, "model_wall_time_s": round(model_seconds, 3),
                "wall_time_s": round(wall, 3),
                "inversion_seconds": {"mean": float(np.mean(inv_seconds)), "max": float(np.max(inv_seconds)),
                                      "total": float(np.sum(inv_seconds)), "count": len(inv_seconds)},
                "threads": torch.get_num_threads(), "device": str(device),
                "data_checksums": checksums(profile, ("gjscc.data.faces",)), "ms_ssim_scales": metrics.scales,
                "ms_ssim_label": ms_ssim_label(metrics.scales), "a_train_set": meta.get("train_set"),
                "a_train_crop": meta.get("train_crop"), "generator": generator,
                "lpips": {"vgg": metrics.vgg.backbone_entry, "alex": metrics.alex.backbone_entry},
                "channel": "A runs with a fresh channel-noise draw at every ILO step"}
        write_json(folder / "eval.json", info)
        run.log_artifact(folder / "eval.csv")
    print(f"{name}: {len(inv_seconds)} inversions, mean LPIPS (VGG) gain {gain:+.4f}, "
          f"{np.mean(inv_seconds):.1f} s per inversion ({wall:.0f} s)")


# --------------------------------------------------------------------------- command line


USER_ERRORS = (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ImageSizeError, ValueError)


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.gjscc.evaluate", __doc__)
    p = add("model", cmd_model, out=False, data=True)
    p.add_argument("--split", required=True, help="split.json of the face set")
    p.add_argument("--model", required=True, help="trained DeepJSCC or GenerativeJSCC folder (model.pt, run.json)")
    p = add("inverse", cmd_inverse, data=True)
    p.add_argument("--split", required=True, help="split.json of the face set")
    p.add_argument("--deepjscc", required=True, help="trained DeepJSCC folder: the forward process and A")
    p.add_argument("--generator", required=True, help="G's weights (generator.pt)")
    run_stage(parser, argv, USER_ERRORS)


if __name__ == "__main__":
    main()
