"""A released NTSCC checkpoint (the authors' "NTSCC w/o z" models) as a model folder of this project.

    python -m pipelines.ntscc.import_official CKPT --out DIR [--profile official] [--lmbda 64] [--name NAME]
    python -m pipelines.ntscc.images evaluate --profile official --model DIR --data data

The checkpoint is read with ``torch.load(..., weights_only=True)`` and mapped onto the profile's
Comparison-I model (``ntscc.image.import_official``); DIR gets model.pt and run.json as a training
stage writes them (kind "comparison_i", the checkpoint's file name and SHA-256 in its params), so
``pipelines.ntscc.images.load_model`` and ``evaluate`` take it like a trained model of that profile.
The profile must carry the released code's layout options (``pipelines/profiles/official.yaml``).
A file that is not such a checkpoint stops the command with one line naming it and the problem.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from jscc_core.profiles import ProfileError, fingerprint
from jscc_core.registry import sha256_file
from jscc_core.tracking import TrackingError, track_run
from jscc_core.training import CheckpointError, describe_device, read_weights
from ntscc.image.import_official import OfficialCheckpointError, from_official
from ntscc.image.model import ImageNTSCC
from pipelines.ntscc.images import EXPERIMENT, images_cfg, ntscc_config
from pipelines.ntscc.paths import model_tag
from pipelines.profile import load

VARIANT = "comparison_i"  # "NTSCC w/o z": z is not sent, f_d has no refinement


def read_checkpoint(path: Path) -> dict:
    """``torch.load(path, weights_only=True)``; a missing, unreadable or unsafe file is a one-line
    ``OfficialCheckpointError`` naming it (the unpickler's own reason when it refuses a global)."""
    if not path.is_file():
        raise OfficialCheckpointError(f"{path} does not exist")
    try:
        return read_weights(path)
    except CheckpointError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        why = next((line for line in lines if line.startswith("WeightsUnpickler error")),
                   lines[0] if lines else type(cause).__name__)
        raise OfficialCheckpointError(f"{path} is not a weights-only PyTorch checkpoint "
                                      f"({type(cause).__name__}: {why})") from None


def import_checkpoint(profile, checkpoint: Path, out: Path, lmbda: float | None = None,
                      name: str | None = None) -> dict:
    """Write ``out``/model.pt and ``out``/run.json from the released ``checkpoint``; returns run.json."""
    started = time.perf_counter()
    cfg = images_cfg(profile)
    state = read_checkpoint(checkpoint)
    config = ntscc_config(cfg, VARIANT)
    try:
        weights = from_official(state, config)
    except OfficialCheckpointError as exc:
        raise OfficialCheckpointError(f"{checkpoint}: {exc}") from None
    model = ImageNTSCC(config)
    model.load_state_dict(weights)
    model.update(force=True)  # entropy-coding tables of z from the checkpoint's quantiles
    digest = sha256_file(checkpoint)
    name = name or ("official_" + (model_tag(VARIANT, lmbda=lmbda) if lmbda is not None else checkpoint.stem))
    params = {"variant": VARIANT, "distortion": "mse", "lmbda": lmbda, "tag": name,
              "source": {"checkpoint": checkpoint.name, "sha256": digest, "code": "github.com/wsxtyrdd/NTSCC_JSAC22"}}
    run_key = (f"ntscc_images_import_{name}@"
               f"{fingerprint(profile, 'ntscc.images', 'import_official', checkpoint=digest, name=name)}")
    out.mkdir(parents=True, exist_ok=True)
    with track_run(EXPERIMENT, f"import-{name}", params={"profile": profile.name, "kind": VARIANT, **params},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        torch.save(model.state_dict(), out / "model.pt")
        meta = {"kind": VARIANT, "name": name, "params": params, "final": None, "run_id": run.run_id,
                "run_key": run_key, "parameters": sum(p.numel() for p in model.parameters()),
                "device": describe_device(torch.device("cpu")), "wall_time_s": round(time.perf_counter() - started, 3),
                "train_time_s": None, "data_checksums": {}}
        (out / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        run.log_artifact(out / "run.json")
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ntscc.import_official", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="released state dict (.pth / .model)")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write (model.pt, run.json)")
    parser.add_argument("--profile", default="official", help="profile with the released layout (default: official)")
    parser.add_argument("--lmbda", type=float, help="the lambda the checkpoint was trained with, if known (recorded)")
    parser.add_argument("--name", help="model name in evaluations (default: official_<lambda tag or file stem>)")
    args = parser.parse_args(argv)
    try:
        meta = import_checkpoint(load(args.profile), args.checkpoint, args.out, args.lmbda, args.name)
    except (OfficialCheckpointError, ProfileError, TrackingError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    print(f"{args.checkpoint} -> {args.out} ({meta['name']}, {meta['parameters']} parameters)")


if __name__ == "__main__":
    main()
