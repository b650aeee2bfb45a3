"""Stage entry points for NTSCC on images (Sections IV-C..E): training, evaluation, rate maps, timing.

    python -m pipelines.ntscc.images train-ntc --profile mini --lmbda 64 --out DIR
    python -m pipelines.ntscc.images train-ntscc --profile mini --lmbda 64 --ntc DIR/model.pt --out DIR \\
        [--variant comparison_i]
    python -m pipelines.ntscc.images train-ntscc --profile mini --lmbda 0.0625 --distortion ms_ssim \\
        --init DIR/model.pt --out DIR
    python -m pipelines.ntscc.images train-deepjscc --profile mini --c-out 3 \\
        [--distortion ms_ssim --init DIR/model.pt] --out DIR
    python -m pipelines.ntscc.images train-ntscc|train-deepjscc ... --init DIR/model.pt --fig12-snr 4 --out DIR
    python -m pipelines.ntscc.images train-comparison-ii --profile mini --cbr 0.0625 --ntc DIR/model.pt --out DIR
    python -m pipelines.ntscc.images train-perceptual --profile mini --lmbda 64 --init DIR/model.pt --data data \
        --out DIR
    python -m pipelines.ntscc.images evaluate --profile mini --model DIR --data data
    python -m pipelines.ntscc.images rate-maps --profile mini --models DIR... --data data --out DIR
    python -m pipelines.ntscc.images crops --profile mini --eval DIR/eval.csv... --sweep-csv CSV --data data --out DIR
    python -m pipelines.ntscc.images time-models --profile mini --ntscc DIR --deepjscc DIR --sweep-csv CSV \\
        --data data --out DIR

Every command reads the profile block ``ntscc.images`` (Kodak, 4-stage g_a) unless given
``--block cifar`` (``ntscc.cifar``: CIFAR-10, 2-stage g_a, Fig. 11(a) and Table I's CIFAR row).

A model folder holds model.pt and run.json (what was trained, MLflow run); ``evaluate`` adds
eval.csv (one row per test image and operating point) and eval.json. Training state is
checkpointed under checkpoints/<profile>/ (not a declared output), so an interrupted stage
resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from jscc_core.channels import ComplexAWGN
from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.images import (
    CIFAR_SETS,
    RandomCrops,
    dataset_entry,
    load_cifar_subset,
    load_dataset,
    load_entry_images,
    to_tensor,
)
from jscc_core.metrics import ms_ssim, ms_ssim_db, psnr
from jscc_core.profiles import ProfileError, fingerprint, thaw
from jscc_core.registry import RegistryError, read_checksums
from jscc_core.tracking import track_run
from jscc_core.training import (
    CheckpointError,
    TrainSchedule,
    checkpoint_train_seconds,
    describe_device,
    load_weights,
    profile_device,
    synchronize,
    train,
    weights_digest,
)
from ntscc.image.deepjscc import DeepJSCC
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import ImageNTC, NTCConfig
from ntscc.image.objectives import (
    AUX_LEARNING_RATE,
    PerceptualWeights,
    deepjscc_objective,
    ntc_objective,
    ntscc_objective,
    perceptual_objective,
    quantile_training,
)
from ntscc.image.perceptual import ConditionalDiscriminator, PerceptualNTSCC
from pipelines.cli import run_stage, stage_cli
from pipelines.ntscc.evals import (
    EVAL_COLUMNS,
    LPIPS_COLUMN,
    METHODS,
    TARGET_CURVES,
    mean_operating_points,
    read_ntscc_eval,
    write_eval_csv,
)
from pipelines.ntscc.keys import TRAINING_KEYS
from pipelines.ntscc.paths import model_tag, snr_tag
from pipelines.perceptual import lpips_metric, lpips_to_reference
from pipelines.profile import load

EXPERIMENT = "ntscc-images"


# --------------------------------------------------------------------------- configuration


BLOCKS = ("images", "cifar")  # profile blocks ntscc.<block>: Kodak (4-stage g_a), CIFAR-10 (2-stage g_a)


def images_cfg(profile, block: str = "images") -> dict:
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
    return profile.get(f"ntscc.{block}")





#: Optional layout keys of ``ntc`` / ``jscc`` (the released code's architecture, profile official):
#: passed on only when set, so a profile without them builds the models it always built.
NTC_LAYOUT_KEYS = ("latent_projection", "upsampling", "h_a_activation")
JSCC_LAYOUT_KEYS = ("shift_windows", "projections", "likelihood_refine_hidden", "rescale_received", "rate_likelihood")


def ntc_config(cfg: dict) -> NTCConfig:
    n = cfg["ntc"]
    return NTCConfig(c=n["c"], embed_dims=tuple(n["embed_dims"]), depths=tuple(n["depths"]), heads=n["heads"],
                     window=n["window"], hyper_channels=n["hyper_channels"], latent_std=n.get("latent_std"),
                     hyper_tile=n.get("hyper_tile"), **{k: n[k] for k in NTC_LAYOUT_KEYS if k in n})


def ntscc_config(cfg: dict, variant: str = "ntscc", cbr: float | None = None) -> ImageNTSCCConfig:
    j = cfg["jscc"]
    jscc = JSCCConfig(c=cfg["ntc"]["c"], d=j["d"], n_e=j["n_e"], n_d=j["n_d"], heads=j["heads"],
                      rate_values=tuple(j["rate_values"]), shared_head=bool(j.get("shared_head", False)),
                      window=j.get("window"), **{k: j[k] for k in JSCC_LAYOUT_KEYS if k in j})
    config = ImageNTSCCConfig(ntc_config(cfg), jscc, side_info=cfg["side_info"])
    if variant == "comparison_i":
        return config.comparison_i()
    if variant == "comparison_ii":
        return config.comparison_ii(config.fixed_rate_for_cbr(cbr))
    return config


def stage_device(profile) -> torch.device:
    """The profile's ``device`` (auto / cpu / cuda / mps; cpu when unset): where models and tensors go."""
    return profile_device(profile)


