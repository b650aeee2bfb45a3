"""Image nonlinear transform coding (NTC) with a mean-scale hyperprior (NTSCC Sections II-B, III-B-1).

* g_a: ``PatchEmbed`` (2x) and len(depths) Swin stages, ``PatchMerging`` (2x) between stages,
  so y = g_a(x) is (B, c, H/2^S, W/2^S) for S stages (16x for Kodak's 4, 4x for CIFAR's 2).
* g_s: the mirror image, with ``PatchSplit`` up-sampling and a linear patch head to RGB.
* h_a, h_s: convolutions with ReLU (Fig. 6); z is 4x smaller than y; h_s(z̃) = (μ, σ) (eq. 9).
  ``NTCConfig.hyper_tile`` applies them to square image tiles on their own (the training crop
  size, so that they see on a whole image the z sizes they were trained on); z̄ stays one
  entropy-coded map per image.
* The entropy models are compressai's: a factorized ``EntropyBottleneck`` for z (eq. 11) and a
  ``GaussianConditional`` for y given (μ, σ) (eq. 9); training adds uniform noise (eq. 10),
  evaluation rounds (y around μ, z around the bottleneck's medians).
* ``rd_loss`` is eq. (13): d(x, x̂) + λ (bpp_y + bpp_z).

Images are float (B, 3, H, W) in [0, 1], H and W multiples of ``NTCConfig.multiple``
(= 4 · 2^S: 64 for the 4-stage models, 16 for the 2-stage CIFAR model).

Real bitstreams: call ``update()`` once after training (and again with ``force=True`` after any
further training); it builds the CDF tables that ``compress``/``decompress`` and
``compress_z``/``decompress_z`` need. A fresh model's ``load_state_dict`` takes checkpoints saved
before or after ``update()`` (compressai's ``CompressionModel`` resizes the table buffers).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

with warnings.catch_warnings():  # compressai's import calls the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.models.base import CompressionModel

from ntscc.image.swin import (
    PatchEmbed,
    PatchMerging,
    PatchReverseMerging,
    PatchSplit,
    PatchUnembed,
    SwinStage,
    init_swin_weights,
)

DISTORTIONS = ("mse", "ms_ssim")
UPSAMPLINGS = ("patch_split", "reverse_merging")  # g_s's 2x steps (NTCConfig.upsampling)
HYPER_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}  # between h_a's convolutions
#: Bounds of the released code's rate estimate (``ImageNTC.continuous_likelihoods``).
SIGMA_MIN, LIKELIHOOD_MIN = 1e-10, 1e-10


@dataclass(frozen=True)
class NTCConfig:
    """Sizes of the NTC model. ``heads`` may be one int for every stage.

    ``embed_dims[i]``, ``depths[i]``, ``heads[i]`` describe stage i of g_a (g_s mirrors them);
    ``window`` is the attention window w; ``c`` the channels of y; ``hyper_channels`` those of z.
    ``latent_std``: draw g_a's output layer so that y starts with about this standard deviation
    (None: Swin's N(0, 0.02²), y ≈ 0.2). A y far below the unit quantisation step is drowned by
    the training noise of eq. (10), and the transforms then learn slowly.
    ``hyper_tile``: side in pixels of the square tiles whose y h_a maps to z, and whose z h_s
    maps to (μ, σ), each tile on its own (None: the whole image). An image side shorter than
    the tile is one tile; a longer one must be a multiple of it.

    Layout options (defaults: this project's model; the other values rebuild the authors' released
    code, ``pipelines/profiles/official.yaml``):

    * ``latent_projection``: g_a ends with a Linear from its last width to c, and g_s starts with
      one from c (False: y is g_a's final LayerNorm output and g_s reads it as is, c = embed_dims[-1]);
    * ``upsampling``: "patch_split" (``PatchSplit`` between the stages of g_s, a final LayerNorm
      and a linear 2 x 2 patch head to RGB) or "reverse_merging" (a 2x ``PatchReverseMerging``
      after every stage of g_s, then a 3 x 3 convolution to RGB; widths divisible by 4);
    * ``h_a_activation``: "relu" (Fig. 6) or "leaky_relu" (slope 0.01) between h_a's convolutions.
    """

    c: int = 256
    embed_dims: tuple[int, ...] = (256, 256, 256, 256)
    depths: tuple[int, ...] = (1, 1, 2, 6)
    heads: int | tuple[int, ...] = 8
    window: int = 8
    hyper_channels: int = 192
    mlp_ratio: float = 4.0
    latent_std: float | None = None
    hyper_tile: int | None = None
    latent_projection: bool = True
    upsampling: str = "patch_split"
    h_a_activation: str = "relu"

    def __post_init__(self) -> None:
        def ints(name: str, value) -> tuple[int, ...]:
            try:
                out = tuple(int(v) for v in value)
            except TypeError:
                raise ValueError(f"NTCConfig.{name} must be a sequence of ints, got {value!r}") from None
            if not out or any(v < 1 for v in out):
                raise ValueError(f"NTCConfig.{name} must be non-empty positive ints, got {value!r}")
            return out

        depths = ints("depths", self.depths)
        embed_dims = ints("embed_dims", self.embed_dims)
        heads = ints("heads", (self.heads,) * len(depths) if isinstance(self.heads, int) else self.heads)
        for name, value in (("embed_dims", embed_dims), ("heads", heads)):
            if len(value) != len(depths):
                raise ValueError(f"NTCConfig.{name} needs one entry per stage ({len(depths)}), got {value}")
        bad = [(d, h) for d, h in zip(embed_dims, heads) if d % h]
        if bad:
            raise ValueError(f"NTCConfig.heads must divide embed_dims, got (dim, heads) {bad}")
        for name in ("c", "window", "hyper_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"NTCConfig.{name} must be a positive int, got {value!r}")
        if not self.mlp_ratio > 0:
            raise ValueError(f"NTCConfig.mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        if self.latent_std is not None and not (isinstance(self.latent_std, (int, float)) and self.latent_std > 0):
            raise ValueError(f"NTCConfig.latent_std must be > 0 or None, got {self.latent_std!r}")
        if self.hyper_tile is not None and not (isinstance(self.hyper_tile, int) and self.hyper_tile > 0
                                                and self.hyper_tile % self.multiple == 0):
            raise ValueError(f"NTCConfig.hyper_tile must be a positive multiple of {self.multiple} pixels "
                             f"(g_a's and h_a's down-sampling) or None, got {self.hyper_tile!r}")
        if not isinstance(self.latent_projection, bool):
            raise ValueError(f"NTCConfig.latent_projection must be true or false, got {self.latent_projection!r}")
        if not self.latent_projection:
            if self.c != embed_dims[-1]:
                raise ValueError(f"NTCConfig.latent_projection=False makes y g_a's last tokens: c ({self.c}) must "
                                 f"equal embed_dims[-1] ({embed_dims[-1]})")
            if self.latent_std is not None:
                raise ValueError("NTCConfig.latent_std sets g_a's output Linear, which latent_projection=False removes")
        if self.upsampling not in UPSAMPLINGS:
            raise ValueError(f"NTCConfig.upsampling must be one of {UPSAMPLINGS}, got {self.upsampling!r}")
        if self.upsampling == "reverse_merging" and any(d % 4 for d in embed_dims):
            raise ValueError(f"NTCConfig.upsampling='reverse_merging' splits each token into 2 x 2 tokens of a "
                             f"quarter of its width: embed_dims must be multiples of 4, got {embed_dims}")
        if self.h_a_activation not in HYPER_ACTIVATIONS:
            raise ValueError(f"NTCConfig.h_a_activation must be one of {tuple(HYPER_ACTIVATIONS)}, "
                             f"got {self.h_a_activation!r}")
        object.__setattr__(self, "depths", depths)
        object.__setattr__(self, "embed_dims", embed_dims)
        object.__setattr__(self, "heads", heads)

    @classmethod
    def paper_kodak(cls) -> NTCConfig:
        """Kodak / CLIC2021 (Section IV-A-4): 4 stages (1, 1, 2, 6), c = 256, 8 heads.

        Embedding widths 256 at every stage, window 8 and a 192-channel z follow the authors'
        released code. This gives 25.3 M parameters; with NTSCC's f_e, f_d (4 blocks of width
        256 each, ~7 M) that is close to the 32.94 M of Table III. The 16 x 16 windows the paper
        mentions for large images are ``window=16``.
        """
        return cls(c=256, embed_dims=(256,) * 4, depths=(1, 1, 2, 6), heads=8, window=8, hyper_channels=192)

    @classmethod
    def paper_cifar(cls) -> NTCConfig:
        """CIFAR10 32 x 32 (Section IV-A-4): 2 stages (2, 6), c = 256, 8 heads; y is 8 x 8, z 2 x 2."""
        return cls(c=256, embed_dims=(256, 256), depths=(2, 6), heads=8, window=8, hyper_channels=192)

    @property
    def stages(self) -> int:
        return len(self.depths)

    @property
    def downsampling(self) -> int:
        """Size ratio of x to y: 2^stages."""
        return 2 ** self.stages

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this: g_a's 2^stages times h_a's 4."""
        return 4 * self.downsampling


# --------------------------------------------------------------------------- transforms


class SwinAnalysis(nn.Module):
    """g_a (Fig. 5): x (B, 3, H, W) -> y (B, c, H/2^S, W/2^S)."""

    def __init__(self, config: NTCConfig):
        super().__init__()
        dims, cfg = config.embed_dims, config
        self.embed = PatchEmbed(dims[0])
        self.merges = nn.ModuleList(PatchMerging(dims[i - 1], dims[i]) for i in range(1, cfg.stages))
        self.stages = nn.ModuleList(
            SwinStage(dims[i], cfg.depths[i], cfg.heads[i], cfg.window, cfg.mlp_ratio) for i in range(cfg.stages))
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], cfg.c) if cfg.latent_projection else None
        self.apply(init_swin_weights)
        if cfg.latent_std is not None:  # the head reads LayerNorm-ed tokens of unit variance
            nn.init.normal_(self.head.weight, std=cfg.latent_std / dims[-1] ** 0.5)

    def forward(self, x: Tensor) -> Tensor:
        t = self.stages[0](self.embed(x))
        for merge, stage in zip(self.merges, self.stages[1:]):
            t = stage(merge(t))
        t = self.norm(t)
        return (t if self.head is None else self.head(t)).permute(0, 3, 1, 2).contiguous()


