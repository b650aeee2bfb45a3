"""Generative JSCC by posterior sampling (Dai et al. 2024, Sec. "strongly-coupled JSCC", Fig. 5 scheme iii).

The transmitter is a DeepJSCC encoder f_theta (:class:`generative_jscc.deepjscc.DeepJSCC`); the
receiver does not decode the received symbols y with g_phi but draws faces from the posterior of a
pre-trained StyleGAN-2 prior G given y, so its reconstructions stay on G's range (realism) while
they agree with y (consistency).

Measurement model: y = f_theta(x, SNR) + n, n ~ CN(0, sigma^2 I_k), with f_theta's unit average
power per complex use of each image (GJSCC eq. 3) and sigma^2 = P / 10^(SNR/10), P = 1 (eq. 5).
y keeps f_theta's real layout (B, c_out, H/16, W/16): consecutive pairs of the flattened reals are
the k = (H/16)(W/16) c_out / 2 complex symbols (:meth:`DeepJSCC.channel`), so
||y - z||^2 over the reals is the sum over the k symbols of |y_j - z_j|^2.

Prior: x = G(w(v), n_G) with the Gaussianised latent v (B, n_latent, d) of InverseJSCC
(:mod:`generative_jscc.latent`: w = LeakyReLU_0.2(sigma v + mu), mu and sigma fitted on the mapping
network), v ~ N(0, I), and G's noise maps n_G ~ N(0, I).  The energy (negative log posterior up
to a constant) is

    U(v, n_G) = ||y - f_theta(G(v, n_G), SNR)||^2 / sigma^2  +  ||v||^2 / 2  +  sum_l ||n_l||^2 / 2,

the first term the exact complex-AWGN log-likelihood (data term), the rest the prior.

Sampler: unadjusted Langevin dynamics (ULA) on (v, n_G) jointly, for t = 0 .. T - 1

    v <- v - eps_t grad_v U + sqrt(2 eps_t tau) xi,   xi ~ N(0, I)   (the same for every noise map),

with a geometric step-size schedule eps_t = eps_0 r^(t / (T - 1)) (r = ``step_size_final_ratio``)
and temperature tau (1: the posterior itself).  K chains per received y run in one batch.  Every
chain starts from its own CSGM estimate, the round 0 of InverseJSCC (ILO) run on U itself: a random
N(0, I) latent and noise maps, ``init_steps`` Adam steps on U with ILO's learning-rate ramp
(:func:`generative_jscc.inverse.lr_schedule`) on v and the first ``init_noise_layers`` noise maps,
each re-projected onto its initial sphere after every step.  The descent is on U (the MAP problem
of the same posterior) and not on InverseJSCC's eq. (12): the receiver has y, not only g_phi(y), so
the init needs neither g_phi, the channel noise draws of eq. (12) nor LPIPS.

Shapes (Sionna style): y [B, c_out, S/16, S/16] float; snr_db a number or [B]; samples x
[B, K, 3, S, S] in [0, 1]; energies [B, K].  S is ``image_size`` (G's own size by default; G's
image is resized to it as InverseJSCC does).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from jscc_core.channels import check_snr_db, snr_db_to_noise_var

from .deepjscc import DOWNSAMPLE
from .inverse import lr_schedule
from .latent import LatentStats, fit_latent_stats, project_to_sphere, sphere_radii
from .stylegan2 import resize_to

__all__ = ["PosteriorSamples", "PosteriorJSCC", "step_sizes"]


@dataclass
class PosteriorSamples:
    """Outcome of :meth:`PosteriorJSCC.sample` for B received y and K chains each.

    x: [B, K, 3, S, S] in [0, 1], G's image at the chains' last state; x_init: the same at the CSGM
    start; energy, energy_init: [B, K] U at the last state and at the start of the Langevin chain;
    data, data_init: [B, K] U's data term ||y - f_theta(G(.))||^2 / sigma^2 at those states (about k
    for a face consistent with y); energy_start: [B, K] U at the random start (before the init);
    v: [B, K, n_latent, d] the chains' last latents.
    """

    x: Tensor
    x_init: Tensor
    energy: Tensor
    energy_init: Tensor
    energy_start: Tensor
    data: Tensor
    data_init: Tensor
    v: Tensor


def step_sizes(step_size: float, steps: int, final_ratio: float = 1.0) -> list[float]:
    """Geometric Langevin step sizes eps_t = step_size * final_ratio^(t / (steps - 1)), t < steps."""
    if steps == 1:
        return [float(step_size)]
    return [float(step_size) * final_ratio ** (t / (steps - 1)) for t in range(steps)]


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


class PosteriorJSCC:
    """Posterior sampling of G's latent and noise maps given received DeepJSCC symbols (module text).

    Parameters
    ----------
    generator: :class:`generative_jscc.stylegan2.Generator` G, the prior (frozen here, eval mode).
    deepjscc: :class:`generative_jscc.deepjscc.DeepJSCC` whose ``f_theta`` is the measurement model
        (frozen here, eval mode); its decoder is not used.
    samples: K, chains per received y.
    init_steps: Adam steps of the CSGM start on U (0: start from the random prior draw).
    init_learning_rate, init_rampup, init_rampdown: Adam's peak rate and ILO's ramp of the start.
    init_noise_layers: the start optimises noise maps with index < this (ILO round 0: 5).
    steps: T, Langevin steps.
    step_size: eps_0 of the Langevin update; step_size_final_ratio: eps_{T-1} / eps_0 (geometric).
    temperature: tau of the Langevin noise (1: the posterior).
    latent_samples, stats_seed: mapping-network samples (and their seed) for the latent statistics.
    image_size: S, the side of the images f_theta sees (None: G's size).

    Raises
    ------
    ValueError naming the setting that is out of range.
    """

    def __init__(self, generator: nn.Module, deepjscc: nn.Module, samples: int = 4, init_steps: int = 32,
                 init_learning_rate: float = 0.1, init_rampup: float = 0.05, init_rampdown: float = 0.75,
                 init_noise_layers: int = 5, steps: int = 24, step_size: float = 1e-3,
                 step_size_final_ratio: float = 1.0, temperature: float = 1.0, latent_samples: int = 10000,
                 stats_seed: int = 0, image_size: int | None = None):
        for name, value in (("samples", samples), ("steps", steps)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("init_steps", init_steps), ("init_noise_layers", init_noise_layers)):
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not 0 <= init_rampup <= 1 or not 0 < init_rampdown <= 1:
            raise ValueError(f"need 0 <= init_rampup <= 1 and 0 < init_rampdown <= 1, got {init_rampup}, "
                             f"{init_rampdown}")
        self.samples, self.init_steps, self.steps = int(samples), int(init_steps), int(steps)
        self.init_learning_rate = _positive("init_learning_rate", init_learning_rate)
        self.init_rampup, self.init_rampdown = float(init_rampup), float(init_rampdown)
        self.init_noise_layers = int(init_noise_layers)
        self.step_size = _positive("step_size", step_size)
        self.step_size_final_ratio = _positive("step_size_final_ratio", step_size_final_ratio)
        self.temperature = _positive("temperature", temperature)
        self.generator = generator.eval().requires_grad_(False)
        self.deepjscc = deepjscc.eval().requires_grad_(False)
        self.image_size = int(generator.size if image_size is None else image_size)
        if self.image_size < DOWNSAMPLE or self.image_size % DOWNSAMPLE:
            raise ValueError(f"image_size must be a positive multiple of {DOWNSAMPLE}, got {self.image_size}")
        self.device = next(generator.parameters()).device
        seed = torch.Generator(device="cpu").manual_seed(int(stats_seed))
        # The latent statistics of InverseJSCC (PULSE, ILO): the mapping network's last leaky ReLU undone.
        self.stats: LatentStats = fit_latent_stats(
            lambda z: generator.mapping(z.to(self.device)).cpu(), generator.style_dim, latent_samples,
            generator=seed).to(self.device)

    # ---- shapes and checks

    def symbol_shape(self) -> tuple[int, int, int]:
        """(c_out, S/16, S/16): the shape of one received y."""
        side = self.image_size // DOWNSAMPLE
        return self.deepjscc.c_out, side, side

    def check(self, y: Tensor, snr_db: float | Tensor) -> None:
        """ValueError naming the problem if y is not [B, c_out, S/16, S/16] finite or snr_db is not a valid SNR."""
        want = self.symbol_shape()
        if not isinstance(y, Tensor) or y.dim() != 4 or y.shape[0] < 1 or tuple(y.shape[1:]) != want \
                or not y.is_floating_point():
            shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"received symbols y must be a float tensor (B, {want[0]}, {want[1]}, {want[2]}) "
                             f"(f_theta's output for {self.image_size}-px images), got {shape}")
        if not torch.isfinite(y).all():
            raise ValueError("received symbols y hold NaN or infinite values")
        check_snr_db(snr_db)
        if isinstance(snr_db, Tensor) and snr_db.dim() > 0 and snr_db.shape != (y.shape[0],):
            raise ValueError(f"snr_db must be a number or a ({y.shape[0]},) tensor, got shape {tuple(snr_db.shape)}")

    # ---- energy

    def energy(self, v: Tensor, noise: list[Tensor], y: Tensor, snr_db: float | Tensor
               ) -> tuple[Tensor, Tensor, Tensor]:
        """U per chain (module text) for latents v [N, n_latent, d] and noise maps [N, 1, r, r].

        y: [N, c_out, S/16, S/16]; snr_db: a number or [N].  Returns (U [N], data term [N],
        G's image [N, 3, S, S] as (img + 1) / 2, not clamped: gradients pass at the range's edges).
        """
        _, rgb = self.generator.synthesis(self.stats.to_w(v), noise)
        x_g = resize_to((rgb + 1) / 2, self.image_size)
        z = self.deepjscc.f_theta(x_g, snr_db)                           # not clamped, as InverseJSCC feeds A
        var = snr_db_to_noise_var(snr_db if isinstance(snr_db, Tensor) else float(snr_db))
        var = torch.as_tensor(var, dtype=z.dtype, device=z.device).reshape(-1)
        data = (y - z).pow(2).flatten(1).sum(1) / var                     # -log p(y | x) + const (CN(0, sigma^2))
        prior = 0.5 * v.pow(2).flatten(1).sum(1) + 0.5 * sum(n.pow(2).flatten(1).sum(1) for n in noise)
        return data + prior, data, x_g

    # ---- sampling

    def _randn(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        dev = generator.device if generator is not None else self.device
        return torch.randn(shape, generator=generator, device=dev).to(self.device)

    def sample(self, y: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None
               ) -> PosteriorSamples:
        """K posterior samples for each received y [B, c_out, S/16, S/16] at snr_db (a number or [B]).

        ``generator`` draws every chain's random start and every Langevin noise (None: torch's
        global generator); the draws are made for the B K chains at once.
        """
        self.check(y, snr_db)
        with torch.enable_grad():                  # also when called under torch.no_grad()
            return self._sample(y.to(self.device), snr_db, generator)

    def _sample(self, y: Tensor, snr_db: float | Tensor, generator: torch.Generator | None) -> PosteriorSamples:
        g, b, k = self.generator, y.shape[0], self.samples
        n = b * k
        y = y.repeat_interleave(k, 0)                                      # chain j of y_b is row b K + j
        if isinstance(snr_db, Tensor) and snr_db.dim() > 0:
            snr_db = snr_db.to(self.device).repeat_interleave(k, 0)
        v = self._randn((n, g.n_latent, g.style_dim), generator)
        noise = [self._randn((n, 1, s[2], s[3]), generator) for s in g.noise_shapes()]
        with torch.no_grad():
            energy_start = self.energy(v, noise, y, snr_db)[0]
        progress = tqdm(total=self.init_steps + self.steps, desc="posterior", leave=False, mininterval=2.0,
                        disable=os.environ.get("JSCC_PROGRESS", "1") == "0")
        v, noise = self._init(v, noise, y, snr_db, progress)
        v = v.detach().requires_grad_(True)
        noise = [m.detach().requires_grad_(True) for m in noise]
        params = [v, *noise]
        energy_init = data_init = x_init = None
        for eps in step_sizes(self.step_size, self.steps, self.step_size_final_ratio):
            u, data, x_g = self.energy(v, noise, y, snr_db)
            if energy_init is None:
                energy_init, data_init, x_init = u.detach(), data.detach(), x_g.detach().clamp(0, 1)
            grads = torch.autograd.grad(u.sum(), params)                  # chains independent: summed U
            with torch.no_grad():
                scale = math.sqrt(2 * eps * self.temperature)
                for p, grad in zip(params, grads):
                    p.add_(grad, alpha=-eps).add_(self._randn(tuple(p.shape), generator), alpha=scale)
            progress.update(1)
        progress.close()
        with torch.no_grad():
            u, data, x_g = self.energy(v, noise, y, snr_db)

        def per_face(t: Tensor) -> Tensor:
            return t.reshape(b, k, *t.shape[1:]).cpu()

        return PosteriorSamples(x=per_face(x_g.clamp(0, 1)), x_init=per_face(x_init), energy=per_face(u),
                                energy_init=per_face(energy_init), energy_start=per_face(energy_start),
                                data=per_face(data), data_init=per_face(data_init), v=per_face(v.detach()))

    def _init(self, v: Tensor, noise: list[Tensor], y: Tensor, snr_db: float | Tensor, progress
              ) -> tuple[Tensor, list[Tensor]]:
        """CSGM start (InverseJSCC round 0 on U): Adam with ILO's ramp and spherical re-projection."""
        if self.init_steps == 0:
            return v, noise
        active = list(range(min(self.init_noise_layers, len(noise))))
        v = v.requires_grad_(True)
        noise = [m.requires_grad_(i in active) for i, m in enumerate(noise)]
        v_radii, noise_radii = sphere_radii(v).detach(), [sphere_radii(m).detach() for m in noise]
        opt = torch.optim.Adam([v] + [noise[i] for i in active], lr=self.init_learning_rate)
        for i in range(self.init_steps):
            for group in opt.param_groups:
                group["lr"] = lr_schedule(i / self.init_steps, self.init_learning_rate, self.init_rampup,
                                          self.init_rampdown)
            u = self.energy(v, noise, y, snr_db)[0]
            opt.zero_grad(set_to_none=True)
            u.sum().backward()
            opt.step()
            with torch.no_grad():
                v.copy_(project_to_sphere(v, v_radii))
                for j in active:
                    noise[j].copy_(project_to_sphere(noise[j], noise_radii[j]))
            progress.update(1)
        return v.detach(), [m.detach() for m in noise]
