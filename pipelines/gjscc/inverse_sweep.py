"""Try InverseJSCC settings on a few test faces before putting them in a profile.

    python -m pipelines.gjscc.inverse_sweep run --profile mini --split results/mini/gjscc/split.json \\
        --deepjscc results/mini/gjscc/deepjscc/faces_c8 \\
        --generator results/mini/gjscc/generator/generator.pt --images 4 --snr -5 5 \\
        --setting profile={} --setting 'ilo={steps: [16, 16, 8, 8], state_radius: null}' --out sweep.csv

Each ``--setting NAME=YAML`` overrides keys of ``gjscc.inverse`` (``NAME={}``: the profile as it
is). Every face and SNR sees the inverse stage's channel draws, so the profile's own setting gives
the stage's numbers for those faces. ``--clean`` fits G to the clean faces instead (A the identity,
x_hat = x): the closest G comes to them with that setting, a floor for InverseJSCC. Printed and
written (CSV) per setting and SNR: the mean LPIPS-VGG and PSNR of the DeepJSCC output x_hat and of
InverseJSCC's x*, and seconds per face.
"""
from __future__ import annotations

import csv
import time

import numpy as np
import torch
import yaml

from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.profiles import ProfileError
from jscc_core.registry import RegistryError
from jscc_core.training import CheckpointError
from pipelines.cli import run_stage, stage_cli
from pipelines.gjscc.common import ImageSizeError, as_tensor, check_snrs, split_faces
from pipelines.gjscc.evaluate import Metrics, channel_generator, inverse_solver
from pipelines.gjscc.generator import load_generator, stage_device
from pipelines.gjscc.models import load_model
from pipelines.profile import load


class Identity(torch.nn.Module):
    """A forward operator that passes the image through: ``(x, snr_db, generator) -> x``."""

    def forward(self, x: torch.Tensor, snr_db, generator=None) -> torch.Tensor:
        return x


def parse_setting(text: str, keys: set[str]) -> tuple[str, dict]:
    """``NAME=YAML mapping`` -> (name, overrides); a key gjscc.inverse lacks is a ValueError naming it."""
    name, sep, body = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--setting {text!r}: expected NAME=YAML, e.g. 'short={{steps: [24, 8, 8, 8]}}'")
    try:
        over = yaml.safe_load(body) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"--setting {name}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(over, dict):
        raise ValueError(f"--setting {name}: expected a mapping of gjscc.inverse keys, got {body!r}")
    unknown = sorted(set(over) - keys)
    if unknown:
        raise ValueError(f"--setting {name}: gjscc.inverse has no key {', '.join(unknown)} "
                         f"(keys: {', '.join(sorted(keys))})")
    return name.strip(), over


def cmd_sweep(args) -> None:
    profile = load(args.profile)
    device = stage_device(profile)
    seed_everything(stage_seed(int(profile["seed"]), "gjscc/inverse"), threads=int(profile["threads"]))
    base = dict(profile.get("gjscc.inverse"))
    settings = [parse_setting(text, set(base)) for text in args.setting]
    snrs = check_snrs(args.snr, profile.get("gjscc.deepjscc.train_snr_db"), "--snr")
    A, meta = load_model(profile, args.deepjscc, device)
    if meta["kind"] != "deepjscc":
        raise ValueError(f"{args.deepjscc} holds a {meta['kind']} model; InverseJSCC inverts a DeepJSCC (A)")
    G = load_generator(profile, args.generator, device)
    metrics = Metrics(args.data, device, int(profile.get("gjscc.ms_ssim_scales")))
    ids, faces = split_faces(profile, args.split, args.data, "test", args.images)
    x_all = as_tensor(faces).to(device)
    seed = stage_seed(int(profile["seed"]), "gjscc/inverse")
    rows = []
    op = Identity() if args.clean else A
    for name, over in settings:
        solver = inverse_solver(profile, G, op, metrics.vgg, {**base, **over})
        for snr in snrs:
            before, after, seconds = [], [], []
            for image_id, x in zip(ids, x_all):
                x = x[None]
                with torch.no_grad():  # the inverse stage's forward-process draw
                    x_hat = op(x, snr, generator=channel_generator(seed, f"fp/{snr}/{image_id}", device)).clamp(0, 1)
                t0 = time.perf_counter()
                result = solver.invert(x_hat, snr, generator=channel_generator(seed, f"ilo/{snr}/{image_id}", device))
                seconds.append(time.perf_counter() - t0)
                before.append(metrics(x, x_hat)[0])
                after.append(metrics(x, result.x)[0])
            row = {"setting": name, "overrides": yaml.safe_dump(over, default_flow_style=True).strip(),
                   "a": "identity" if args.clean else meta["name"], "snr_db": snr, "images": len(ids),
                   "lpips_vgg_x_hat": np.mean([m["lpips_vgg"] for m in before]),
                   "lpips_vgg_x_star": np.mean([m["lpips_vgg"] for m in after]),
                   "psnr_x_hat": np.mean([m["psnr"] for m in before]),
                   "psnr_x_star": np.mean([m["psnr"] for m in after]),
                   "seconds_per_face": np.mean(seconds)}
            rows.append(row)
            print(f"{name:>12} {row['a']} {snr:+5.1f} dB: LPIPS-VGG {row['lpips_vgg_x_hat']:.3f} -> "
                  f"{row['lpips_vgg_x_star']:.3f}, PSNR {row['psnr_x_hat']:.2f} -> {row['psnr_x_star']:.2f} dB, "
                  f"{row['seconds_per_face']:.1f} s per face", flush=True)
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"-> {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.gjscc.inverse_sweep", __doc__)
    p = add("run", cmd_sweep, out=False, data=True)
    p.add_argument("--split", required=True, help="split.json of the face set")
    p.add_argument("--deepjscc", required=True, help="trained DeepJSCC folder: the forward process and A")
    p.add_argument("--generator", required=True, help="G's weights (generator.pt)")
    p.add_argument("--images", type=int, default=4, help="the first N test faces (default 4)")
    p.add_argument("--snr", type=float, nargs="+", default=[-5.0, 5.0], help="SNRs in dB (default -5 5)")
    p.add_argument("--setting", action="append", required=True, metavar="NAME=YAML",
                   help="overrides of gjscc.inverse keys; repeat for several")
    p.add_argument("--clean", action="store_true", help="fit G to the clean faces (A the identity)")
    p.add_argument("--out", default=None, help="CSV of the table (optional)")
    run_stage(parser, argv, (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ImageSizeError,
                             ValueError))


if __name__ == "__main__":
    main()