class SwinSynthesis(nn.Module):
    """g_s (Fig. 5): y (B, c, h, w) -> x̂ (B, 3, 2^S h, 2^S w), stages in reverse order."""

    def __init__(self, config: NTCConfig):
        super().__init__()
        dims, cfg = config.embed_dims, config
        self.head = nn.Linear(cfg.c, dims[-1]) if cfg.latent_projection else None
        self.stages = nn.ModuleList(
            SwinStage(dims[i], cfg.depths[i], cfg.heads[i], cfg.window, cfg.mlp_ratio)
            for i in reversed(range(cfg.stages)))
        self.splits = nn.ModuleList(PatchSplit(dims[i], dims[i - 1]) for i in reversed(range(1, cfg.stages)))
        self.norm = nn.LayerNorm(dims[0])
        self.unembed = PatchUnembed(dims[0])
        self.apply(init_swin_weights)

    def forward(self, y: Tensor) -> Tensor:
        t = y.permute(0, 2, 3, 1)
        t = t if self.head is None else self.head(t)
        for stage, split in zip(self.stages, self.splits):
            t = split(stage(t))
        return self.unembed(self.norm(self.stages[-1](t)))


class SwinSynthesisReverseMerging(nn.Module):
    """g_s with ``upsampling="reverse_merging"``: y (B, c, h, w) -> x̂ (B, 3, 2^S h, 2^S w).

    Stages in reverse order, each followed by a 2x ``PatchReverseMerging`` to the next stage's
    width (the last one keeps embed_dims[0]), then a 3 x 3 convolution to RGB.
    """

    def __init__(self, config: NTCConfig):
        super().__init__()
        dims, cfg = config.embed_dims, config
        self.head = nn.Linear(cfg.c, dims[-1]) if cfg.latent_projection else None
        order = list(reversed(range(cfg.stages)))
        self.stages = nn.ModuleList(SwinStage(dims[i], cfg.depths[i], cfg.heads[i], cfg.window, cfg.mlp_ratio)
                                    for i in order)
        self.merges = nn.ModuleList(PatchReverseMerging(dims[i], dims[max(i - 1, 0)]) for i in order)
        self.out = nn.Conv2d(dims[0], 3, 3, padding=1)
        self.apply(init_swin_weights)

    def forward(self, y: Tensor) -> Tensor:
        t = y.permute(0, 2, 3, 1)
        t = t if self.head is None else self.head(t)
        for stage, merge in zip(self.stages, self.merges):
            t = merge(stage(t))
        return self.out(t.permute(0, 3, 1, 2))


