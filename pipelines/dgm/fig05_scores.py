"""Fig. 5's scores: every scheme's record scored alike against the test faces.

    python -m pipelines.dgm.fig05_scores --profile mini --data data --split results/mini/gjscc/split.json \\
        --records results/mini/dgm/fig05/*.npz --out results/mini/dgm/fig05/scores.csv

Per face and SNR (scores.csv): distortion (MSE on [0, 1] and PSNR), consistency (LPIPS with the VGG
and AlexNet backbones, ImageNet weights from the offline registry) of the reconstruction shown; for a
scheme that draws several samples, also the mean LPIPS-VGG over its samples.  Per scheme and SNR
(scores.json): the means, realism as FD-VGG16 (Frechet distance of VGG16 relu5_3 pooled features between
the reconstructions and the same test faces; FID's Inception weights cannot be had here, so it is
never called FID), the bandwidth ratio spent (mean and largest) and the record's own accounting."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from jscc_core.determinism import seed_everything
from jscc_core.metrics import Unavailable, fid_unavailable, psnr
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.fig05_record import read_record, test_faces
from pipelines.gjscc.common import as_tensor, vgg16_features, weights_resolver, write_json
from pipelines.gjscc.evaluate import USER_ERRORS, Metrics, checksums, embed_features, fd_vgg16, write_csv
from pipelines.gjscc.generator import stage_device
from pipelines.profile import load

COLUMNS = ("scheme", "label", "snr_db", "image_id", "mse", "psnr", "lpips_vgg", "lpips_alex", "lpips_vgg_samples")
BATCH = 16


def _per_image(metrics: Metrics, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    out = []
    for at in range(0, len(x), BATCH):
        xb, yb = x[at:at + BATCH], y[at:at + BATCH]
        mse = (xb - yb).pow(2).flatten(1).mean(1)
        for m, p, v in zip(mse.tolist(), psnr(xb, yb).tolist(), metrics(xb, yb)):
            out.append({"mse": m, "psnr": p, "lpips_vgg": v["lpips_vgg"], "lpips_alex": v["lpips_alex"]})
    return out


def score(profile, records: list[Path], split: Path, root: Path, out_csv: Path) -> dict:
    """Score ``records`` (one per scheme) against the test faces; write ``out_csv`` and its .json."""
    started = time.perf_counter()
    device = stage_device(profile)
    ids, faces = test_faces(profile, split, root)
    x = as_tensor(faces).to(device)
    metrics = Metrics(root, device, int(profile.get("gjscc.ms_ssim_scales")))
    embed = vgg16_features(root, device)
    real = None if isinstance(embed, Unavailable) else embed_features(embed, x)
    rows, points = [], []
    for path in records:
        info, arrays = read_record(path)
        scheme, label = info["scheme"], info["label"]
        if list(arrays["ids"]) != list(ids):
            raise ValueError(f"{path} holds faces {list(arrays['ids'])[:3]}..., the profile's test faces are "
                             f"{ids[:3]}...: rerun its stage")
        for j, snr in enumerate(arrays["snr_db"].tolist()):
            y = as_tensor(arrays["images"][j]).to(device)
            per = _per_image(metrics, x, y)
            if "samples" in arrays:  # mean consistency over every sample of a face
                k = arrays["samples"].shape[2]
                lp = np.zeros(len(ids))
                for c in range(k):
                    sample = as_tensor(arrays["samples"][j, :, c]).to(device)
                    lp += np.array([v["lpips_vgg"] for v in metrics(x, sample)])
                for v, s in zip(per, lp / k):
                    v["lpips_vgg_samples"] = float(s)
            for image_id, v in zip(ids, per):
                rows.append({"scheme": scheme, "label": label, "snr_db": snr, "image_id": image_id, **v})
            point = {"scheme": scheme, "label": label, "snr_db": snr, "n_images": len(ids),
                     **{f"mean_{m}": float(np.mean([v[m] for v in per])) for m in ("mse", "psnr", "lpips_vgg",
                                                                                   "lpips_alex")},
                     "rho_mean": float(np.mean(info["channel_uses"][j]) / info["source_dims"]),
                     "rho_max": float(np.max(info["channel_uses"][j]) / info["source_dims"])}
            if "lpips_vgg_samples" in per[0]:
                point["mean_lpips_vgg_samples"] = float(np.mean([v["lpips_vgg_samples"] for v in per]))
            if real is None:
                point["fd_vgg16"], point["fd_reason"] = None, embed.reason
            elif len(ids) < 2:
                point["fd_vgg16"], point["fd_reason"] = None, "FD-VGG16 needs 2 images or more"
            else:
                point["fd_vgg16"] = fd_vgg16(real, embed_features(embed, y))
            points.append(point)
    write_csv(out_csv, rows, COLUMNS)
    info = {"points": points, "n_images": len(ids), "image_ids": ids, "records": [str(p) for p in records],
            "fd_features": "ImageNet VGG16 relu5_3, global average pool (512)",
            "fid": {"available": False, "reason": fid_unavailable(weights_resolver(root)).reason},
            "lpips": {"vgg": metrics.vgg.backbone_entry, "alex": metrics.alex.backbone_entry},
            "data_checksums": checksums(profile, ("gjscc.data.faces",)),
            "wall_time_s": round(time.perf_counter() - started, 3)}
    write_json(out_csv.with_suffix(".json"), info)
    return info


def cmd_score(args) -> None:
    profile = load(args.profile)
    seed_everything(int(profile["seed"]), threads=int(profile["threads"]))
    info = score(profile, [Path(p) for p in args.records], Path(args.split), Path(args.data), Path(args.out))
    print(f"scores of {len(args.records)} records x {len(info['points']) // max(1, len(args.records))} SNRs "
          f"on {info['n_images']} faces -> {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.fig05_scores", __doc__)
    p = add("score", cmd_score, data=True)
    p.add_argument("--split", required=True, help="gjscc's split.json of the face set")
    p.add_argument("--records", required=True, nargs="+", help="the schemes' records (.npz, with their .json)")
    run_stage(parser, argv, USER_ERRORS)


if __name__ == "__main__":
    main()
