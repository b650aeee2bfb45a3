"""Diagnostic: quality and CBR of a trained NTSCC-family model versus the size of the image it sees.

Each test image's top-left S x S square (S the largest tile) is cut into t x t tiles, every tile
is sent on its own (its own z̄, rate indices and channel noise) and the PSNR is taken over the
square, for each t. A model whose f_e / f_d (global attention over the y tokens), hyperprior
(h_a, h_s) or rate allocation does not carry over from the training crops to whole images shows
it as PSNR falling (or CBR rising) with t; a model that does shows PSNR rising a little with t
(less side information per pixel). ``--hyper-tile`` runs h_a / h_s on tiles of the training
crop's size within each image, ``--no-refine`` drops the eq. (19) refinement: together they
tell which part fails to carry over. Writes a JSON of the rows and prints them.

    python -m pipelines.ntscc.tile_sweep --profile mini --data data \\
        --model results/mini/ntscc/images/ntscc_mse_lam64 --tiles 64 128 256 512 --eta 0.1 --images 2 \\
        --out results/mini/ntscc/images/diagnostics/tile_sweep_ntscc_mse_lam64.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from jscc_core.determinism import seed_everything
from jscc_core.images import to_tensor
from jscc_core.profiles import ProfileError
from jscc_core.training import CheckpointError
from ntscc.image.model import ImageNTSCC
from pipelines.ntscc.images import images_cfg, load_model, stage_seed, test_images
from pipelines.profile import load


def tile(x: torch.Tensor, t: int) -> torch.Tensor:
    """(1, 3, S, S) -> (S/t * S/t, 3, t, t), row-major."""
    return x.unfold(2, t, t).unfold(3, t, t).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, t, t)


def sweep(model: ImageNTSCC, images: dict[str, np.ndarray], tiles: list[int], snr_db: float, eta: float | None,
          seed: int) -> list[dict]:
    side = max(tiles)
    if any(side % t for t in tiles):
        raise ValueError(f"every tile size must divide the largest, {side}; got {tiles}")
    rows = []
    for image_id, img in images.items():
        x = to_tensor(img)
        if min(x.shape[-2:]) < side:
            raise ValueError(f"{image_id} is {tuple(x.shape[-2:])}, smaller than the {side} x {side} square")
        x = x[..., :side, :side]
        for t in tiles:
            g = torch.Generator().manual_seed(stage_seed(seed, f"{t}/{image_id}"))
            records = model.transmit(tile(x, t), snr_db, eta, generator=g)
            mse = float(np.mean([10 ** (-r["psnr"] / 10) for r in records]))
            rows.append({"image_id": image_id, "tile": t, "tiles": len(records), "psnr": -10 * math.log10(mse),
                         "cbr": float(np.mean([r["cbr"] for r in records])),
                         "k_z_share": float(np.sum([r["k_z"] + r["k_q"] for r in records])
                                            / np.sum([r["k"] for r in records]))})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ntscc.tile_sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile name (mini, paper) or YAML path")
    parser.add_argument("--data", default="data", help="data root (fetched data sets)")
    parser.add_argument("--model", required=True, help="trained model folder (NTSCC, Comparison-I or -II)")
    parser.add_argument("--tiles", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--eta", type=float, default=None, help="eta (default: the block's eta_fig12, else 0.2)")
    parser.add_argument("--snr", type=float, default=None, help="channel SNR in dB (default: the Fig. 11 SNR)")
    parser.add_argument("--images", type=int, default=2, help="first N test images")
    parser.add_argument("--no-refine", action="store_true",
                        help="ŷ = y̌: the trained model with its refinement MLP (eq. 19) switched off")
    parser.add_argument("--hyper-tile", type=int, default=None, metavar="PX",
                        help="h_a / h_s on PX x PX tiles of each image (0: the whole image) instead of the "
                             "profile's ntc.hyper_tile; z̄ is still one bitstream per image")
    parser.add_argument("--out", required=True, help="JSON to write")
    args = parser.parse_args(argv)
    try:
        profile = load(args.profile)
        model, meta = load_model(profile, Path(args.model))
        if not isinstance(model, ImageNTSCC):
            raise ValueError(f"{args.model}: a {meta['kind']} model; the tile sweep takes NTSCC, Comparison-I or -II")
        if args.no_refine:
            if model.jscc.f_d.refinement is None:
                raise ValueError(f"{args.model}: a {meta['kind']} model has no refinement to switch off")
            model.jscc.f_d.refinement = None
        if args.hyper_tile is not None:
            model.ntc.config = replace(model.ntc.config, hyper_tile=args.hyper_tile or None)
        block = meta["params"].get("block", "images")
        cfg = images_cfg(profile, block)
        eta = None if not model.rate_adaptive else (args.eta if args.eta is not None else cfg.get("eta_fig12", 0.2))
        snr = args.snr if args.snr is not None else cfg["fig11_snr_db"]
        images = dict(list(test_images(profile, Path(args.data), block).items())[:args.images])
        seed = stage_seed(int(profile["seed"]), "tile_sweep")
        seed_everything(seed, threads=int(profile["threads"]))
        started = time.perf_counter()
        rows = sweep(model, images, sorted(args.tiles), snr, eta, seed)
    except (ProfileError, CheckpointError, FileNotFoundError, ValueError, RuntimeError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": meta["name"], "model_run_key": meta["run_key"], "refine": not args.no_refine,
                               "hyper_tile": model.ntc.config.hyper_tile,
                               "profile": profile.name, "profile_sha256": profile.sha256, "eta": eta, "snr_db": snr,
                               "train_crop": cfg.get("crop"), "wall_time_s": round(time.perf_counter() - started, 3),
                               "rows": rows}, indent=2) + "\n")
    for t in sorted(args.tiles):
        sel = [r for r in rows if r["tile"] == t]
        print(f"{meta['name']}: tile {t:4d}: PSNR {np.mean([r['psnr'] for r in sel]):.2f} dB, "
              f"CBR {np.mean([r['cbr'] for r in sel]):.4f} ({len(sel)} images)")


if __name__ == "__main__":
    main()
