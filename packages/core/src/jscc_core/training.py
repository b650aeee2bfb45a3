"""Resumable training loop: Adam on minibatches, atomic checkpoints that load with weights_only=True.

The rate of a step is ``schedule.lr_at(step) * plateau scale * group lr_scale``: a function of the
step, the optional plateau rule's scale (saved in the checkpoint) and a fixed factor per parameter
group, so a resumed run follows the same path as an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from (corrupt, or written by another configuration)."""


@dataclass(frozen=True)
class TrainSchedule:
    steps: int
    batch_size: int
    learning_rate: float
    checkpoint_every: int = 1000
    log_every: int = 100
    lr_final_ratio: float = 1.0  # 1.0: constant rate (the paper); < 1: cosine decay to ratio * rate
    warmup_steps: int = 0  # linear ramp of the rate over the first steps (0: none, the paper)
    grad_clip: float | None = None  # clip the global gradient norm to this (None: no clipping, the paper)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's (beta_1, beta_2)
    # Plateau rule: every epoch_steps steps train() calls validate(model); after plateau_patience
    # epochs in a row without a new lowest value, the rate is multiplied by plateau_factor.
    plateau_factor: float | None = None  # None: no plateau rule
    plateau_patience: int | None = None
    epoch_steps: int | None = None  # steps per epoch: how often validate(model) runs

    def __post_init__(self):
        for key in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must be in [0, steps), got {self.warmup_steps}")
        if self.grad_clip is not None and not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ValueError(f"grad_clip must be positive and finite or None, got {self.grad_clip}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive and finite, got {self.learning_rate}")
        if not 0 < self.lr_final_ratio <= 1:
            raise ValueError(f"lr_final_ratio must be in (0, 1], got {self.lr_final_ratio}")
        try:
            betas = tuple(float(b) for b in self.betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}") from None
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", betas)  # a profile's list becomes a tuple
        for key in ("plateau_patience", "epoch_steps"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{key} must be a positive integer or None, got {value!r}")
        if self.plateau_factor is not None:
            if not 0 < self.plateau_factor < 1:
                raise ValueError(f"plateau_factor must be in (0, 1) or None, got {self.plateau_factor}")
            for key in ("plateau_patience", "epoch_steps"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key} is required when plateau_factor is set (the plateau rule)")

    @classmethod
    def from_mapping(cls, cfg: dict) -> TrainSchedule:
        """From a profile's schedule block (keys it does not use, e.g. runtime_min, are skipped)."""
        fields = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in cfg.items() if key in fields})

    def lr_at(self, step: int) -> float:
        """Learning rate of a step; a function of the step alone, so resuming needs no scheduler state."""
        low = self.learning_rate * self.lr_final_ratio
        ramp = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return ramp * (low + (self.learning_rate - low) * 0.5 * (1 + math.cos(math.pi * step / self.steps)))


LossFn = Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
#: Values of a profile's ``device`` setting.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, key: str = "device") -> torch.device:
    """The torch device of a ``device`` setting: ``cpu``, ``cuda`` (or ``cuda:N``), ``mps`` (Apple
    GPUs), or ``auto`` (CUDA when this machine has it, else the CPU). A CUDA or MPS device the
    machine lacks is a one-line ValueError naming ``key``, before anything is computed."""
    text = str(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"{key} is {text!r} but this machine has no CUDA device (torch "
                             f"{torch.__version__}, CUDA build {torch.version.cuda}); choose cpu or auto")
        index = int(text[5:]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"{key} is {text!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(text)
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{key} is 'mps' but this machine has no MPS device (torch {torch.__version__}); "
                             "choose cpu or auto")
        return torch.device("mps")
    raise ValueError(f"{key} must be one of auto, cpu, cuda, cuda:N or mps, got {name!r}")