def schedule(cfg: dict, kind: str) -> TrainSchedule:
    return TrainSchedule.from_mapping(cfg["schedules"][kind])


def aux_learning_rate(cfg: dict, kind: str) -> float:
    """Adam's rate for the entropy bottleneck's quantiles of a ``kind`` model of the block ``cfg``:
    ``ntc.aux_learning_rate`` for the kinds whose training reads ``ntc`` (default 1e-3)."""
    if "ntc" not in TRAINING_KEYS[kind]:
        return AUX_LEARNING_RATE
    return float(cfg["ntc"].get("aux_learning_rate", AUX_LEARNING_RATE))


def training_fingerprint(profile, kind: str, block: str, sched_kind: str, params: dict) -> str:
    """What a training run's checkpoint is valid for: the block's keys that kind reads
    (``TRAINING_KEYS``), its schedule, the seed, the run's parameters and the values of the
    weights it starts from (``params["ntc"]``, ``params["init"]``)."""
    cfg = images_cfg(profile, block)
    used = {}
    for key in TRAINING_KEYS[kind]:
        head, _, tail = key.partition(".")
        used[key] = cfg.get(head, {}).get(tail) if tail else cfg.get(head)
    ntc = used.get("ntc")
    if isinstance(ntc, Mapping) and "aux_learning_rate" in ntc:  # hashed on its own below, as before it was a key
        used["ntc"] = MappingProxyType({k: v for k, v in ntc.items() if k != "aux_learning_rate"})
    weights = {name: weights_digest(Path(params[name])) for name in ("ntc", "init") if params.get(name)}
    rest = {name: value for name, value in params.items() if name not in weights}  # weights by value, not path
    blob = json.dumps({"kind": kind, "cfg": used, "schedule": cfg["schedules"][sched_kind], "seed": profile["seed"],
                       "threads": profile["threads"], "params": rest, "weights": weights,
                       "aux_learning_rate": aux_learning_rate(cfg, kind)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def training_crops(profile, data_root: Path, block: str = "images") -> RandomCrops | torch.Tensor:
    """Random crops of the training set's images large enough for one crop (never the test set);
    CIFAR-10: the whole 32 x 32 training images, as a tensor ``train`` draws minibatches from."""
    cfg = images_cfg(profile, block)
    if cfg["train_set"] in CIFAR_SETS:
        return to_tensor(load_cifar_subset(data_root, CIFAR_SETS[cfg["train_set"]]))
    images = load_entry_images(cfg["train_set"], data_root)
    usable = [im for im in images.values() if min(im.shape[:2]) >= cfg["crop"]]
    if not usable:
        raise ValueError(f"no image of {cfg['train_set']} is at least {cfg['crop']} pixels on each side")
    return RandomCrops(usable, cfg["crop"])


def test_images(profile, data_root: Path, block: str = "images") -> dict[str, np.ndarray]:
    cfg = images_cfg(profile, block)
    return load_dataset(cfg["test_set"], data_root, limit=cfg.get("test_limit"))


def data_checksums(profile, block: str = "images", sets: tuple[str, ...] = ("train_set", "test_set")) -> dict[str, str]:
    """``{"<entry>/<file>": sha256}`` of the files of the block's data sets named by ``sets`` (profile
    keys) that this process has read, each checked against the registry as it was read: what the
    stage used, for its records.  A stage names only the sets it declares (training: its train_set)."""
    cfg = images_cfg(profile, block)
    return read_checksums(dataset_entry(cfg[key]) for key in sets)


# --------------------------------------------------------------------------- training


def train_model(profile, make_model, loss_fn, load_data, sched: TrainSchedule, out: Path, checkpoint: Path,
                fingerprint: str, *, kind: str, name: str, params: dict, run_key: str, log_params: dict,
                checksums, experiment: str = EXPERIMENT, aux_lr: float = AUX_LEARNING_RATE) -> dict:
    """Train one image model and write ``out``/model.pt and ``out``/run.json; returns the run.json.

    ``load_data()`` gives the training source (a :class:`RandomCrops`, or a float tensor
    (N, 3, H, W) in [0, 1] that ``train`` draws minibatches from); the stage seed
    (``stage_seed(seed, name)``) is set after it and before ``make_model()``. The state is
    checkpointed at ``checkpoint`` under ``fingerprint`` (a checkpoint of another fingerprint is
    set aside), so an interrupted run resumes. ``checksums()`` gives the data checksums recorded in
    run.json; ``log_params`` are logged to MLflow beside ``params`` and the schedule; ``aux_lr`` is
    Adam's rate for the entropy bottleneck's quantiles (NTC and NTSCC models)."""
    device = stage_device(profile)  # a missing CUDA device stops the stage here, before any work
    started = time.perf_counter()
    source = load_data()
    seed_everything(stage_seed(int(profile["seed"]), name), threads=int(profile["threads"]))
    model = make_model()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with track_run(experiment, f"train-{name}",
                   params={"profile": profile.name, "kind": kind, **params, "schedule": asdict(sched), **log_params},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        data = source.sample if isinstance(source, RandomCrops) else source
        aux = (quantile_training(model, aux_lr) if isinstance(model, (ImageNTC, ImageNTSCC, PerceptualNTSCC))
               else None)
        logs = train(model, loss_fn, data, sched, checkpoint, fingerprint,
                     on_log=lambda step, m: run.log_metrics(m, step=step), desc=name, restart_foreign=True, aux=aux,
                     device=device)
        model.cpu()  # weights are saved from, and the CDF tables built on, the CPU
        if isinstance(model, PerceptualNTSCC):  # model.pt is the NTSCC; its discriminator stays in the checkpoint
            model = model.ntscc
        if isinstance(model, (ImageNTC, ImageNTSCC)):
            model.update(force=True)  # entropy-coding tables of z (real bitstreams at evaluation)
        torch.save(model.state_dict(), out / "model.pt")
        meta = {"kind": kind, "name": name, "params": params, "final": logs, "run_id": run.run_id, "run_key": run_key,
                "parameters": sum(p.numel() for p in model.parameters()), "device": describe_device(device),
                "wall_time_s": round(time.perf_counter() - started, 3),
                # training seconds over every run behind the checkpoint (None: it predates that record)
                "train_time_s": None if (spent := checkpoint_train_seconds(checkpoint)) is None else round(spent, 3),
                "data_checksums": checksums()}
        (out / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        run.log_artifact(out / "run.json")
    print(f"{name}: {logs} -> {out}")
    return meta


def _train_stage(args, profile, kind: str, name: str, make_model, loss_fn, params: dict, sched_kind: str) -> None:
    """A model of the block ``args.block`` on its training crops (:func:`train_model`)."""
    block = args.block
    cfg = images_cfg(profile, block)
    fp = training_fingerprint(profile, kind, block, sched_kind, params)
    if block != "images":  # Kodak runs keep the params they had before blocks existed
        params = {**params, "block": block}
    out = Path(args.out)
    train_model(profile, make_model, loss_fn, lambda: training_crops(profile, Path(args.data), block),
                schedule(cfg, sched_kind), out, Path("checkpoints") / profile.name / "ntscc" / block / out.name /
                "checkpoint.pt", fp, kind=kind, name=name, params=params, run_key=f"ntscc_images_{name}@{fp}",
                log_params={"crop": cfg.get("crop"), "train_set": cfg["train_set"]},
                checksums=lambda: data_checksums(profile, block, sets=("train_set",)),
                aux_lr=aux_learning_rate(cfg, kind))


def cmd_train_ntc(args) -> None:
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    name = model_tag("ntc", args.distortion, lmbda=args.lmbda)
    _train_stage(args, profile, "ntc", name, lambda: ImageNTC(ntc_config(cfg)),
                 ntc_objective(args.lmbda, args.distortion),
                 {"lmbda": args.lmbda, "distortion": args.distortion, "tag": name}, "ntc")


def with_pretrained_ntc(config: ImageNTSCCConfig, path: str) -> ImageNTSCC:
    """Algorithm 1, line 1: g_a, g_s, h_a, h_s and the entropy models from a trained NTC."""
    ntc = load_weights(ImageNTC(config.ntc), Path(path))
    return ImageNTSCC.from_pretrained_ntc(config, ntc)


def _fine_tune_from(model, path: str):
    """Start from a trained model of the same architecture (MS-SSIM models start from MSE ones)."""
    return load_weights(model, Path(path))


def _eta_range(etas):
    """[eta] -> eta (fixed), [lo, hi] -> (lo, hi) (drawn per minibatch)."""
    return etas[0] if len(etas) == 1 else tuple(etas)


def _eta_train(cfg: dict, distortion: str):
    return _eta_range(cfg["eta_train"] if distortion == "mse" else cfg["ms_ssim"]["eta_train"])


def fig12_fine_tune(cfg: dict, args, name: str) -> tuple[str, float, dict]:
    """(name, training SNR, extra run parameters) of a training run: ``name`` at the block's
    train_snr_db, or with ``--fig12-snr`` a Fig. 12(a) fine-tune of ``--init`` at that SNR ("for all
    models, the training SNR matches with the testing SNR"), named with it (``snr_tag``)."""
    if args.fig12_snr is None:
        return name, cfg["train_snr_db"], {}
    if args.init is None:
        raise ValueError("--fig12-snr fine-tunes a trained model at that SNR: give its weights with --init")
    return snr_tag(name, args.fig12_snr), args.fig12_snr, {"fig12_snr_db": args.fig12_snr}


def _fig12_eta_train(profile, cfg: dict):
    """The eta range of a Fig. 12(a) NTSCC fine-tune: ``ntscc.images.fig12_per_snr.eta_train``."""
    per = cfg.get("fig12_per_snr")
    if not per:
        raise ProfileError(f"--fig12-snr trains on ntscc.images.fig12_per_snr.eta_train, which profile "
                           f"{profile.name!r} does not set")
    return _eta_range(per["eta_train"])


def cmd_train_ntscc(args) -> None:
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    if (args.ntc is None) == (args.init is None):
        raise ValueError("train-ntscc needs exactly one of --ntc (Algorithm 1 from a pretrained NTC) and --init "
                         "(fine-tuning a trained NTSCC)")
    name, snr, per_snr = fig12_fine_tune(cfg, args, model_tag(args.variant, args.distortion, lmbda=args.lmbda))

    def make():
        if args.init:  # fine-tuning a trained NTSCC (MS-SSIM models)
            return _fine_tune_from(ImageNTSCC(ntscc_config(cfg, args.variant)), args.init)
        return with_pretrained_ntc(ntscc_config(cfg, args.variant), args.ntc)

    eta = _fig12_eta_train(profile, cfg) if per_snr else _eta_train(cfg, args.distortion)
    _train_stage(args, profile, args.variant, name, make,
                 ntscc_objective(args.lmbda, snr, eta, args.distortion),
                 {"lmbda": args.lmbda, "distortion": args.distortion, "variant": args.variant, "tag": name,
                  "ntc": args.ntc, "init": args.init, "eta_train": eta, "snr_db": snr, **per_snr},
                 "ntscc" if args.distortion == "mse" and not per_snr else "fine_tune")


def cmd_train_perceptual(args) -> None:
    """Eq. (29): the MSE NTSCC of the same λ fine-tuned with LPIPS-Alex and a conditional GAN."""
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    pc = cfg["perceptual"]
    name = model_tag("ntscc", "perceptual", lmbda=args.lmbda)
    lpips = lpips_metric(args.data, stage_device(profile))
    weights = PerceptualWeights(pc["beta_m"], pc["beta_l"], pc["beta_d"])
    disc = pc["discriminator"]

    def make():
        ntscc = _fine_tune_from(ImageNTSCC(ntscc_config(cfg)), args.init)
        return PerceptualNTSCC(ntscc, ConditionalDiscriminator(cfg["ntc"]["c"], disc["widths"],
                                                               disc["context_channels"]))

    eta = pc["eta_train"][0] if len(pc["eta_train"]) == 1 else tuple(pc["eta_train"])
    _train_stage(args, profile, "perceptual", name, make,
                 perceptual_objective(args.lmbda, cfg["train_snr_db"], eta, weights, lpips),
                 {"lmbda": args.lmbda, "distortion": "perceptual", "variant": "ntscc", "tag": name,
                  "init": args.init, "eta_train": eta, "snr_db": cfg["train_snr_db"],
                  "lpips": lpips.net}, "perceptual")  # the backbone, not the file it came from: same weights


def cmd_train_deepjscc(args) -> None:
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    name, snr, per_snr = fig12_fine_tune(cfg, args, model_tag("deepjscc", args.distortion, c_out=args.c_out))

    def make():
        model = DeepJSCC(args.c_out, filters=cfg["deepjscc"]["filters"], gdn=cfg["deepjscc"].get("gdn", True))
        return _fine_tune_from(model, args.init) if args.init else model

    _train_stage(args, profile, "deepjscc", name, make, deepjscc_objective(snr, args.distortion),
                 {"c_out": args.c_out, "distortion": args.distortion, "tag": name, "snr_db": snr,
                  "init": args.init, **per_snr}, "deepjscc" if args.init is None else "fine_tune")


def cmd_train_comparison_ii(args) -> None:
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    name = model_tag("comparison_ii", "mse", cbr=args.cbr)
    _train_stage(args, profile, "comparison_ii", name,
                 lambda: with_pretrained_ntc(ntscc_config(cfg, "comparison_ii", args.cbr), args.ntc),
                 deepjscc_objective(cfg["train_snr_db"], "mse"),
                 {"cbr": args.cbr, "distortion": "mse", "tag": name, "ntc": args.ntc, "snr_db": cfg["train_snr_db"]},
                 "comparison_ii")


# --------------------------------------------------------------------------- evaluation


def load_model(profile, folder: Path):
    """(model in eval mode, run.json) of a trained model folder."""
    meta = json.loads((folder / "run.json").read_text())
    p = meta["params"]
    cfg = images_cfg(profile, p.get("block", "images"))
    if meta["kind"] == "deepjscc":
        model = DeepJSCC(p["c_out"], filters=cfg["deepjscc"]["filters"], gdn=cfg["deepjscc"].get("gdn", True))
    elif meta["kind"] == "comparison_ii":
        model = ImageNTSCC(ntscc_config(cfg, "comparison_ii", p["cbr"]))
    elif meta["kind"] == "ntc":
        model = ImageNTC(ntc_config(cfg))
    else:
        model = ImageNTSCC(ntscc_config(cfg, meta["kind"]))
    return load_weights(model, folder / "model.pt").eval(), meta


def evaluation_grid(cfg: dict, kind: str, distortion: str = "mse") -> list[tuple[float | None, float]]:
    """The (eta, SNR) pairs a model of ``kind`` trained for ``distortion`` is evaluated at, from the
    block ``cfg``: the eta sweep at the Fig. 11 SNR, and the SNR sweep of Fig. 12 (MSE, at eta_fig12)
    or Fig. 13 (c) (MS-SSIM, at ms_ssim.eta_fig13, default its smallest eta_test); perceptual models
    (Fig. 14): the MSE eta sweep at the Fig. 11 SNR only."""
    if kind in ("deepjscc", "comparison_ii"):
        snrs = sorted(set(cfg.get("test_snr_db", ())) | {cfg["fig11_snr_db"]})
        return [(None, s) for s in snrs]
    if distortion == "perceptual":  # Fig. 14: the eta sweep at its SNR only
        return [(eta, cfg["fig11_snr_db"]) for eta in cfg["eta_test"]]
    if distortion == "ms_ssim":
        ms = cfg["ms_ssim"]
        points = [(eta, cfg["fig11_snr_db"]) for eta in ms["eta_test"]]
        sweep_eta = ms.get("eta_fig13", min(ms["eta_test"]))
    else:
        points = [(eta, cfg["fig11_snr_db"]) for eta in cfg["eta_test"]]
        sweep_eta = cfg.get("eta_fig12")
    if sweep_eta is not None and "test_snr_db" in cfg:  # Kodak only
        points += [(sweep_eta, s) for s in cfg["test_snr_db"]]
    return list(dict.fromkeys(points))


def fig12_grid(cfg: dict, kind: str, snr_db: float) -> list[tuple[float | None, float]]:
    """The (eta, SNR) pairs of a Fig. 12(a) fine-tune at ``snr_db``: that SNR only, NTSCC over
    ``fig12_per_snr.eta_test`` (the paper's eta in [0.05, 0.2])."""
    if kind == "deepjscc":
        return [(None, snr_db)]
    return [(eta, snr_db) for eta in cfg["fig12_per_snr"]["eta_test"]]


@torch.no_grad()
def _deepjscc_record(model: DeepJSCC, x: torch.Tensor, snr_db: float,
                     generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    """(record of one image as ``ImageNTSCC.transmit`` gives it, x̂ (1, 3, H, W) clamped to [0, 1])."""
    channel = ComplexAWGN(snr_db)
    out = model(x, lambda s: channel(s, generator=generator))
    x_hat = out["x_hat"].clamp(0, 1)
    m = float(ms_ssim(x, x_hat, data_range=1.0)[0])
    k = float(out["k"].reshape(-1)[0])
    return {"psnr": float(psnr(x, x_hat)[0]), "ms_ssim": m, "ms_ssim_db": float(ms_ssim_db(m)),
            "k_y": k, "k_z": 0.0, "k_q": 0.0, "k": k, "cbr": float(out["cbr"].reshape(-1)[0])}, x_hat


def cmd_evaluate(args) -> None:
    profile = load(args.profile)
    device = stage_device(profile)
    folder = Path(args.model)
    model, meta = load_model(profile, folder)
    model.to(device)
    kind, p = meta["kind"], meta["params"]
    variant = "ntscc" if kind == "perceptual" else kind  # a perceptual model is an NTSCC trained for eq. (29)
    block = p.get("block", "images")
    cfg = images_cfg(profile, block)
    images = test_images(profile, Path(args.data), block)
    points = (fig12_grid(cfg, kind, p["fig12_snr_db"]) if "fig12_snr_db" in p
              else evaluation_grid(cfg, kind, p.get("distortion", "mse")))
    seed = stage_seed(int(profile["seed"]), "evaluate")
    metric = lpips_metric(args.data, device)
    started = time.perf_counter()
    lpips_seconds = 0.0
    fp = fingerprint(profile, f"ntscc.{block}", "evaluate", model=meta["run_key"])
    run_key = f"ntscc_images_eval_{meta['name']}@{fp}"
    rows = []
    with track_run(EXPERIMENT, f"evaluate-{meta['name']}",
                   params={"profile": profile.name, "model": meta["name"], "points": points, "images": len(images)},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256, "model_run_id": meta["run_id"]}) as run:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points) * len(images), desc=f"evaluate {meta['name']}",
                   disable=os.environ.get("JSCC_PROGRESS", "1") == "0", mininterval=2.0)
        records = {}
        for image_id, img in images.items():
            x = to_tensor(img).to(device)
            if kind != "deepjscc":  # g_a, hyperprior and z̄ once per image, for every (eta, SNR)
                with torch.no_grad():
                    analysis = model.transmitter(x)
            shown = []
            for eta, snr in points:
                # noise seeded per (point, image): a point does not change when others are added
                g = torch.Generator(device=device).manual_seed(stage_seed(seed, f"{eta}/{snr}/{image_id}"))
                if kind == "deepjscc":
                    rec, x_hat = _deepjscc_record(model, x, snr, g)
                else:
                    recs, x_hat = model.transmit(x, snr, eta, generator=g, analysis=analysis, return_x_hat=True)
                    rec = recs[0]
                records[eta, snr, image_id] = rec
                shown.append(x_hat)
                bar.update(1)
            t0 = time.perf_counter()  # LPIPS of every operating point of this image, batched
            for (eta, snr), value in zip(points, lpips_to_reference(metric, x, torch.cat(shown))):
                records[eta, snr, image_id][LPIPS_COLUMN] = value
            lpips_seconds += time.perf_counter() - t0
        bar.close()
        for eta, snr in points:
            for image_id in images:
                rec = records[eta, snr, image_id]
                rows.append({"method": METHODS[variant], "model": meta["name"], "variant": variant,
                             "distortion": p.get("distortion", "mse"), "lmbda": p.get("lmbda", ""),
                             "eta": "" if eta is None else eta, "train_snr_db": p.get("snr_db", cfg["train_snr_db"]),
                             "snr_db": snr, "image_id": image_id, "run_key": run_key,
                             **{k: rec[k] for k in ("psnr", "ms_ssim", "ms_ssim_db", LPIPS_COLUMN, "k_y", "k_z", "k_q",
                                                    "k", "cbr")}})
        out = folder / "eval.csv"
        write_eval_csv(out, rows, EVAL_COLUMNS)
        wall = time.perf_counter() - started
        mean_psnr = float(np.mean([r["psnr"] for r in rows]))
        run.log_metrics({"mean_psnr": mean_psnr, "seconds": wall})
        run.log_artifact(out)
        info = {"run_id": run.run_id, "run_key": run_key, "model_run_id": meta["run_id"],
                "model_run_key": meta["run_key"],
                "wall_time_s": round(wall, 3), "parameters": meta["parameters"], "device": describe_device(device),
                # LPIPS-Alex of every row: its backbone and the seconds it added to this evaluation
                "lpips": {"net": metric.net, "backbone_entry": metric.backbone_entry,
                          "seconds": round(lpips_seconds, 3),
                          "seconds_per_image_point": round(lpips_seconds / max(1, len(rows)), 4)},
                # what the model cost: its training seconds when kept, not a rerun's seconds on a finished checkpoint
                "train_wall_time_s": max(float(meta["wall_time_s"]), float(meta.get("train_time_s") or 0.0)),
                # what the model was trained on (as its training read it) and the test images read here
                "data_checksums": {**meta.get("data_checksums", {}), **data_checksums(profile, block)}}
        (folder / "eval.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"{meta['name']}: {len(rows)} rows, mean PSNR {mean_psnr:.2f} dB, {wall:.0f} s")


def cmd_rate_maps(args) -> None:
    """Fig. 8: channel uses per patch on one test image for each NTSCC model."""
    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    image_id = cfg["fig08"]["image"]
    images = load_entry_images(cfg["test_set"], Path(args.data))
    if image_id not in images:
        raise ProfileError(f"ntscc.images.fig08.image = {image_id!r} is not an image of {cfg['test_set']}")
    device = stage_device(profile)
    x = to_tensor(images[image_id]).to(device)
    eta = cfg["fig08"]["eta"]
    started = time.perf_counter()
    lambdas, maps, cbrs, run_ids = [], [], [], {}
    for folder in map(Path, args.models):
        model, meta = load_model(profile, folder)
        lambdas.append(meta["params"]["lmbda"])
        maps.append(model.to(device).rate_map(x[0], eta).cpu().numpy())  # (h, w)
        cbrs.append(float(maps[-1].sum() / x[0].numel()))  # k_y only: the map's uses over 3HW
        run_ids[meta["name"]] = meta["run_id"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "maps.npz", image=images[image_id], lambdas=np.array(lambdas), maps=np.stack(maps),
                        cbr=np.array(cbrs), eta=np.float64(eta))
    run_key = f"ntscc_images_fig08@{fingerprint(profile, 'ntscc.images', 'fig08', models=sorted(run_ids.values()))}"
    info = {"run_id": next(iter(run_ids.values())), "run_key": run_key, "image_id": image_id,
            "model_run_ids": run_ids, "wall_time_s": round(time.perf_counter() - started, 3), "cbr_is": "k_y / (3 H W)",
            "data_checksums": data_checksums(profile, args.block, sets=("test_set",))}
    (out / "maps.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"rate maps of {image_id} for lambda {lambdas} -> {out}")


def _choose_points(evals: list[str], snr: float, target_cbr: float) -> tuple[dict, dict]:
    """({curve key: the operating point at ``snr`` whose mean CBR is nearest ``target_cbr`` (in log)},
    {model name: its folder}) over the ``TARGET_CURVES`` the evaluations hold."""
    runs = [read_ntscc_eval(e) for e in evals]
    folders = {r["model"]: run.path.parent for run in runs for r in run.rows[:1]}
    points = [p for p in mean_operating_points(runs) if abs(p.snr_db - snr) < 1e-9]
    chosen = {}
    for key, variant, target, _ in TARGET_CURVES:
        cands = [p for p in points if p.variant == variant and p.distortion == target]
        if cands:
            chosen[key] = min(cands, key=lambda p: (abs(np.log(p.cbr / target_cbr)), p.model, p.eta or 0.0))
    return chosen, folders


def cmd_crops(args) -> None:
    """Figs. 15-16: each scheme's reconstruction of the Kodak crops ``perceptual.crops`` at its operating
    point nearest ``perceptual.crop_cbr`` (the evaluation's channel noise, so the same images as its
    rows), and HEVC-intra + LDPC's at the sweep's ratio nearest it, with every per-image LPIPS-Alex."""
    from jscc_core.digital.codecs import get_codec
    from jscc_core.digital.mcs import NTSCC_BPG_LDPC
    from jscc_core.digital.separation import mean_colour, read_image_results_csv

    profile = load(args.profile)
    cfg = images_cfg(profile)
    pc = cfg["perceptual"]
    snr, size, target = cfg["fig11_snr_db"], pc["crop_size"], pc["crop_cbr"]
    images = test_images(profile, Path(args.data))
    for i, c in enumerate(pc["crops"]):
        img = images.get(c["image"])
        if img is None:
            raise ProfileError(f"ntscc.images.perceptual.crops[{i}].image = {c['image']!r} is not a test image "
                               f"({cfg['test_set']}, test_limit {cfg.get('test_limit')})")
        if c["top"] + size > img.shape[0] or c["left"] + size > img.shape[1]:
            raise ProfileError(f"ntscc.images.perceptual.crops[{i}]: a {size}-px crop at ({c['top']}, {c['left']}) "
                               f"leaves {c['image']} ({img.shape[0]} x {img.shape[1]})")
    device = stage_device(profile)
    metric = lpips_metric(args.data, device)
    started = time.perf_counter()
    chosen, folders = _choose_points(args.eval, snr, target)
    seed = stage_seed(int(profile["seed"]), "evaluate")  # the evaluation's noise: its very reconstructions

    def crop(a: np.ndarray, c: dict) -> np.ndarray:
        return a[c["top"]:c["top"] + size, c["left"]:c["left"] + size]

    arrays = {f"{c['image']}__original": crop(images[c["image"]], c) for c in pc["crops"]}
    schemes, run_ids = {}, {}
    for key, p in chosen.items():
        model, meta = load_model(profile, folders[p.model])
        model.to(device)
        run_ids[meta["name"]] = meta["run_id"]
        per_image = {}
        for c in pc["crops"]:
            x = to_tensor(images[c["image"]]).to(device)
            g = torch.Generator(device=device).manual_seed(stage_seed(seed, f"{p.eta}/{snr}/{c['image']}"))
            if meta["kind"] == "deepjscc":
                rec, x_hat = _deepjscc_record(model, x, snr, g)
            else:
                recs, x_hat = model.transmit(x, snr, p.eta, generator=g, return_x_hat=True)
                rec = recs[0]
            shown = x_hat[0].mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
            arrays[f"{c['image']}__{key}"] = crop(shown, c)
            per_image[c["image"]] = {"cbr": rec["cbr"], "psnr": rec["psnr"], "ms_ssim": rec["ms_ssim"],
                                     LPIPS_COLUMN: lpips_to_reference(metric, x, x_hat)[0]}
        schemes[key] = {"model": p.model, "eta": p.eta, "mean_cbr": p.cbr, "run_key": p.run_key,
                        "per_image": per_image}
    # HEVC-intra + LDPC: the stream the sweep sent at its ratio nearest crop_cbr, or the fallback it showed
    sep = profile.get("separation")
    sweep = [r for r in read_image_results_csv(args.sweep_csv)
             if r.mcs == NTSCC_BPG_LDPC.name and abs(r.snr_db - snr) < 1e-9]
    if not sweep:
        raise ValueError(f"{args.sweep_csv}: no {NTSCC_BPG_LDPC.name} rows at {snr:g} dB")
    ratio = min({r.bandwidth_ratio for r in sweep}, key=lambda r: abs(np.log(r / target)))
    sw = sep["sweeps"]["kodak_cbr"]
    fallback = mean_colour(load_dataset(sw["dataset"], Path(args.data), sw.get("limit")))
    codec = get_codec(sep["codec"])
    ldpc, curves = {}, {}
    for c in pc["crops"]:
        img, rows = images[c["image"]], [r for r in sweep if r.image_id == c["image"]]
        if not rows:
            raise ValueError(f"{args.sweep_csv}: no row of {c['image']}")
        curves[c["image"]] = sorted((r.bandwidth_ratio, r.lpips_alex) for r in rows)
        r = next(r for r in rows if r.bandwidth_ratio == ratio)
        if r.status == "ok":
            shown = codec.decode(codec.encode(img, r.quality), img.shape)
        else:
            shown = np.broadcast_to(np.rint(np.asarray(fallback if sep["fallback"] == "mean" else (0.5,) * 3)
                                            * 255).astype(np.uint8), img.shape)
        got = float(psnr(to_tensor(img), to_tensor(np.ascontiguousarray(shown)))[0])
        if abs(got - r.psnr) > 1e-3:
            raise ValueError(f"{args.sweep_csv}: {c['image']} at R = {ratio:g} re-decoded to {got:.4f} dB, the sweep "
                             f"recorded {r.psnr:.4f} dB (another codec build?)")
        arrays[f"{c['image']}__ldpc"] = crop(np.asarray(shown), c)
        ldpc[c["image"]] = {"cbr": ratio, "psnr": r.psnr, "ms_ssim": r.ms_ssim, LPIPS_COLUMN: r.lpips_alex,
                            "status": r.status, "quality": r.quality}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "crops.npz", **arrays)
    run_key = f"ntscc_images_crops@{fingerprint(profile, 'ntscc.images', 'crops', models=sorted(run_ids.values()))}"
    info = {"run_id": next(iter(run_ids.values())), "run_key": run_key, "model_run_ids": run_ids,
            "snr_db": snr, "crop_cbr": target, "crop_size": size, "crops": thaw(pc["crops"]), "schemes": schemes,
            "ldpc": {"mcs": NTSCC_BPG_LDPC.name, "bandwidth_ratio": ratio, "per_image": ldpc,
                     "lpips_curves": curves},
            "wall_time_s": round(time.perf_counter() - started, 3),
            "data_checksums": data_checksums(profile, sets=("test_set",))}
    (out / "crops.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"crops of {len(pc['crops'])} images, {len(schemes)} learned schemes and HEVC-intra + LDPC -> {out}")


def cmd_time_models(args) -> None:
    """Table III: parameters and encode + decode time per test image, every method in one run."""
    from jscc_core.digital.codecs import get_codec
    from jscc_core.digital.ldpc import link_for, set_link_device
    from jscc_core.digital.mcs import NTSCC_BPG_LDPC
    from jscc_core.digital.separation import frame_bits, read_image_results_csv

    profile = load(args.profile)
    cfg = images_cfg(profile, args.block)
    torch.set_num_threads(int(profile["threads"]))
    device = stage_device(profile)
    images = test_images(profile, Path(args.data))
    snr = cfg["fig11_snr_db"]
    started = time.perf_counter()
    methods, run_ids = {}, []
    for label, folder in (("NTSCC", args.ntscc), ("Deep JSCC", args.deepjscc)):
        model, meta = load_model(profile, Path(folder))
        model.to(device)
        run_ids.append(meta["run_id"])
        g = torch.Generator(device=device).manual_seed(0)
        times = []
        for img in images.values():
            x = to_tensor(img).to(device)
            synchronize(device)
            t0 = time.perf_counter()
            if label == "Deep JSCC":
                _deepjscc_record(model, x, snr, g)
            else:
                model.transmit(x, snr, cfg["eta_fig12"], generator=g)
            synchronize(device)
            times.append(time.perf_counter() - t0)
        methods[label] = {"parameters": meta["parameters"], "seconds_per_image": float(np.mean(times)),
                          "images": len(times), "model": meta["name"]}
    # HEVC-intra + LDPC: encode at the quality the sweep chose at R = 1/16, LDPC encode, BP decode, HEVC decode
    sweep = [r for r in read_image_results_csv(args.sweep_csv)
             if r.mcs == NTSCC_BPG_LDPC.name and r.quality is not None]
    ratio = min({r.bandwidth_ratio for r in sweep}, key=lambda r: abs(r - 1 / 16))
    quality = {r.image_id: r.quality for r in sweep if r.bandwidth_ratio == ratio}
    set_link_device(device)  # BP decoding on the same device as the learned models
    codec, link = get_codec(profile.get("separation")["codec"]), link_for(NTSCC_BPG_LDPC)
    times = []
    for image_id, img in images.items():
        if image_id not in quality:
            continue
        t0 = time.perf_counter()
        stream = codec.encode(img, quality[image_id])
        bits = frame_bits(stream, NTSCC_BPG_LDPC.k)
        res = link(bits, snr, generator=torch.Generator().manual_seed(0))
        codec.decode(np.packbits(res.bits.numpy().reshape(-1)[:8 * len(stream)].astype(np.uint8)).tobytes(), img.shape)
        times.append(time.perf_counter() - t0)
    methods["HEVC-intra + LDPC"] = {"parameters": None, "seconds_per_image": float(np.mean(times)),
                                    "images": len(times), "bandwidth_ratio": ratio}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_key = f"ntscc_images_table3@{fingerprint(profile, 'ntscc.images', 'table3', models=run_ids)}"
    with track_run(EXPERIMENT, "time-models", params={"profile": profile.name, "images": len(images), "snr_db": snr},
                   tags={"run_key": run_key, "profile_sha256": profile.sha256}) as run:
        run.log_metrics({f"seconds_{k.replace(' ', '_').replace('+', 'and')}": v["seconds_per_image"]
                         for k, v in methods.items()})
        info = {"methods": methods, "run_id": run.run_id, "run_key": run_key, "model_run_ids": run_ids,
                "device": describe_device(device), "threads": torch.get_num_threads(),
                "wall_time_s": round(time.perf_counter() - started, 3),
                "data_checksums": data_checksums(profile, sets=("test_set",))}
        (out / "timing.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(json.dumps(methods, indent=1))


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    parser, add_stage = stage_cli("python -m pipelines.ntscc.images", __doc__)

    def add(name, fn, out=True):  # every command here reads data
        p = add_stage(name, fn, out=out, data=True)
        p.set_defaults(block="images")
        return p

    def add_train(name, fn):
        p = add(name, fn)
        p.add_argument("--block", choices=BLOCKS, default="images",
                       help="profile block ntscc.<block>: images (Kodak, default) or cifar (CIFAR-10)")
        return p

    p = add_train("train-perceptual", cmd_train_perceptual)
    p.add_argument("--lmbda", type=float, required=True)
    p.add_argument("--init", required=True, help="the MSE NTSCC of the same lambda (model.pt) to fine-tune")
    for name, fn in (("train-ntc", cmd_train_ntc), ("train-ntscc", cmd_train_ntscc)):
        p = add_train(name, fn)
        p.add_argument("--lmbda", type=float, required=True)
        p.add_argument("--distortion", choices=("mse", "ms_ssim"), default="mse")
        if name == "train-ntscc":
            p.add_argument("--ntc", help="pretrained NTC weights (Algorithm 1, line 1)")
            p.add_argument("--init", help="trained NTSCC weights to fine-tune (e.g. MS-SSIM from MSE)")
            p.add_argument("--variant", choices=("ntscc", "comparison_i"), default="ntscc")
            p.add_argument("--fig12-snr", type=float, help="fine-tune --init at this SNR (Fig. 12(a), "
                           "eta from ntscc.images.fig12_per_snr.eta_train)")
    p = add_train("train-deepjscc", cmd_train_deepjscc)
    p.add_argument("--c-out", type=int, required=True, help="channels per position: CBR = c_out / 48")
    p.add_argument("--distortion", choices=("mse", "ms_ssim"), default="mse")
    p.add_argument("--init", help="trained weights to fine-tune (e.g. MS-SSIM from MSE)")
    p.add_argument("--fig12-snr", type=float, help="fine-tune --init at this SNR (Fig. 12(a))")
    p = add_train("train-comparison-ii", cmd_train_comparison_ii)
    p.add_argument("--cbr", type=float, required=True)
    p.add_argument("--ntc", required=True, help="pretrained NTC weights (g_a, g_s)")
    add("evaluate", cmd_evaluate, out=False).add_argument("--model", required=True, help="trained model folder")
    add("rate-maps", cmd_rate_maps).add_argument("--models", nargs="+", required=True)
    p = add("crops", cmd_crops)
    p.add_argument("--eval", nargs="+", required=True, help="eval.csv of every model the figures may show")
    p.add_argument("--sweep-csv", required=True, help="the Kodak separation sweep over CBR (with LPIPS)")
    p = add("time-models", cmd_time_models)
    p.add_argument("--ntscc", required=True)
    p.add_argument("--deepjscc", required=True)
    p.add_argument("--sweep-csv", required=True)
    run_stage(parser, argv, (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    main()
