"""Resumable StyleGAN-2 training: non-saturating logistic loss, lazy R1, EMA generator, x-flip.

One step (StyleGAN-2, Sec. 4 and App. B; EMA as in StyleGAN2-ADA):

* D: minimise softplus(D(G(z))) + softplus(-D(x)) on real images x (x-flipped with probability 1/2),
  z ~ N(0, I), one w for all rows of w+ (or, with probability ``style_mixing``, two w's with a
  random crossover row);
* G: minimise softplus(-D(G(z))) (non-saturating logistic loss) through the updated D on the
  same G(z) (one synthesis pass per step serves both updates);
* every ``r1_every`` steps (lazy regularisation), D also minimises
  (r1_gamma / 2) * ||grad_x D(x)||^2 * r1_every on reals, so the penalty's average weight is r1_gamma / 2;
  D's Adam rate and betas are corrected for the extra steps: lr * c, beta ** c with c = k / (k + 1);
* G_ema: a moving average of G with half-life ``ema_half_life_images`` images, ramped up as
  min(half-life, images seen * ``ema_rampup``).

Checkpoints hold only tensors and plain types (loadable with ``torch.load(weights_only=True)``):
G, D, G_ema, both optimisers, the step, torch's RNG state and the configuration's fingerprint.
All randomness comes from torch's global generator, so a resumed run follows the uninterrupted one.
"""
from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from jscc_core.training import CheckpointError, load_checkpoint, swap_checkpoints

from .stylegan2 import Discriminator, Generator, to_unit

__all__ = ["GANSchedule", "GANResult", "train_gan", "generator_loss", "discriminator_loss", "r1_penalty",
           "ema_beta", "sample_latents", "contact_sheet", "save_png", "CheckpointError"]


@dataclass(frozen=True)
class GANSchedule:
    """A profile's ``gjscc.generator.train`` block (keys it does not use, e.g. runtime_min, are skipped)."""

    steps: int
    batch_size: int
    learning_rate: float
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 10.0
    r1_every: int = 16
    ema_half_life_images: float = 10000.0
    ema_rampup: float | None = 0.05  # None or 0: no ramp-up
    x_flip: bool = True
    style_mixing: float = 0.0  # probability of two w's per sample (0: off)
    checkpoint_every: int = 1000
    log_every: int = 100

    def __post_init__(self):
        for key in ("steps", "batch_size", "r1_every", "checkpoint_every", "log_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (minibatch standard deviation), got {self.batch_size}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive and finite, got {self.learning_rate}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.r1_gamma < 0 or self.ema_half_life_images < 0 or (self.ema_rampup or 0) < 0:
            raise ValueError("r1_gamma, ema_half_life_images and ema_rampup must be >= 0")
        if not 0 <= self.style_mixing <= 1:
            raise ValueError(f"style_mixing must be a probability, got {self.style_mixing}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    @classmethod
    def from_mapping(cls, cfg: dict) -> GANSchedule:
        fields = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in cfg.items() if key in fields})

    def d_correction(self) -> float:
        """c = k / (k + 1) of lazy regularisation with k = r1_every."""
        return self.r1_every / (self.r1_every + 1)


@dataclass
class GANResult:
    G: Generator
    D: Discriminator
    G_ema: Generator
    logs: dict[str, float]
    steps_run: int  # steps of this call (0 when the checkpoint had finished)
    train_seconds: float | None  # training seconds over every run behind G (None: not recorded)