def profile_device(profile) -> torch.device:
    """The profile's top-level ``device`` setting (cpu when unset) through :func:`resolve_device`:
    where a stage puts its models and tensors."""
    return resolve_device(profile.get("device", "cpu"), "device")


def device_gpus(name: str | None) -> int:
    """GPUs a stage with this ``device`` setting asks a cluster for: 1 for cuda and auto (which
    uses one when it is given one), 0 for cpu, mps (a local Apple GPU, not a cluster's) and unset."""
    return 0 if name is None or str(name) in ("cpu", "mps") else 1


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so a timing is complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def describe_device(device: torch.device) -> str:
    """What a timing ran on: ``CPU (n cores)`` or the CUDA device's name."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    if device.type == "mps":
        return "Apple MPS (mps)"
    return f"CPU ({os.cpu_count()} cores)"


@dataclass(frozen=True)
class AuxiliaryLoss:
    """A loss with its own Adam, stepped after each main step and outside the gradient clip:
    CompressAI's ``aux_loss()``, which fits an entropy bottleneck's quantiles (the range of z
    that ``update()`` tabulates) and reaches no other parameter.

    params: the parameters it trains (left out of the main optimizer); loss(model) -> scalar.
    """

    params: Sequence[nn.Parameter]
    loss: Callable[[nn.Module], torch.Tensor]
    learning_rate: float = 1e-3  # CompressAI's examples and the NTSCC authors' code

#: One parameter group of :func:`train`: ``{"params": iterable of parameters, "lr_scale": float}``.
ParamGroup = Mapping[str, object]


def _fresh_plateau() -> dict[str, float | int]:
    """State of the plateau rule: rate scale, lowest validation value so far, epochs since it."""
    return {"scale": 1.0, "best": math.inf, "bad_epochs": 0}


def plateau_update(state: Mapping[str, float | int], value: float, factor: float, patience: int
                   ) -> dict[str, float | int]:
    """The plateau rule after one validation: a value below the best so far resets the count;
    otherwise, after ``patience`` epochs in a row without a new best, the scale is multiplied
    by ``factor`` and the count starts again (the paper: x0.8 when the validation error has not
    improved in 4 epochs; torch's ReduceLROnPlateau would wait one epoch more)."""
    state = dict(state)
    if value < state["best"]:
        state["best"], state["bad_epochs"] = float(value), 0
        return state
    state["bad_epochs"] = int(state["bad_epochs"]) + 1
    if state["bad_epochs"] >= patience:
        state["scale"], state["bad_epochs"] = float(state["scale"]) * factor, 0
    return state


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, fingerprint: str,
                    logs: dict[str, float] | None = None, plateau: Mapping[str, float | int] | None = None,
                    aux_optimizer: torch.optim.Optimizer | None = None, train_seconds: float | None = None) -> None:
    """Atomic checkpoint holding only tensors and plain types (loadable with weights_only=True);
    ``logs``: the metrics of the last step, returned by a resumed run with no step left;
    ``plateau``: the plateau rule's state (rate scale, best validation value, epochs since it);
    ``aux_optimizer``: the optimizer of an :class:`AuxiliaryLoss`, if any;
    ``train_seconds``: seconds of training behind ``step`` over every run that added steps
    (None: unknown, e.g. resumed from a checkpoint that did not keep them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "rng": torch.get_rng_state(),
            "fingerprint": fingerprint,
            "logs": {key: float(value) for key, value in (logs or {}).items()},
            "plateau": {key: value for key, value in (plateau or _fresh_plateau()).items()},
            "train_seconds": None if train_seconds is None else float(train_seconds),
            **({"aux_optimizer": aux_optimizer.state_dict()} if aux_optimizer is not None else {}),
        },
        tmp,
    )
    os.replace(tmp, path)


def checkpoint_train_seconds(path: Path) -> float | None:
    """Seconds of training the checkpoint at ``path`` holds, summed over the runs that trained it,
    so a stage that resumes a finished checkpoint still reports what its model cost; None when
    the checkpoint predates this record."""
    value = load_checkpoint(path).get("train_seconds")
    return None if value is None else float(value)


def load_checkpoint(path: Path, fingerprint: str | None = None) -> dict:
    """Load a checkpoint safely; a corrupt file or a foreign configuration is a clear error."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.__class__.__name__}: {exc}") from exc
    if not isinstance(state, dict) or not {"model", "step", "fingerprint"} <= state.keys():
        raise CheckpointError(f"{path} is not a checkpoint written by this package")
    if fingerprint is not None and state["fingerprint"] != fingerprint:
        raise CheckpointError(
            f"{path} was written for another configuration (fingerprint {state['fingerprint']}, "
            f"expected {fingerprint}); delete it to train from scratch"
        )
    return state


