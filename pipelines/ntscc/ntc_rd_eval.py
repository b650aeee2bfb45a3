"""Rate-distortion of an NTC with no channel (eqs. 9-13): every test image through the NTC's real
``compress`` -> ``decompress`` (entropy-coded y and z, every byte of both counted), the ceiling
its transforms put on NTSCC.

    python -m pipelines.ntscc.ntc_rd_eval run --profile mini --data data --model results/mini/ntscc/images/ntc_mse_lam64
    python -m pipelines.ntscc.ntc_rd_eval run --profile mini --data data --model DIR/ntscc_mse_lam64

``--model`` is a trained model folder of the block ``ntscc.images``: a pretrained NTC, or an NTSCC
model (Comparison-I too), whose g_a, h_a, h_s, g_s and entropy models after joint training are
evaluated. Writes ``ntc_rd.csv`` (one row per image: bytes of y and z, bpp = 8 bytes / (H W),
PSNR and MS-SSIM of the 8-bit reconstruction, encode and decode seconds) and ``ntc_rd.json`` (MLflow
run, run key, the model's run, wall time, data checksums) into the folder. It runs on the CPU
whatever the profile's ``device``: the range coder works on CPU tensors.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.images import to_tensor, to_uint8
from jscc_core.metrics import ms_ssim, psnr
from jscc_core.profiles import ProfileError, fingerprint
from jscc_core.registry import RegistryError
from jscc_core.tracking import track_run
from jscc_core.training import CheckpointError
from ntscc.image.ntc import ImageNTC
from pipelines.cli import run_stage, stage_cli
from pipelines.ntscc.evals import NTC_OF, RD_COLUMNS, write_eval_csv
from pipelines.ntscc.images import EXPERIMENT, data_checksums, load_model, test_images
from pipelines.ntscc.paths import ntc_rd_files
from pipelines.profile import load


def ntc_of(model, kind: str, folder: Path) -> ImageNTC:
    """The NTC of a loaded model of ``kind`` (from ``folder``, named in errors), CDF tables checked."""
    if kind not in NTC_OF:
        raise ValueError(f"{folder}: a {kind} model has no NTC with a hyperprior to evaluate "
                         f"(kinds: {', '.join(NTC_OF)})")
    ntc = model if kind == "ntc" else model.ntc
    if ntc.entropy_bottleneck._offset.numel() == 0 or ntc.gaussian_conditional._offset.numel() == 0:
        raise CheckpointError(f"{folder / 'model.pt'} has no entropy-coding tables (saved before update()); "
                              "retrain it with the training stage, which builds them")
    return ntc


@torch.no_grad()
def code_image(ntc: ImageNTC, image: np.ndarray) -> dict:
    """One uint8 image (H, W, 3) through ``compress`` -> ``decompress``: bytes of y and z, bpp over
    H W pixels, PSNR (dB) and MS-SSIM of the 8-bit reconstruction, encode and decode seconds."""
    x = to_tensor(image)
    t0 = time.perf_counter()
    coded = ntc.compress(x)
    t1 = time.perf_counter()
    x_hat = ntc.decompress(coded["strings"], coded["shape"])["x_hat"]
    t2 = time.perf_counter()
    bytes_y, bytes_z = (sum(len(s) for s in strings) for strings in coded["strings"])
    h, w = image.shape[:2]
    ref = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    rec = torch.from_numpy(to_uint8(x_hat)).permute(0, 3, 1, 2)  # what a receiver shows: 8 bits
    return {"height": h, "width": w, "bytes_y": bytes_y, "bytes_z": bytes_z, "bpp": 8 * (bytes_y + bytes_z) / (h * w),
            "psnr": float(psnr(ref, rec)[0]), "ms_ssim": float(ms_ssim(ref, rec)[0]), "encode_s": t1 - t0,
            "decode_s": t2 - t1}


def evaluate(profile, folder: Path, data_root: Path) -> list[dict]:
    """Write ``ntc_rd.csv`` and ``ntc_rd.json`` of the model in ``folder``; returns the rows."""
    folder = Path(folder)
    model, meta = load_model(profile, folder)
    kind, p = meta["kind"], meta["params"]
    ntc = ntc_of(model, kind, folder)
    images = test_images(profile, data_root)
    seed_everything(stage_seed(int(profile["seed"]), "ntc_rd"), threads=int(profile["threads"]))
    fp = fingerprint(profile, "ntscc.images", "ntc_rd", model=meta["run_key"])
    run_key = f"ntscc_images_ntc_rd_{meta['name']}@{fp}"
    started = time.perf_counter()
    rows = []
    with track_run(EXPERIMENT, f"ntc-rd-{meta['name']}",
                   params={"profile": profile.name, "model": meta["name"], "images": len(images)},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256, "model_run_id": meta["run_id"]}) as run:
        from tqdm.auto import tqdm

        for image_id, img in tqdm(images.items(), desc=f"NTC rate-distortion {meta['name']}", mininterval=2.0,
                                  disable=os.environ.get("JSCC_PROGRESS", "1") == "0"):
            rows.append({"model": meta["name"], "kind": kind, "ntc": NTC_OF[kind],
                         "distortion": p.get("distortion", "mse"), "lmbda": p.get("lmbda", ""), "image_id": image_id,
                         **code_image(ntc, img), "run_key": run_key})
        csv_path, json_path = map(Path, ntc_rd_files(str(folder)))
        write_eval_csv(csv_path, rows, RD_COLUMNS)
        wall = time.perf_counter() - started
        means = {k: float(np.mean([r[k] for r in rows])) for k in ("bpp", "psnr", "ms_ssim")}
        run.log_metrics({f"mean_{k}": v for k, v in means.items()} | {"seconds": wall})
        run.log_artifact(csv_path)
        info = {"run_id": run.run_id, "run_key": run_key, "model_run_id": meta["run_id"],
                "model_run_key": meta["run_key"], "wall_time_s": round(wall, 3), "device": "cpu", "images": len(rows),
                "ntc_parameters": sum(t.numel() for t in ntc.parameters()), "means": means,
                "train_wall_time_s": max(float(meta["wall_time_s"]), float(meta.get("train_time_s") or 0.0)),
                "data_checksums": {**meta.get("data_checksums", {}), **data_checksums(profile, sets=("test_set",))}}
        json_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"{meta['name']} ({NTC_OF[kind]} NTC): {len(rows)} images, {means['bpp']:.3f} bpp, "
          f"{means['psnr']:.2f} dB, {wall:.0f} s")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser, add_stage = stage_cli("python -m pipelines.ntscc.ntc_rd_eval", __doc__)
    p = add_stage("run", lambda args: evaluate(load(args.profile), Path(args.model), Path(args.data)), out=False,
                  data=True)
    p.add_argument("--model", required=True, help="trained NTC or NTSCC model folder")
    run_stage(parser, argv, (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    main()