class HyperAnalysis(nn.Sequential):
    """h_a (Fig. 6): N x 3 x 3 /1, ReLU, N x 5 x 5 /2↓, ReLU, N x 5 x 5 /2↓; y -> z, N = hyper_channels.
    ``activation``: a key of ``HYPER_ACTIVATIONS`` in place of ReLU."""

    def __init__(self, c: int, hyper_channels: int, activation: str = "relu"):
        n, act = hyper_channels, HYPER_ACTIVATIONS[activation]
        super().__init__(
            nn.Conv2d(c, n, 3, stride=1, padding=1), act(inplace=True),
            nn.Conv2d(n, n, 5, stride=2, padding=2), act(inplace=True),
            nn.Conv2d(n, n, 5, stride=2, padding=2),
        )


class HyperSynthesis(nn.Sequential):
    """h_s (Fig. 6): c x 5 x 5 /2↑, ReLU, 3c/2 x 5 x 5 /2↑, ReLU, 2c x 3 x 3 /1; z̃ -> (μ, σ) stacked."""

    def __init__(self, c: int, hyper_channels: int):
        m = 3 * c // 2
        super().__init__(
            nn.ConvTranspose2d(hyper_channels, c, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c, m, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(m, 2 * c, 3, stride=1, padding=1),
        )


# --------------------------------------------------------------------------- model


class ImageNTC(CompressionModel):
    """NTC with Swin g_a/g_s and a mean-scale hyperprior (eqs. 9-13). A ``CompressionModel``
    (an ``nn.Module``) for compressai's ``update``, ``aux_loss`` and checkpoint loading."""

    def __init__(self, config: NTCConfig | None = None):
        super().__init__()
        self.config = config = NTCConfig.paper_kodak() if config is None else config
        self.g_a = SwinAnalysis(config)
        self.g_s = SwinSynthesis(config) if config.upsampling == "patch_split" else SwinSynthesisReverseMerging(config)
        self.h_a = HyperAnalysis(config.c, config.hyper_channels, config.h_a_activation)
        self.h_s = HyperSynthesis(config.c, config.hyper_channels)
        self.entropy_bottleneck = EntropyBottleneck(config.hyper_channels)
        self.gaussian_conditional = GaussianConditional(None)

    # ---- shapes

    def check_image(self, x: Tensor) -> Tensor:
        """x must be float (B, 3, H, W) with H, W multiples of ``config.multiple`` (and of
        ``config.hyper_tile`` where longer than it)."""
        m = self.config.multiple
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point() or x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"ImageNTC takes float images (B, 3, H, W) with H and W multiples of {m} "
                             f"({self.config.stages} stages + hyperprior), got {tuple(x.shape)} {x.dtype}")
        t = self.config.hyper_tile
        if t is not None and any(side > t and side % t for side in x.shape[-2:]):
            raise ValueError(f"hyper_tile = {t}: image sides longer than {t} px must be multiples of it, "
                             f"got {tuple(x.shape[-2:])}")
        return x

    def _per_tile(self, fn: nn.Module, t: Tensor, scale: int) -> Tensor:
        """fn applied to each ``hyper_tile`` tile of t (B, C, h, w), ``scale`` pixels per position,
        on its own, the results put back in place."""
        b, c, h, w = t.shape
        side = self.config.hyper_tile
        if side is None or (side // scale >= h and side // scale >= w):
            return fn(t)
        th, tw = min(h, side // scale), min(w, side // scale)
        nh, nw = h // th, w // tw
        tiles = t.reshape(b, c, nh, th, nw, tw).permute(0, 2, 4, 1, 3, 5).reshape(b * nh * nw, c, th, tw)
        out = fn(tiles)
        c2, oh, ow = out.shape[1:]
        return out.reshape(b, nh, nw, c2, oh, ow).permute(0, 3, 1, 4, 2, 5).reshape(b, c2, nh * oh, nw * ow)

    def hyper_analysis(self, y: Tensor) -> Tensor:
        """z = h_a(y), per ``hyper_tile`` tile."""
        return self._per_tile(self.h_a, y, self.config.downsampling)

    def hyper_synthesis(self, z: Tensor) -> Tensor:
        """h_s(z) = (μ, σ) stacked, per ``hyper_tile`` tile."""
        return self._per_tile(self.h_s, z, 4 * self.config.downsampling)

    # ---- analysis side

    def latent(self, x: Tensor) -> Tensor:
        """y = g_a(x), (B, c, H/2^S, W/2^S)."""
        return self.g_a(self.check_image(x))

    def entropy_parameters(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, σ) = h_s(z̃) (eq. 9); σ is lower-bounded by the Gaussian conditional's 0.11 (> 0)."""
        mu, sigma = self.hyper_synthesis(z_hat).chunk(2, dim=1)
        return mu, self.gaussian_conditional.lower_bound_scale(sigma)

    def continuous_likelihoods(self, y: Tensor, z_hat: Tensor) -> Tensor:
        """P(y) = Φ((y + ½ - μ) / σ) - Φ((y - ½ - μ) / σ) elementwise (B, c, h, w), at the unquantised
        y, (μ, σ) = h_s(z̄) with σ clamped to [1e-10, 1e10] (not compressai's 0.11 lower bound) and
        P >= 1e-10: the rate estimate of the authors' released code, in place of eq. (28)'s P(ȳ | z̄)."""
        mu, sigma = self.hyper_synthesis(z_hat).chunk(2, dim=1)
        normal = torch.distributions.Normal(mu, sigma.clamp(SIGMA_MIN, 1e10))
        return (normal.cdf(y + 0.5) - normal.cdf(y - 0.5)).clamp(LIKELIHOOD_MIN, 1e10)

    def hyperprior(self, y: Tensor) -> dict[str, Tensor]:
        """z = h_a(y), z̃ (noisy / rounded), -log2 P(z̃) per image, and (μ, σ) = h_s(z̃)."""
        z = self.hyper_analysis(y)
        z_tilde, likelihoods_z = self.entropy_bottleneck(z)
        mu, sigma = self.entropy_parameters(z_tilde)
        return {"z_tilde": z_tilde, "likelihoods_z": likelihoods_z, "mu": mu, "sigma": sigma,
                "bits_z": -torch.log2(likelihoods_z).sum(dim=(1, 2, 3))}

    def analyse(self, x: Tensor) -> dict[str, Tensor]:
        """Everything but g_s: y, ỹ, z̃, μ, σ, likelihoods and bits.

        ``bits_y_per_patch`` (B, h, w) is -log2 P(ȳ_i | z̄) summed over the c channels of each
        position i, the entropy that sets NTSCC's bandwidth (eq. 28); ``bits_z`` is (B,).
        In training ỹ = y + o and z̃ = z + o (eq. 13); in eval ȳ = round(y - μ) + μ and z̄ is z
        rounded around the bottleneck's medians, exactly what ``decompress`` reproduces.
        """
        y = self.latent(x)
        out = self.hyperprior(y)
        y_tilde, likelihoods_y = self.gaussian_conditional(y, out["sigma"], means=out["mu"])
        out.update(y=y, y_tilde=y_tilde, likelihoods_y=likelihoods_y,
                   bits_y_per_patch=-torch.log2(likelihoods_y).sum(dim=1))
        return out

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``analyse`` plus x̂ = g_s(ỹ) (eq. 13)."""
        out = self.analyse(x)
        out["x_hat"] = self.g_s(out["y_tilde"])
        return out

    # ---- real bitstreams (after update())

    def _require_tables(self) -> None:
        if self.entropy_bottleneck._offset.numel() == 0 or self.gaussian_conditional._offset.numel() == 0:
            raise RuntimeError("ImageNTC.update() must be called before compress/decompress (it builds the CDF tables)")

    @torch.no_grad()
    def compress_z(self, y: Tensor) -> tuple[list[bytes], tuple[int, int]]:
        """Entropy-code z̄ = Q(h_a(y)): one byte string per image and the (h, w) of z."""
        self._require_tables()
        z = self.hyper_analysis(y)
        return self.entropy_bottleneck.compress(z), tuple(z.shape[-2:])

    @torch.no_grad()
    def decompress_z(self, strings: list[bytes], shape: tuple[int, int]) -> Tensor:
        """z̄ from the strings of ``compress_z``; equals the eval-mode z̃ of ``hyperprior``."""
        self._require_tables()
        return self.entropy_bottleneck.decompress(strings, tuple(shape))

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        """{"strings": [y strings, z strings], "shape": z's (h, w)}; y coded with (μ̄, σ̄) from the decoded z̄."""
        y = self.latent(x)
        z_strings, shape = self.compress_z(y)
        mu, sigma = self.entropy_parameters(self.decompress_z(z_strings, shape))
        indexes = self.gaussian_conditional.build_indexes(sigma)
        y_strings = self.gaussian_conditional.compress(y, indexes, means=mu)
        return {"strings": [y_strings, z_strings], "shape": shape}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: tuple[int, int]) -> dict[str, Tensor]:
        """{"y_hat": ȳ, "x_hat": g_s(ȳ)} from the output of ``compress``."""
        if len(strings) != 2:
            raise ValueError(f"expected [y strings, z strings], got {len(strings)} lists")
        mu, sigma = self.entropy_parameters(self.decompress_z(strings[1], shape))
        indexes = self.gaussian_conditional.build_indexes(sigma)
        y_hat = self.gaussian_conditional.decompress(strings[0], indexes, means=mu)
        return {"y_hat": y_hat, "x_hat": self.g_s(y_hat)}

    # ---- training helpers

    def aux_parameters(self) -> list[nn.Parameter]:
        """The bottleneck's quantiles, trained on ``aux_loss()`` by their own optimizer."""
        return [p for n, p in self.named_parameters() if n.endswith(".quantiles")]

    def main_parameters(self) -> list[nn.Parameter]:
        """All other parameters, trained on eq. (13)."""
        return [p for n, p in self.named_parameters() if not n.endswith(".quantiles")]


def rd_loss(out: dict[str, Tensor], x: Tensor, lmbda: float, distortion: str = "mse") -> dict[str, Tensor]:
    """Eq. (13), batch mean: L = d(x, x̂) + λ (bpp_y + bpp_z), bpp = bits / (H W).

    d is "mse" on the 8-bit scale, mean((255 x - 255 x̂)²), or "ms_ssim", 1 - MS-SSIM on [0, 1]
    images (``jscc_core.metrics.ms_ssim``). These are the units of the authors' code, where λ
    weighs the rate as in eq. (13). Returns loss, distortion, bpp_y, bpp_z, bpp (scalars).
    """
    if distortion not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {DISTORTIONS}, got {distortion!r}")
    x_hat = out["x_hat"]
    if distortion == "mse":
        d = (255 * (x - x_hat)).square().mean()
    else:
        from jscc_core.metrics import ms_ssim

        d = 1 - ms_ssim(x, x_hat, data_range=1.0).mean()
    pixels = x.shape[-2] * x.shape[-1]
    bpp_y = out["bits_y_per_patch"].sum(dim=(1, 2)).mean() / pixels
    bpp_z = out["bits_z"].mean() / pixels
    return {"loss": d + lmbda * (bpp_y + bpp_z), "distortion": d, "bpp_y": bpp_y, "bpp_z": bpp_z,
            "bpp": bpp_y + bpp_z}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["NTCConfig", "SwinAnalysis", "SwinSynthesis", "SwinSynthesisReverseMerging", "HyperAnalysis",
           "HyperSynthesis", "ImageNTC", "rd_loss", "count_parameters", "DISTORTIONS", "UPSAMPLINGS",
           "HYPER_ACTIVATIONS"]