def set_aside_foreign_checkpoint(path: Path, fingerprint: str) -> Path | None:
    """Rename a checkpoint written for another configuration to ``<stem>.<its fingerprint>.pt``
    so training starts afresh without destroying it; returns the new path (None: nothing moved).

    For pipeline stages, which rerun because their configuration changed. A checkpoint that
    cannot be read stays where it is, and training then stops with a :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        old = load_checkpoint(path)["fingerprint"]
    except CheckpointError:
        return None
    if old == fingerprint:
        return None
    target = path.with_name(f"{path.stem}.{old}{path.suffix}")
    os.replace(path, target)
    return target


def restore_set_aside_checkpoint(path: Path, fingerprint: str) -> Path | None:
    """Move the checkpoint set aside for ``fingerprint`` (``<stem>.<fingerprint>.pt``, see
    :func:`set_aside_foreign_checkpoint`) back to ``path`` when ``path`` is free, so a configuration
    that comes back resumes its own training; returns the path it came from (None: nothing moved).
    A file of that name holding another fingerprint, or none that can be read, stays where it is."""
    path = Path(path)
    kept = path.with_name(f"{path.stem}.{fingerprint}{path.suffix}")
    if path.exists() or not kept.is_file():
        return None
    try:
        if load_checkpoint(kept)["fingerprint"] != fingerprint:
            return None
    except CheckpointError:
        return None
    os.replace(kept, path)
    return kept


def swap_checkpoints(path: Path, fingerprint: str) -> str | None:
    """Before a pipeline stage trains under ``fingerprint``: set aside a checkpoint of another
    configuration at ``path`` and bring back the one set aside for this configuration, if any.
    Returns a line saying what moved (None: nothing did)."""
    moved = set_aside_foreign_checkpoint(path, fingerprint)
    restored = restore_set_aside_checkpoint(path, fingerprint)
    notes = [f"{path} is from another configuration; kept as {moved}"] if moved else []
    if restored:
        notes.append(f"resuming this configuration's checkpoint {restored} (moved back to {path})")
    elif moved:
        notes.append("starting afresh")
    return ", ".join(notes) if notes else None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved by a training stage (weights only); clear errors for bad files."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"model weights {path} do not exist; run the stage that trains them first") from None
    except Exception as exc:
        raise CheckpointError(f"cannot read model weights {path}: {exc.__class__.__name__}: {exc}") from exc


def weights_digest(path: Path) -> str:
    """SHA-256 of saved weights' names and values (not of the file's bytes)."""
    h = hashlib.sha256()
    state = read_weights(path)
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a state dict saved by a training stage into ``model``; clear errors for bad files."""
    state = read_weights(path)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path} does not hold weights of a {type(model).__name__}: {exc}") from exc
    return model