# --------------------------------------------------------------------------- losses


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating logistic loss of G: mean softplus(-D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Logistic loss of D: mean softplus(D(G(z))) + mean softplus(-D(x))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(D: nn.Module, real: Tensor) -> Tensor:
    """Per-sample ||grad_x D(x)||^2 (B,) on reals x (B, 3, H, W) in [-1, 1], differentiable in D."""
    real = real.detach().requires_grad_(True)
    logits = D(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1)


def ema_beta(batch_size: int, images_seen: int, half_life: float, rampup: float | None) -> float:
    """Decay of the EMA after a step of ``batch_size`` images: 0.5 ** (batch / half-life), the
    half-life capped at ``images_seen * rampup`` during ramp-up (StyleGAN2-ADA)."""
    if half_life <= 0:
        return 0.0
    if rampup:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


@torch.no_grad()
def _update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def sample_latents(G: Generator, batch: int, style_mixing: float = 0.0) -> Tensor:
    """w+ (B, n_latent, style_dim) from z ~ N(0, I); with probability ``style_mixing`` per sample,
    rows from a random crossover on take a second w (style mixing regularisation)."""
    dev = next(G.parameters()).device
    z = torch.randn(batch, G.style_dim).to(dev)
    w_plus = G.broadcast(G.mapping(z))
    if style_mixing > 0:
        w2 = G.broadcast(G.mapping(torch.randn(batch, G.style_dim).to(dev)))
        cut = torch.randint(1, G.n_latent, (batch,)).to(dev)
        mix = torch.rand(batch).to(dev) < style_mixing
        cut = torch.where(mix, cut, torch.full_like(cut, G.n_latent))
        rows = torch.arange(G.n_latent, device=dev)[None, :] >= cut[:, None]  # (B, n_latent)
        w_plus = torch.where(rows[:, :, None], w2, w_plus)
    return w_plus


# --------------------------------------------------------------------------- checkpoints


def _save(path: Path, G, D, G_ema, opt_g, opt_d, step: int, fingerprint: str, logs: dict[str, float],
          train_seconds: float | None) -> None:
    """Atomic checkpoint; ``model`` is G (the key jscc_core.training.load_checkpoint checks);
    ``train_seconds``: training seconds behind ``step`` over every run (None: unknown)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": G.state_dict(), "discriminator": D.state_dict(), "model_ema": G_ema.state_dict(),
                "optimizer": opt_g.state_dict(), "optimizer_d": opt_d.state_dict(), "step": int(step),
                "rng": torch.get_rng_state(), "fingerprint": fingerprint,
                "logs": {k: float(v) for k, v in logs.items()},
                "train_seconds": None if train_seconds is None else float(train_seconds)}, tmp)
    os.replace(tmp, path)


def _resume(path: Path, fingerprint: str, G, D, G_ema, opt_g, opt_d
            ) -> tuple[int, dict[str, float], float | None]:
    state = load_checkpoint(path, fingerprint)
    missing = {"discriminator", "model_ema", "optimizer", "optimizer_d", "rng"} - state.keys()
    if missing:
        raise CheckpointError(f"{path} is not a GAN checkpoint (it lacks {sorted(missing)}); "
                              "delete it to train from scratch")
    try:
        G.load_state_dict(state["model"])
        D.load_state_dict(state["discriminator"])
        G_ema.load_state_dict(state["model_ema"])
        opt_g.load_state_dict(state["optimizer"])
        opt_d.load_state_dict(state["optimizer_d"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} does not fit these networks ({exc}); delete it to train from scratch") from exc
    torch.set_rng_state(state["rng"])
    return int(state["step"]), dict(state.get("logs", {})), state.get("train_seconds")


# --------------------------------------------------------------------------- training


def _draw_fn(data: Tensor | Callable[[int], Tensor]) -> Callable[[int], Tensor]:
    if callable(data) and not isinstance(data, Tensor):
        return data
    if not isinstance(data, Tensor) or data.ndim != 4 or data.shape[1] != 3:
        raise TypeError("data must be a (N, 3, H, W) tensor (uint8 or float in [0, 1]) or a callable "
                        f"sample(batch_size), got {type(data).__name__} {getattr(data, 'shape', '')}")

    def draw(n: int) -> Tensor:
        batch = data[torch.randint(len(data), (n,))]
        return batch.float() / 255 if batch.dtype == torch.uint8 else batch

    return draw


def train_gan(
    G: Generator,
    D: Discriminator,
    data: Tensor | Callable[[int], Tensor],
    schedule: GANSchedule,
    checkpoint: Path,
    fingerprint: str,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    desc: str = "gan",
    restart_foreign: bool = False,
    device: str | torch.device = "cpu",
) -> GANResult:
    """Train G against D on ``data``; resumes from ``checkpoint`` when it exists.

    ``data``: real images, a (N, 3, H, W) tensor (uint8, or float in [0, 1]) from which each step
    draws ``batch_size`` rows uniformly with replacement, or a callable ``sample(batch_size)`` ->
    (B, 3, H, W) float in [0, 1] drawing from torch's global generator. ``fingerprint``: the
    configuration the checkpoint belongs to (another one is a :class:`CheckpointError`, or with
    ``restart_foreign`` it is set aside, and one set aside for ``fingerprint`` is resumed). ``on_log(step, means)`` gets
    the mean losses of every ``log_every`` steps. Returns the networks (G_ema in eval mode) and
    the last step's losses.
    """
    draw = _draw_fn(data)
    checkpoint = Path(checkpoint)
    device = torch.device(device)
    G.to(device)
    D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=schedule.learning_rate, betas=schedule.betas, eps=1e-8)
    c = schedule.d_correction()
    opt_d = torch.optim.Adam(D.parameters(), lr=schedule.learning_rate * c,
                             betas=tuple(b ** c for b in schedule.betas), eps=1e-8)
    if restart_foreign and (note := swap_checkpoints(checkpoint, fingerprint)) is not None:
        tqdm.write(f"{desc}: {note}")
    start, logs, spent = 0, {}, 0.0
    if checkpoint.exists():
        start, logs, spent = _resume(checkpoint, fingerprint, G, D, G_ema, opt_g, opt_d)
    G.train()
    D.train()
    bar = tqdm(range(start, schedule.steps), initial=start, total=schedule.steps, desc=desc,
               disable=os.environ.get("JSCC_PROGRESS", "1") == "0", mininterval=2.0)
    running: dict[str, tuple[float, int]] = {}
    n = schedule.batch_size
    t0 = time.perf_counter()
    for step in bar:
        # ---- D: logistic loss on G's images (detached) and reals
        fake = G(sample_latents(G, n, schedule.style_mixing))  # kept for G's step below
        real = draw(n).to(device) * 2 - 1  # [0, 1] -> G's range [-1, 1]
        if schedule.x_flip:
            flip = torch.rand(n).to(device) < 0.5
            real = torch.where(flip[:, None, None, None], real.flip(3), real)
        real_logits, fake_logits = D(real), D(fake.detach())
        loss_d = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # ---- G: non-saturating loss through the updated D (frozen), on the same images
        D.requires_grad_(False)
        loss_g = generator_loss(D(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        logs = {"loss_g": loss_g.item(), "loss_d": loss_d.item(), "real_logit": real_logits.mean().item(),
                "fake_logit": fake_logits.mean().item()}
        # ---- lazy R1 on reals, weighted by r1_every
        if schedule.r1_gamma > 0 and step % schedule.r1_every == 0:
            r1 = r1_penalty(D, real)
            loss_r1 = r1.mean() * (schedule.r1_gamma / 2) * schedule.r1_every
            opt_d.zero_grad(set_to_none=True)
            loss_r1.backward()
            opt_d.step()
            logs["r1"] = r1.mean().item()
        if not all(math.isfinite(v) for v in logs.values()):
            raise FloatingPointError(f"{desc}: a loss became non-finite at step {step}: {logs}")
        # ---- EMA of G
        _update_ema(G_ema, G, ema_beta(n, (step + 1) * n, schedule.ema_half_life_images, schedule.ema_rampup))
        for key, value in logs.items():
            total, count = running.get(key, (0.0, 0))
            running[key] = (total + value, count + 1)  # r1 is logged on regularisation steps only
        done = step + 1
        if done % schedule.log_every == 0:
            mean = {key: total / count for key, (total, count) in running.items()}
            running = {}
            bar.set_postfix({key: f"{value:.3g}" for key, value in mean.items()})
            if on_log is not None:
                on_log(done, mean)
        if done % schedule.checkpoint_every == 0 or done == schedule.steps:
            _save(checkpoint, G, D, G_ema, opt_g, opt_d, done, fingerprint, logs,
                  None if spent is None else spent + time.perf_counter() - t0)
    G.eval()
    D.eval()
    total = None if spent is None else spent + time.perf_counter() - t0
    return GANResult(G, D, G_ema.eval(), logs, max(0, schedule.steps - start), total)


# --------------------------------------------------------------------------- contact sheets


@torch.no_grad()
def contact_sheet(G: Generator, n: int = 64, seed: int = 0, nrow: int = 8, pad: int = 2,
                  noise_seed: int | None = None) -> np.ndarray:
    """A grid of ``n`` samples G(z) from fixed z (seeded by ``seed``) as a (H, W, 3) uint8 array,
    ``nrow`` images per row, ``pad`` white pixels between them. Noise maps are seeded too."""
    gen = torch.Generator().manual_seed(seed)
    dev = next(G.parameters()).device
    z = torch.randn(n, G.style_dim, generator=gen).to(dev)
    noise = G.make_noise(n, generator=torch.Generator().manual_seed(seed + 1 if noise_seed is None else noise_seed))
    was_training = G.training
    G.eval()
    imgs = to_unit(G(G.broadcast(G.mapping(z)), noise)).cpu()
    G.train(was_training)
    return image_grid(imgs, nrow=nrow, pad=pad)


def image_grid(imgs: Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> (rows * (H + pad) - pad, nrow * (W + pad) - pad, 3) uint8 grid on white."""
    b, _, h, w = imgs.shape
    rows = math.ceil(b / nrow)
    grid = np.full((rows * (h + pad) - pad, nrow * (w + pad) - pad, 3), 255, dtype=np.uint8)
    arr = (imgs.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i in range(b):
        r, c = divmod(i, nrow)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = arr[i]
    return grid


def save_png(array: np.ndarray, path: Path | str) -> Path:
    """Write a (H, W, 3) uint8 array as PNG (atomically)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
