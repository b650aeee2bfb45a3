"""GenerativeJSCC (GJSCC Sec. IV-B, Fig. 5, eq. 15): x_hat = g_psi(eta(f_theta(x), sigma^2)).

f_theta and eta are those of the DeepJSCC forward operator (:mod:`generative_jscc.deepjscc`).
The decoder g_psi drives a frozen, pre-trained StyleGAN-2 generator G:

* a 3x3 convolution from the c_out channels of z_hat and an attention block, then 8 blocks, each a
  residual block followed by an AF module; blocks 2, 4, 6 and 8 upsample by 2 (sub-pixel
  convolution, inverse GDN), blocks 1, 3, 5 and 7 keep the size (attention block after block 4),
  so the block outputs have sides (r, 2r, 2r, 4r, 4r, 8r, 8r, 16r) with r = H/16, like g_phi;
* the output of block i feeds the next block and two projections:
  P_l_i (global average pooling, then a 1x1 convolution) gives rows of the initial latent L_hat,
  P_n_i (a 1x1 convolution) gives single-channel noise maps;
  L_hat = Concat{P_l_1, ..., P_l_8} and N = Concat{P_n_1, ..., P_n_8};
* L_hat -> L by a trainable MLP with leaky ReLUs (``latent_map="mlp"``), or by G's frozen mapping
  network (``latent_map="mapping"``); G(L, N) is the image.

Choices the paper leaves open, and the reasons for ours:

* Rows of L_hat (:func:`latent_row_split`): L_hat has G's n_latent rows of style_dim; they are
  split over the 8 blocks in order, as evenly as possible, the first blocks taking one more row
  when n_latent is not a multiple of 8 (1024 px: 3, 3, 2, 2, 2, 2, 2, 2 rows of 18; 64 px: 2, 2, 1,
  1, 1, 1, 1, 1 of 10). Coarse features give the first rows, which set the coarse styles of G.
* Noise maps (:func:`noise_assignment`): G's num_noise maps have sides 4, 8, 8, ..., size, size.
  Map j goes to the block whose output side is nearest to its side on a log scale; maps of one
  side that have several such blocks are spread over them in order. P_n_i has one output channel
  per map assigned to block i (none if no map is), each resized bilinearly to its map's side. At
  64 px with 64-px images every map comes from a block of its own side (block 8 gives the two
  64-px maps); at 1024 px with 512-px images the maps of sides 4 ... 32 all come from block 1
  (side 32), the four maps of sides 512 and 1024 from block 8.
* The MLP is Linear(d -> d) -> LeakyReLU(0.2) -> Linear(d -> d) on every row (d = style_dim),
  added to G's mean latent w_avg, its last layer starting at zero: L starts at w_avg, the average
  face, whatever L_hat is (with the mapping network, L = mapping(L_hat) row by row instead).
* P_n starts at zero, so stage 1 (P_n frozen) reconstructs from the latent alone (N = 0, the
  "reconstruction from the latent vector" of the paper's first stage), and stage 2 starts from
  the stage-1 image and learns the details.

The image G(L, N) in [-1, 1] is area-resized to the input size when G.size differs (the paper: a
1024-px G for 512-px CelebA-HQ) and mapped to [0, 1].

Training in two stages (Sec. IV-B): :func:`stage1_parameters` (everything but P_n and G, P_n
frozen) and :func:`stage2_param_groups` (P_n at the base rate, the rest at ``backbone_lr_ratio``
of it, 1/100 in the paper), both for :func:`jscc_core.training.train`. G is never trained:
its parameters do not require gradients and it stays in eval mode.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jscc_core.channels import ComplexAWGN

from .blocks import (
    AFModule,
    AttentionBlock,
    ResidualBlock,
    ResidualBlockUpsample,
    SNRSequential,
    conv3x3,
    snr_column,
)
from .deepjscc import DOWNSAMPLE, Encoder, check_c_out, check_images, rho_for_c_out
from .stylegan2 import Generator, resize_to, to_unit

__all__ = ["LATENT_MAPS", "N_BLOCKS", "GenerativeJSCC", "GPsi", "latent_row_split", "noise_assignment",
           "stage1_parameters", "stage2_param_groups"]

#: Residual + AF blocks of g_psi, each with its P_l and P_n (Fig. 5).
N_BLOCKS = 8
#: L_hat -> L: a trainable MLP (default) or G's frozen mapping network.
LATENT_MAPS = ("mlp", "mapping")


def latent_row_split(n_latent: int, blocks: int = N_BLOCKS) -> list[int]:
    """Rows of L_hat given by each block's P_l: n_latent split in order, the first blocks one more."""
    if n_latent < 1 or blocks < 1:
        raise ValueError(f"need n_latent >= 1 and blocks >= 1, got {n_latent}, {blocks}")
    base, extra = divmod(n_latent, blocks)
    return [base + (1 if i < extra else 0) for i in range(blocks)]