def _param_groups(model: nn.Module, groups: Sequence[ParamGroup] | None) -> list[dict]:
    """Adam's parameter groups with their ``lr_scale``; every parameter must be a trainable one of ``model``."""
    if groups is None:
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]
    if isinstance(groups, Mapping) or not isinstance(groups, Iterable):
        raise TypeError(f"optimizer_groups must be a sequence of {{'params': ..., 'lr_scale': ...}} mappings, "
                        f"got {type(groups).__name__}")
    owned = {id(p) for p in model.parameters()}
    out = []
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"optimizer group {i} must be a mapping with a 'params' entry, got {group!r}")
        unknown = set(group) - {"params", "lr_scale"}
        if unknown:
            raise ValueError(f"optimizer group {i} has unknown keys {sorted(unknown)} (allowed: params, lr_scale)")
        params = list(group["params"])
        scale = group.get("lr_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"optimizer group {i}: lr_scale must be positive and finite, got {scale!r}")
        if not params:
            raise ValueError(f"optimizer group {i} has no parameters")
        for p in params:
            if id(p) not in owned:
                raise ValueError(f"optimizer group {i} holds a tensor of shape {tuple(p.shape)} that is not a "
                                 f"parameter of the {type(model).__name__} being trained (it would not be saved)")
            if not p.requires_grad:
                raise ValueError(f"optimizer group {i} holds a frozen parameter of shape {tuple(p.shape)} "
                                 f"(requires_grad is False)")
        out.append({"params": params, "lr_scale": float(scale)})
    return out


def _validation(model: nn.Module, validate: Callable[[nn.Module], float], desc: str, step: int) -> float:
    """``validate(model)`` in eval mode without gradients, on a copy of the global generator's
    state, so validating never changes the batches or channel draws of training."""
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            value = float(validate(model))
    finally:
        model.train(was_training)
    if not math.isfinite(value):
        raise FloatingPointError(f"{desc}: validation value became {value} after step {step}")
    return value


def train(
    model: nn.Module,
    loss_fn: LossFn,
    data: torch.Tensor | Callable[[int], torch.Tensor],
    schedule: TrainSchedule,
    checkpoint: Path,
    fingerprint: str,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    desc: str = "train",
    restart_foreign: bool = False,
    optimizer_groups: Sequence[ParamGroup] | None = None,
    validate: Callable[[nn.Module], float] | None = None,
    aux: AuxiliaryLoss | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Adam on minibatches drawn from ``data``; resumes from ``checkpoint`` when it exists.

    ``data`` is either a tensor of samples, from which each step takes ``batch_size`` rows
    drawn uniformly with replacement, or a callable ``sample(batch_size) -> tensor`` (e.g.
    :class:`jscc_core.images.RandomCrops`) called once per step.

    ``optimizer_groups``: None for one Adam group over all of ``model.parameters()``, or a
    sequence of ``{"params": [...], "lr_scale": s}`` (s defaults to 1): each group runs at
    ``s`` times the schedule's rate. Parameters left out of every group are not trained
    (frozen parts of the model); those in a group must be ``model``'s and require gradients.

    ``validate(model) -> float`` (lower is better) runs every ``schedule.epoch_steps`` steps,
    in eval mode without gradients and on a copy of the global generator's state (so it does
    not change the training path; it should draw its own randomness from a fixed seed to be
    comparable between epochs). With ``schedule.plateau_factor`` set it drives the plateau
    rule (:func:`plateau_update`), whose state is saved in the checkpoint.

    ``aux``: an :class:`AuxiliaryLoss` trained by its own Adam after each main step; its
    parameters are left out of the main optimizer (and of its groups and gradient clip).

    ``device``: the model is moved there before its optimizers are built and every batch is
    moved there after it is drawn (None: where the model is). Batches are drawn on the CPU,
    so the data a resumed run sees does not depend on the device.

    All randomness comes from torch's global generator, whose state is saved in
    the checkpoint, so an interrupted run resumed later follows the same path; a callable
    ``data`` must therefore draw its randomness from that generator too.

    A checkpoint of another ``fingerprint`` is a :class:`CheckpointError`; with
    ``restart_foreign`` it is set aside instead, and one set aside earlier for ``fingerprint``
    is resumed (:func:`swap_checkpoints`).
    """
    if isinstance(data, torch.Tensor):
        def draw(n: int, data: torch.Tensor = data) -> torch.Tensor:
            return data[torch.randint(len(data), (n,))]
    elif callable(data):
        draw = data
    else:
        raise TypeError(f"data must be a tensor or a callable sample(batch_size), got {type(data).__name__}")
    if schedule.plateau_factor is not None and validate is None:
        raise ValueError(f"{desc}: the schedule has a plateau rule (plateau_factor={schedule.plateau_factor}) "
                         "but train() got no validate callback")
    if device is not None:
        model.to(device)
    aux_ids = {id(p) for p in aux.params} if aux is not None else set()
    if optimizer_groups is None and aux is not None:
        optimizer_groups = [{"params": [p for p in model.parameters() if id(p) not in aux_ids]}]
    groups = _param_groups(model, optimizer_groups)
    if any(id(p) in aux_ids for group in groups for p in group["params"]):
        raise ValueError(f"{desc}: a parameter of the auxiliary loss is also in a main optimizer group")
    aux_optimizer = torch.optim.Adam(list(aux.params), lr=aux.learning_rate) if aux is not None else None
    scales = [group["lr_scale"] for group in groups]
    params = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.Adam(groups, lr=schedule.learning_rate, betas=schedule.betas)
    start = 0
    spent: float | None = 0.0          # training seconds of earlier runs (None: not recorded)
    plateau = _fresh_plateau()
    if restart_foreign and (note := swap_checkpoints(checkpoint, fingerprint)) is not None:
        tqdm.write(f"{desc}: {note}")
    if Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, fingerprint)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if aux_optimizer is not None:
                aux_optimizer.load_state_dict(state["aux_optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{checkpoint} does not fit this model ({exc}); delete it to train from scratch") from exc
        torch.set_rng_state(state["rng"])
        start = int(state["step"])
        spent = state.get("train_seconds")
        plateau.update(state.get("plateau", {}))
        logs: dict[str, float] = dict(state.get("logs", {}))  # a finished run returns its last metrics
    else:
        logs = {}
    model.train()
    bar = tqdm(range(start, schedule.steps), initial=start, total=schedule.steps, desc=desc,
               disable=os.environ.get("JSCC_PROGRESS", "1") == "0", mininterval=2.0)
    running: dict[str, float] = {}
    t0 = time.perf_counter()
    for step in bar:
        rate = schedule.lr_at(step) * plateau["scale"]
        for group, scale in zip(optimizer.param_groups, scales):
            group["lr"] = rate * scale
        batch = draw(schedule.batch_size)
        if device is not None:
            batch = batch.to(device, non_blocking=True)
        loss, logs = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if schedule.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, schedule.grad_clip)
        optimizer.step()
        if aux_optimizer is not None:
            aux_optimizer.zero_grad(set_to_none=True)
            aux.loss(model).backward()
            aux_optimizer.step()
        for key, value in logs.items():
            running[key] = running.get(key, 0.0) + value
        done = step + 1
        if done % schedule.log_every == 0:
            mean = {key: value / schedule.log_every for key, value in running.items()}
            running = {}
            bar.set_postfix({key: f"{value:.4g}" for key, value in mean.items()})
            if on_log is not None:
                on_log(done, mean)
        if validate is not None and schedule.epoch_steps is not None and done % schedule.epoch_steps == 0:
            value = _validation(model, validate, desc, done)
            if schedule.plateau_factor is not None:
                plateau = plateau_update(plateau, value, schedule.plateau_factor, schedule.plateau_patience)
        if done % schedule.checkpoint_every == 0 or done == schedule.steps:
            save_checkpoint(checkpoint, model, optimizer, done, fingerprint, logs, plateau, aux_optimizer,
                            train_seconds=None if spent is None else spent + time.perf_counter() - t0)
    model.eval()
    return logs
