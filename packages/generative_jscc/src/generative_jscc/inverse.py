"""InverseJSCC (GJSCC Sec. IV-A, eqs. 12-14): intermediate layer optimisation through the fixed A.

The DeepJSCC output x_hat is treated as a measurement of an unknown face x through the forward
operator A = g_phi(eta(f_theta(.), sigma^2)) (eqs. 9-11). A face G(w, n_G) of the pre-trained
StyleGAN-2 generator G is searched that minimises eq. (12) with the regulariser of eq. (13):

    lambda_1 ||A(G(w, n_G), eta) - x_hat||^2 + lambda_2 L(A(G(w, n_G), eta), x_hat)
        + lambda_3 (lambda_4 L(G(w, n_G), x_hat) + lambda_5 GEO(w)),

L the perceptual loss (LPIPS-VGG in the paper), GEO the geodesic regulariser
(:func:`generative_jscc.latent.geocross`). As in ILO (Daras et al. 2021) the search runs in
rounds over G = G_4 o G_3 o G_2 o G_1 (eq. 14): round 0 optimises the latent and the first noise
maps (CSGM from a random latent); round r >= 1 also optimises the features entering synthesis
block r, initialised with G_r(...)(w*) of the previous round, while the earlier blocks are no
longer run. Each round uses Adam with ILO's learning-rate ramp; after each step the latent rows
and the noise maps are re-projected onto their spheres and, if radii are given, their deviations
from the round's start are projected onto l1 balls.

A is called with a fresh channel-noise draw at every step: the measurement's own noise
realisation is unknown, so the search sees a new draw of eta each time. The kept result of each
image is its lowest-objective step over all rounds.

Images are (B, 3, H, W) in [0, 1]; B images are B independent problems (per-sample objectives
are summed for the gradient, every projection and selection is per sample).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from jscc_core.channels import check_snr_db
from jscc_core.metrics import LPIPSMetric

from .latent import LatentStats, fit_latent_stats, geocross, project_l1_ball, project_to_sphere, sphere_radii
from .stylegan2 import resize_to

__all__ = ["InversionResult", "InverseJSCC", "lr_schedule", "distance_to"]

Perceptual = Callable[[Tensor, Tensor], Tensor]
Radius = float | Sequence[float | None] | None


@dataclass
class InversionResult:
    """Outcome of :meth:`InverseJSCC.invert` for B images.

    x: (B, 3, H, W) in [0, 1], the generator's image at each sample's lowest-objective step;
    loss: (B,) that objective (eq. 12); history: one (steps_r, B) tensor of objectives per ILO
    round, step by step; best_round, best_step: (B,) where each kept image was found.
    """

    x: Tensor
    loss: Tensor
    history: list[Tensor]
    best_round: Tensor
    best_step: Tensor


def lr_schedule(t: float, learning_rate: float, rampup: float = 0.05, rampdown: float = 0.75) -> float:
    """ILO's (and StyleGAN-2 projector's) learning rate at fraction t in [0, 1) of a round.

    A cosine ramp-down over the last ``rampdown`` of the round times a linear ramp-up over the
    first ``rampup`` (rampup 0: none). At t = 0 the rate is 0 when rampup > 0, so the first step
    only measures the round's starting point.
    """
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if rampup > 0:
        ramp *= min(1.0, t / rampup)
    return learning_rate * ramp


def distance_to(perceptual: Perceptual, reference: Tensor) -> Callable[[Tensor], Tensor]:
    """x (k B, 3, H, W) -> (k B,) perceptual distances of x to ``reference`` (B, 3, H, W) repeated k times.

    For an LPIPS v0.1 :class:`jscc_core.metrics.LPIPSMetric` the reference's unit-normalised
    backbone features are computed once, so each call runs the backbone on x only (both LPIPS
    terms of eq. 12 compare with the same x_hat at every step); the value is LPIPS's own,
    sum over layers l of the spatial mean of w_l . (phi_l(x) - phi_l(x_hat))^2. Any other
    callable is called as ``perceptual(x, reference repeated)``.
    """
    model = perceptual.model if isinstance(perceptual, LPIPSMetric) else None
    try:
        import lpips
    except ImportError:
        lpips = None
    if (lpips is None or not isinstance(model, lpips.LPIPS) or model.version != "0.1" or not model.lpips
            or model.spatial):
        return lambda x: perceptual(x, reference.repeat(x.shape[0] // reference.shape[0], 1, 1, 1)).reshape(-1)

    def features(x: Tensor) -> list[Tensor]:
        # LPIPSMetric feeds [0, 1] images with normalize=True: scaled to [-1, 1], then LPIPS's input scaling
        return [lpips.normalize_tensor(f) for f in model.net(model.scaling_layer(2 * x - 1))]

    with torch.no_grad():
        ref = features(reference)

    def distance(x: Tensor) -> Tensor:
        k = x.shape[0] // reference.shape[0]
        total = 0
        for lin, f, r in zip(model.lins, features(x), ref):
            total = total + lpips.spatial_average(lin((f - r.repeat(k, 1, 1, 1)) ** 2), keepdim=True)
        return total.reshape(-1)

    return distance


def _per_round(value: Radius, rounds: int, name: str) -> list[float | None]:
    """A radius for every round: None (off), one number for all rounds, or a list of len(steps)."""
    if value is None or isinstance(value, (int, float)):
        values = [value] * rounds
    else:
        values = list(value)
        if len(values) != rounds:
            raise ValueError(f"{name} needs one radius per ILO round ({rounds}), got {len(values)}")
    for v in values:
        if v is not None and not (isinstance(v, (int, float)) and v > 0):
            raise ValueError(f"{name} radii must be > 0 or None (no projection), got {v!r}")
    return [None if v is None else float(v) for v in values]


class InverseJSCC:
    """Intermediate layer optimisation of eq. (12) through a fixed forward operator A.

    generator: :class:`generative_jscc.stylegan2.Generator` G (frozen here, put in eval mode).
    forward_operator: A, ``A(x, snr_db, generator=None) -> x_hat`` with images in [0, 1]
        (:class:`generative_jscc.deepjscc.DeepJSCC`; frozen here, put in eval mode).
    perceptual: L, ``(x, y) -> (B,)`` with inputs in [0, 1] (LPIPS-VGG in the paper).
    lambdas: (lambda_1, ..., lambda_5) of eqs. (12)-(13); paper: 1, 1, 1, 0.1, 0.01.
    steps: Adam steps per ILO round; round r starts at synthesis block r, so
        len(steps) <= G.num_blocks (ILO: 50, 50, 25, 25).
    learning_rate, lr_rampup, lr_rampdown: Adam's peak rate and ILO's ramp (:func:`lr_schedule`).
    latent_samples, stats_seed: mapping-network samples (and their seed) for the latent statistics.
    noise_layers: round r optimises noise maps with index < noise_layers + 2 r (ILO: 5).
    spherical: re-project latent rows and noise maps onto their initial spheres after each step.
    latent_radius, noise_radius, state_radius: l1-ball radii of the deviation from the round's
        start of the latent, of each noise map and of the intermediate features: None (off, ILO's
        default), one number, or one per round (None entries: off in that round).
    """

    def __init__(self, generator: nn.Module, forward_operator: nn.Module, perceptual: Perceptual,
                 lambdas: Sequence[float] = (1.0, 1.0, 1.0, 0.1, 0.01), steps: Sequence[int] = (50, 50, 25, 25),
                 learning_rate: float = 0.1, lr_rampup: float = 0.05, lr_rampdown: float = 0.75,
                 latent_samples: int = 10000, stats_seed: int = 0, noise_layers: int = 5, spherical: bool = True,
                 latent_radius: Radius = None, noise_radius: Radius = None, state_radius: Radius = None):
        lambdas = [float(v) for v in lambdas]
        if len(lambdas) != 5 or any(not (math.isfinite(v) and v >= 0) for v in lambdas):
            raise ValueError(f"lambdas must be five finite numbers >= 0 (lambda_1..lambda_5), got {lambdas}")
        steps = [int(s) for s in steps]
        if not steps or any(s < 1 for s in steps):
            raise ValueError(f"steps must be a non-empty list of positive step counts per round, got {steps}")
        if len(steps) > generator.num_blocks:
            raise ValueError(f"{len(steps)} ILO rounds need {len(steps)} synthesis blocks; "
                             f"this generator has {generator.num_blocks}")
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        if not 0 <= lr_rampup <= 1 or not 0 < lr_rampdown <= 1:
            raise ValueError(f"need 0 <= lr_rampup <= 1 and 0 < lr_rampdown <= 1, got {lr_rampup}, {lr_rampdown}")
        if noise_layers < 0:
            raise ValueError(f"noise_layers must be >= 0, got {noise_layers}")
        rounds = len(steps)
        self.latent_radius = _per_round(latent_radius, rounds, "latent_radius")
        self.noise_radius = _per_round(noise_radius, rounds, "noise_radius")
        self.state_radius = _per_round(state_radius, rounds, "state_radius")
        self.generator = generator.eval().requires_grad_(False)
        self.forward_operator = forward_operator.eval().requires_grad_(False)
        if isinstance(perceptual, nn.Module):
            perceptual = perceptual.eval().requires_grad_(False)
        self.perceptual = perceptual
        self.lambdas, self.steps = lambdas, steps
        self.learning_rate, self.lr_rampup, self.lr_rampdown = float(learning_rate), float(lr_rampup), lr_rampdown
        self.noise_layers, self.spherical = int(noise_layers), bool(spherical)
        self.device = next(generator.parameters()).device
        seed = torch.Generator(device="cpu").manual_seed(int(stats_seed))
        # Latent statistics from the mapping network with its last leaky ReLU undone (PULSE, ILO).
        self.stats: LatentStats = fit_latent_stats(
            lambda z: generator.mapping(z.to(self.device)).cpu(), generator.style_dim, latent_samples,
            generator=seed).to(self.device)

    # ---- objective

    def objective(self, v: Tensor, noise: list[Tensor], x_hat: Tensor, snr_db: float | Tensor, start: int = 0,
                  state: tuple[Tensor, Tensor] | None = None, generator: torch.Generator | None = None,
                  distance: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Eq. (12) per sample for the Gaussianised latent v (B, n_latent, d) and noise maps.

        Runs synthesis blocks from ``start`` on ``state`` (features, skip) after block start - 1,
        A with a fresh channel draw from ``generator``; ``distance`` is ``distance_to(perceptual,
        x_hat)`` (built here when None). Returns (objective (B,), G's image (B, 3, H, W) as
        (img + 1) / 2, not clamped, so gradients pass at the edges of the range).
        """
        l1, l2, l3, l4, l5 = self.lambdas
        w_plus = self.stats.to_w(v)
        _, rgb = self.generator.synthesis(w_plus, noise, start=start, state=state)
        x_g = resize_to((rgb + 1) / 2, x_hat.shape[-1])
        y = self.forward_operator(x_g, snr_db, generator=generator)        # A(G(w, n_G), eta)
        loss = l1 * (y - x_hat).pow(2).flatten(1).mean(1)                 # ||.||^2 as a per-pixel mean (ILO)
        weights, inputs = [], []
        if l2 > 0:
            weights.append(l2)                                             # L(A(G(w, n_G), eta), x_hat)
            inputs.append(y)
        if l3 * l4 > 0:
            weights.append(l3 * l4)                                        # L(G(w, n_G), x_hat) of eq. (13)
            inputs.append(x_g)
        if inputs:                                                         # one backbone pass for both terms
            distance = distance_to(self.perceptual, x_hat) if distance is None else distance
            d = distance(torch.cat(inputs)).reshape(len(inputs), -1)
            loss = loss + sum(wt * dk for wt, dk in zip(weights, d))
        if l3 * l5 > 0:
            loss = loss + l3 * l5 * geocross(v)                            # eq. (13), all rows of the latent
        return loss, x_g

    # ---- inversion

    def _check(self, x_hat: Tensor, snr_db: float | Tensor) -> None:
        if not isinstance(x_hat, Tensor) or x_hat.dim() != 4 or x_hat.shape[1] != 3:
            shape = tuple(x_hat.shape) if isinstance(x_hat, Tensor) else type(x_hat).__name__
            raise ValueError(f"x_hat must be a batch of RGB images (B, 3, H, W), got {shape}")
        if x_hat.shape[-1] != x_hat.shape[-2]:
            raise ValueError(f"x_hat must be square, got {x_hat.shape[-2]} x {x_hat.shape[-1]}")
        if not torch.isfinite(x_hat).all() or x_hat.min() < -1e-6 or x_hat.max() > 1 + 1e-6:
            raise ValueError(f"x_hat must hold finite values in [0, 1], got range "
                             f"[{x_hat.min().item():.4g}, {x_hat.max().item():.4g}]")
        check_snr_db(snr_db)
        if isinstance(snr_db, Tensor) and snr_db.dim() > 0 and snr_db.shape != (x_hat.shape[0],):
            raise ValueError(f"snr_db must be a number or a ({x_hat.shape[0]},) tensor, "
                             f"got shape {tuple(snr_db.shape)}")

    def _randn(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        dev = generator.device if generator is not None else self.device
        return torch.randn(shape, generator=generator, device=dev).to(self.device)

    def invert(self, x_hat: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None
               ) -> InversionResult:
        """Solve eq. (12) for each image of x_hat (B, 3, H, W) in [0, 1] received at snr_db.

        snr_db: a number or a (B,) tensor in dB, handed to A. ``generator`` draws the initial
        latent and noise maps and A's channel noise at every step (None: torch's global RNG).
        The random draws are made for the batch at once, so image b >= 1 of a batch sees other
        draws than it would alone with the same seed; the problems themselves are independent.
        """
        self._check(x_hat, snr_db)
        with torch.enable_grad():                  # also when called under torch.no_grad()
            return self._invert(x_hat.to(self.device), snr_db, generator)

    def _invert(self, x_hat: Tensor, snr_db: float | Tensor, generator: torch.Generator | None) -> InversionResult:
        if isinstance(snr_db, Tensor):
            snr_db = snr_db.to(self.device)
        g = self.generator
        b = x_hat.shape[0]
        # CSGM start (ILO): every row of the Gaussianised latent and every noise map drawn from N(0, I);
        # their norms are the radii of the spherical re-projection.
        v = self._randn((b, g.n_latent, g.style_dim), generator)
        noise = [self._randn((b, 1, s[2], s[3]), generator) for s in g.noise_shapes()]
        v_radii = sphere_radii(v)
        noise_radii = [sphere_radii(n) for n in noise]

        best_x = torch.zeros_like(x_hat)
        best_loss = torch.full((b,), math.inf, device=self.device)
        best_round = torch.zeros(b, dtype=torch.long, device=self.device)
        best_step = torch.zeros(b, dtype=torch.long, device=self.device)
        history: list[Tensor] = []
        state: tuple[Tensor, Tensor] | None = None
        distance = distance_to(self.perceptual, x_hat)
        bar = tqdm(total=sum(self.steps), desc="InverseJSCC", leave=False, mininterval=2.0,
                   disable=os.environ.get("JSCC_PROGRESS", "1") == "0")
        for r, steps in enumerate(self.steps):
            start = r
            # Round r optimises the latent, the noise maps of blocks >= r with index < noise_layers + 2r and,
            # for r >= 1, the features entering block r; the skip image of the earlier blocks stays fixed.
            first_noise = 0 if r == 0 else 2 * r - 1
            active = list(range(first_noise, min(self.noise_layers + 2 * r, g.num_noise)))
            v = v.detach().requires_grad_(True)
            noise = [n.detach().requires_grad_(i in active) for i, n in enumerate(noise)]
            params = [v] + [noise[i] for i in active]
            if state is not None:
                feat = state[0].detach().requires_grad_(True)
                state = (feat, state[1].detach())
                params.append(feat)
            v0 = v.detach().clone()
            noise0 = [n.detach().clone() for n in noise]
            feat0 = state[0].detach().clone() if state is not None else None
            opt = torch.optim.Adam(params, lr=self.learning_rate)
            round_losses = torch.empty(steps, b, device=self.device)
            for i in range(steps):
                for group in opt.param_groups:
                    group["lr"] = lr_schedule(i / steps, self.learning_rate, self.lr_rampup, self.lr_rampdown)
                loss, x_g = self.objective(v, noise, x_hat, snr_db, start, state, generator, distance)
                with torch.no_grad():
                    # keep each sample's lowest-objective step (its image is the one just measured)
                    round_losses[i] = loss
                    better = loss < best_loss
                    best_loss = torch.where(better, loss, best_loss)
                    best_x[better] = x_g[better].clamp(0, 1)
                    best_round[better] = r
                    best_step[better] = i
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()          # per-sample objectives summed: independent gradients
                opt.step()
                self._project(r, v, v0, v_radii, noise, noise0, noise_radii, active, state, feat0)
                bar.update(1)
            history.append(round_losses.cpu())
            if r + 1 < len(self.steps):
                with torch.no_grad():
                    # hat w = G_{r+1}(w*): the state after block r, input of the next round (eq. 14)
                    state = g.synthesis(self.stats.to_w(v), noise, start=r, stop=r + 1, state=state)
        bar.close()
        return InversionResult(best_x, best_loss, history, best_round, best_step)

    @torch.no_grad()
    def _project(self, r: int, v: Tensor, v0: Tensor, v_radii: Tensor, noise: list[Tensor], noise0: list[Tensor],
                 noise_radii: list[Tensor], active: list[int], state: tuple[Tensor, Tensor] | None,
                 feat0: Tensor | None) -> None:
        """ILO's projections after an Adam step, in place and per sample."""
        if self.spherical:
            v.copy_(project_to_sphere(v, v_radii))
            for i in active:
                noise[i].copy_(project_to_sphere(noise[i], noise_radii[i]))
        if self.latent_radius[r] is not None:
            v.copy_(v0 + project_l1_ball(v - v0, self.latent_radius[r]))
        if self.noise_radius[r] is not None:
            for i in active:
                noise[i].copy_(noise0[i] + project_l1_ball(noise[i] - noise0[i], self.noise_radius[r]))
        if state is not None and self.state_radius[r] is not None:
            feat = state[0]
            feat.copy_(feat0 + project_l1_ball(feat - feat0, self.state_radius[r]))