def block_sides(image_size: int) -> list[int]:
    """Sides of g_psi's 8 block outputs for square images of side ``image_size``."""
    r = image_size // DOWNSAMPLE
    return [r, 2 * r, 2 * r, 4 * r, 4 * r, 8 * r, 8 * r, 16 * r]


def noise_assignment(noise_sides: list[int], sides: list[int]) -> list[int]:
    """Block index of each noise map: nearest block side on a log scale, ties spread in order.

    ``noise_sides``: side of each of G's noise maps (synthesis order); ``sides``: side of each
    block output. Maps of one side whose nearest blocks are several are spread over those blocks
    in order (t-th of n maps -> candidate t * len(candidates) // n).
    """
    out = []
    for j, side in enumerate(noise_sides):
        dist = [abs(math.log2(s) - math.log2(side)) for s in sides]
        best = min(dist)
        candidates = [i for i, d in enumerate(dist) if math.isclose(d, best)]
        same = [k for k, s in enumerate(noise_sides) if s == side]
        t = same.index(j)
        out.append(candidates[t * len(candidates) // len(same)])
    return out


class GPsi(nn.Module):
    """g_psi without the generator: z_hat (B, c_out, r, r) and SNR -> (L_hat, noise maps).

    ``forward(z_hat, snr)`` (snr: a (B, 1) column in dB) returns L_hat (B, n_latent, style_dim)
    and a list of num_noise maps (B, 1, s_j, s_j) of G's noise sides, in synthesis order.
    """

    def __init__(self, c_out: int, filters: int, image_size: int, n_latent: int, style_dim: int,
                 noise_sides: list[int], af_bottleneck: str = "full"):
        super().__init__()
        f = filters
        self.c_out, self.n_latent, self.style_dim = c_out, n_latent, style_dim
        self.noise_sides = list(noise_sides)
        self.stem = nn.Sequential(conv3x3(c_out, f), AttentionBlock(f))
        self.blocks = nn.ModuleList()
        for i in range(N_BLOCKS):
            res = ResidualBlockUpsample(f, f, upsample=2) if i % 2 else ResidualBlock(f, f)
            layers = [res, AFModule(f, af_bottleneck)]
            if i == 3:
                layers.append(AttentionBlock(f))
            self.blocks.append(SNRSequential(*layers))
        self.rows = latent_row_split(n_latent)
        self.noise_block = noise_assignment(self.noise_sides, block_sides(image_size))
        self.P_l = nn.ModuleList(
            nn.Conv2d(f, rows * style_dim, 1) if rows else nn.Identity() for rows in self.rows)
        self.P_n = nn.ModuleList()
        for i in range(N_BLOCKS):
            maps = self.noise_block.count(i)
            conv = nn.Conv2d(f, maps, 1) if maps else nn.Identity()
            if maps:  # zero: stage 1 reconstructs from L alone (N = 0)
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
            self.P_n.append(conv)

    def forward(self, z_hat: Tensor, snr: Tensor) -> tuple[Tensor, list[Tensor]]:
        h = self.stem(z_hat)
        rows: list[Tensor] = []
        maps: dict[int, Tensor] = {}
        for i, block in enumerate(self.blocks):
            h = block(h, snr)
            if self.rows[i]:  # P_l: global average pool + 1x1 conv -> rows[i] rows of L_hat
                pooled = h.mean(dim=(2, 3), keepdim=True)
                rows.append(self.P_l[i](pooled).reshape(h.shape[0], self.rows[i], self.style_dim))
            if i in self.noise_block:  # P_n: 1x1 conv -> one single-channel map per assigned noise map
                maps[i] = self.P_n[i](h)
        l_hat = torch.cat(rows, dim=1)
        noise: list[Tensor] = []
        taken = [0] * N_BLOCKS
        for side, i in zip(self.noise_sides, self.noise_block):
            m = maps[i][:, taken[i]:taken[i] + 1]
            taken[i] += 1
            if m.shape[-1] != side:
                m = F.interpolate(m, size=(side, side), mode="bilinear", align_corners=False,
                                  antialias=m.shape[-1] > side)
            noise.append(m)
        return l_hat, noise


class LatentMLP(nn.Module):
    """L = w_avg + MLP(L_hat) row by row; the last layer starts at zero, so L starts at w_avg."""

    def __init__(self, style_dim: int, w_avg: Tensor):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(style_dim, style_dim), nn.LeakyReLU(0.2), nn.Linear(style_dim, style_dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("w_avg", w_avg.detach().reshape(1, 1, style_dim).clone())

    def forward(self, l_hat: Tensor) -> Tensor:
        return self.w_avg + self.net(l_hat)


class GenerativeJSCC(nn.Module):
    """x_hat = g_psi(eta(f_theta(x), sigma^2)) with a frozen StyleGAN-2 generator G (Fig. 5).

    ``c_out``: real channels of z (even; rho = c_out / 1536 as for DeepJSCC); ``filters``: feature
    maps of f_theta and g_psi; ``generator``: the pre-trained G (frozen here); ``latent_map``: "mlp"
    (default) or "mapping"; ``image_size``: side of the square images sent (None: G.size);
    ``mean_latent_samples``: draws of z for G's mean latent w_avg (the MLP's starting point),
    taken from a generator seeded with 0 so the model is reproducible.
    """

    def __init__(self, c_out: int, filters: int, generator: Generator, latent_map: str = "mlp",
                 af_bottleneck: str = "full", image_size: int | None = None, mean_latent_samples: int = 4096):
        super().__init__()
        if latent_map not in LATENT_MAPS:
            raise ValueError(f"latent_map must be one of {LATENT_MAPS}, got {latent_map!r}")
        if not isinstance(generator, Generator):
            raise TypeError(f"generator must be a generative_jscc.stylegan2.Generator, got {type(generator).__name__}")
        image_size = generator.size if image_size is None else image_size
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < DOWNSAMPLE \
                or image_size % DOWNSAMPLE:
            raise ValueError(f"image_size must be a positive multiple of {DOWNSAMPLE}, got {image_size!r}")
        self.c_out, self.filters, self.latent_map_kind = check_c_out(c_out), filters, latent_map
        self.af_bottleneck, self.image_size = af_bottleneck, image_size
        self.encoder = Encoder(c_out, filters, af_bottleneck)
        self.awgn = ComplexAWGN(power=1.0)
        self.decoder = GPsi(c_out, filters, image_size, generator.n_latent, generator.style_dim,
                            [s[2] for s in generator.noise_shapes()], af_bottleneck)
        generator.requires_grad_(False).eval()
        w_avg = generator.mean_latent(mean_latent_samples, torch.Generator().manual_seed(0))
        self.latent_map = LatentMLP(generator.style_dim, w_avg) if latent_map == "mlp" else None
        self.G = generator
        self.set_stage(1)

    # ---- training stages

    def projection_parameters(self) -> list[nn.Parameter]:
        """Parameters of the P_n projections (trained in stage 2 only)."""
        return list(self.decoder.P_n.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter but P_n's and G's: f_theta, g_psi's blocks, P_l and the MLP."""
        skip = {id(p) for p in self.projection_parameters()} | {id(p) for p in self.G.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    def set_stage(self, stage: int) -> None:
        """Stage 1: P_n frozen (requires_grad False); stage 2: P_n trained. G is always frozen."""
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage!r}")
        self.stage = stage
        for p in self.projection_parameters():
            p.requires_grad_(stage == 2)
        self.G.requires_grad_(False)

    def train(self, mode: bool = True) -> GenerativeJSCC:
        super().train(mode)
        self.G.eval()  # G is a fixed prior
        return self

    # ---- bandwidth accounting

    @property
    def bandwidth_ratio(self) -> float:
        """rho = c_out / 1536 complex channel uses per source dimension (as :class:`DeepJSCC`)."""
        return rho_for_c_out(self.c_out)

    # ---- transmission

    def f_theta(self, x: Tensor, snr_db: float | Tensor) -> Tensor:
        """x (B, 3, S, S) in [0, 1] -> z (B, c_out, S/16, S/16), power 1 per complex use per image (eq. 3)."""
        self._check_size(x)
        return self.encoder(x, snr_db)

    def channel(self, z: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """eta(z, sigma^2): complex AWGN over consecutive real pairs of z (eqs. 4-5)."""
        return self.awgn(z.flatten(1), snr_db, generator).reshape(z.shape)

    def latents(self, z_hat: Tensor, snr_db: float | Tensor) -> tuple[Tensor, list[Tensor]]:
        """z_hat (B, c_out, S/16, S/16) -> (L (B, n_latent, style_dim), N: num_noise maps (B, 1, s, s))."""
        if z_hat.dim() != 4 or z_hat.shape[1] != self.c_out or z_hat.shape[2:] != (self.image_size // DOWNSAMPLE,) * 2:
            side = self.image_size // DOWNSAMPLE
            raise ValueError(f"g_psi takes channel outputs (B, {self.c_out}, {side}, {side}), got {tuple(z_hat.shape)}")
        l_hat, noise = self.decoder(z_hat, snr_column(snr_db, z_hat.shape[0], z_hat))
        if self.latent_map is not None:
            latent = self.latent_map(l_hat)
        else:  # G's frozen mapping network, row by row
            latent = self.G.mapping(l_hat.reshape(-1, l_hat.shape[-1])).reshape(l_hat.shape)
        return latent, noise

    def g_psi(self, z_hat: Tensor, snr_db: float | Tensor) -> Tensor:
        """z_hat -> x_hat (B, 3, S, S) in [0, 1]: G(L, N), resized to S when G.size != S."""
        latent, noise = self.latents(z_hat, snr_db)
        return to_unit(resize_to(self.G(latent, noise), self.image_size))

    def forward(self, x: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x (B, 3, S, S) in [0, 1] -> x_hat (B, 3, S, S) in [0, 1], one channel draw (eq. 15)."""
        return self.g_psi(self.channel(self.f_theta(x, snr_db), snr_db, generator), snr_db)

    def _check_size(self, x: Tensor) -> None:
        check_images(x)
        if x.shape[2:] != (self.image_size, self.image_size):
            raise ValueError(f"this GenerativeJSCC sends {self.image_size} x {self.image_size} images, "
                             f"got {tuple(x.shape[2:])}")


def stage1_parameters(model: GenerativeJSCC) -> list[nn.Parameter]:
    """Stage 1 (Sec. IV-B): P_n frozen; returns every other trainable parameter (not G's)."""
    model.set_stage(1)
    return model.backbone_parameters()


def stage2_param_groups(model: GenerativeJSCC, backbone_lr_ratio: float) -> list[dict]:
    """Stage 2 (Sec. IV-B): P_n trained at the base rate, the rest at ``backbone_lr_ratio`` of it.

    Returns the ``optimizer_groups`` of :func:`jscc_core.training.train`:
    ``[{"params": P_n, "lr_scale": 1.0}, {"params": the rest, "lr_scale": backbone_lr_ratio}]``.
    """
    if isinstance(backbone_lr_ratio, bool) or not isinstance(backbone_lr_ratio, (int, float)) \
            or not 0 < backbone_lr_ratio <= 1:
        raise ValueError(f"backbone_lr_ratio must be in (0, 1], got {backbone_lr_ratio!r}")
    model.set_stage(2)
    return [{"params": model.projection_parameters(), "lr_scale": 1.0},
            {"params": model.backbone_parameters(), "lr_scale": float(backbone_lr_ratio)}]
