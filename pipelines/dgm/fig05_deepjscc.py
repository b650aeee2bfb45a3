"""Fig. 5's MSE-trained DeepJSCC: gjscc's encoder f_theta / decoder g_phi with AF modules, trained on the
training faces with d = MSE alone at rho = c_out / 1536 (mini and paper: c_out 30, rho 0.0195 <= 0.02),
one SNR drawn per face from ``dgm.fig05.deepjscc.train_snr_db``; then its reconstructions of the test
faces at every SNR of the figure, one seeded channel draw per face and SNR.

    python -m pipelines.dgm.fig05_deepjscc train --profile mini --data data \\
        --split results/mini/gjscc/split.json --out results/mini/dgm/fig05/models/deepjscc_mse
    python -m pipelines.dgm.fig05_deepjscc evaluate --profile mini --data data \\
        --split results/mini/gjscc/split.json --model results/mini/dgm/fig05/models/deepjscc_mse \\
        --out results/mini/dgm/fig05/deepjscc_mse.npz

The same model is the measurement model of posterior sampling (pipelines/dgm/fig05_posterior.py).
Nothing but the c_out / 2 x (H/16)(W/16) complex symbols of f_theta is sent: no side information."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.registry import sha256_file
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.fig05_record import test_faces, write_record
from pipelines.dgm.keys import FIG05_DEEPJSCC_KEYS, FIG05_FACE_KEYS, fingerprint
from pipelines.gjscc import models
from pipelines.gjscc.common import as_tensor, as_uint8, lpips
from pipelines.gjscc.evaluate import channel_generator, transmit
from pipelines.gjscc.generator import stage_device
from pipelines.profile import load

NAME = "deepjscc_mse"
LABEL = "DeepJSCC (MSE)"


def cmd_train(args) -> None:
    profile = load(args.profile)
    cfg = profile.get("dgm.fig05.deepjscc")
    c_out = int(cfg["c_out"])
    fp = fingerprint(profile, FIG05_DEEPJSCC_KEYS, kind="deepjscc", c_out=c_out, split_sha256=sha256_file(args.split))
    device = stage_device(profile)
    data, val, used = models.training_data(profile, "faces", args, device)
    name = f"fig05_{NAME}_c{c_out}"
    seed_everything(stage_seed(int(profile["seed"]), f"dgm/{name}"), threads=int(profile["threads"]))
    model = models.build_deepjscc(profile, c_out).to(device)
    loss = dict(cfg["loss"])
    perceptual = lpips("vgg", args.data, device) if float(loss["lpips"]) > 0 else None
    models.train_model(args, profile, name=name, kind="deepjscc", model=model, fp=fp, data=data, val_images=val,
                       sched_cfg=cfg["schedule"], loss_cfg=loss, perceptual=perceptual, groups=None,
                       info={"domain": "faces", "c_out": c_out, **used}, upstream={},
                       snrs=[float(s) for s in cfg["train_snr_db"]])


def cmd_evaluate(args) -> None:
    started = time.perf_counter()
    profile = load(args.profile)
    seed = int(profile["seed"])
    seed_everything(seed, threads=int(profile["threads"]))
    device = stage_device(profile)
    model, meta = models.load_model(profile, args.model, device)
    c_out = int(profile.get("dgm.fig05.deepjscc.c_out"))
    if meta.get("c_out") != c_out:
        raise ValueError(f"{args.model} holds a DeepJSCC with c_out {meta.get('c_out')}, "
                         f"dgm.fig05.deepjscc.c_out is {c_out}: retrain it")
    ids, faces = test_faces(profile, args.split, args.data)
    snrs = [float(s) for s in profile.get("dgm.fig05.snr_db")]
    x = as_tensor(faces).to(device)
    h, w = faces.shape[1:3]
    images = []
    for snr in snrs:
        gens = [channel_generator(seed, f"dgm/fig05/channel/{snr:g}/{i}", device) for i in ids]
        images.append(as_uint8(transmit(model, x, snr, gens)))
    uses = [[model.channel_uses(h, w)] * len(ids) for _ in snrs]
    write_record(args.out, Path(args.out).with_suffix(".json"), ids=ids, snr_db=snrs, images=np.stack(images),
                 channel_uses=uses,
        max_rho=float(profile.get("dgm.fig05.max_rho")),
        meta={"scheme": NAME, "label": f"{LABEL}, rho {model.rho(h, w):.4f}", "c_out": c_out,
              "fingerprint": fingerprint(profile, FIG05_FACE_KEYS + FIG05_DEEPJSCC_KEYS),
              "model": {k: meta.get(k) for k in ("run_id", "run_key", "train_time_s", "wall_time_s", "steps")},
              "wall_time_s": round(time.perf_counter() - started, 3),
              "notes": [f"DeepJSCC trained with MSE alone on the training faces at SNRs drawn from "
                        f"{profile.get('dgm.fig05.deepjscc.train_snr_db')} dB (one model for every SNR, "
                        f"AF modules); the f_theta symbols are all it sends (rho = {model.rho(h, w):.4f})."]})
    print(f"{NAME}: {len(ids)} faces x {len(snrs)} SNRs -> {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.fig05_deepjscc", __doc__)
    p = add("train", cmd_train, data=True)
    p.add_argument("--split", required=True, help="gjscc's split.json of the face set")
    p = add("evaluate", cmd_evaluate, data=True)
    p.add_argument("--split", required=True, help="gjscc's split.json of the face set")
    p.add_argument("--model", required=True, help="the trained model folder (model.pt, run.json)")
    run_stage(parser, argv, models.USER_ERRORS)


if __name__ == "__main__":
    main()
