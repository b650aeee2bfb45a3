"""StyleGAN-2 generator G and discriminator (Karras et al., CVPR 2020) in plain PyTorch.

No compiled extensions: the FIR filters (upfirdn) are depthwise convolutions and the fused
bias + leaky ReLU is two plain ops. The layout follows config-e/f of the paper:

* mapping network: PixelNorm, then ``n_mlp`` equalised-lr linear layers with leaky ReLU, their
  learning rate scaled by ``lr_mlp``;
* synthesis network: a learned constant 4x4 input, then per resolution two modulated 3x3
  convolutions with weight demodulation (the first of each block after 4x4 a transposed
  convolution followed by the [1, 3, 3, 1] FIR blur), per-layer noise injection with a learned
  strength, and output skips: a modulated 1x1 ToRGB per resolution added to the FIR-upsampled
  image of the resolution below;
* discriminator: residual blocks with FIR-blurred stride-2 downsampling, minibatch standard
  deviation (group 4, 1 feature), a 3x3 convolution and two linear layers to one logit.

Parameter names follow the public rosinality/stylegan2-pytorch layout (``style.i``, ``input.input``,
``conv1``, ``to_rgb1``, ``convs.i``, ``to_rgbs.i``; ``convs``, ``final_conv``, ``final_linear``),
so official weights convert by renaming; FIR kernels are non-persistent buffers.

Images: :class:`Generator` returns (B, 3, size, size) in [-1, 1]; :func:`to_unit` maps them to
the [0, 1] convention of the rest of the project and :func:`resize_to` area-resizes them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Generator", "Discriminator", "default_channels", "to_unit", "resize_to", "blur_kernel",
           "upfirdn2d"]

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2


def default_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """Feature maps per resolution of config-f (``channel_multiplier`` 2): 512 up to 64 px, then halving."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    out = {r: (c if r <= 32 else c * channel_multiplier) for r, c in base.items() if r <= size}
    return out


def _log2_size(size: int) -> int:
    log = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2 ** log != size:
        raise ValueError(f"size must be a power of two >= 4, got {size}")
    return log


def _channels(size: int, channels: Mapping[int, int] | None) -> dict[int, int]:
    if channels is None:
        return default_channels(size)
    chans = {int(r): int(c) for r, c in channels.items()}
    missing = [4 * 2 ** b for b in range(_log2_size(size) - 1) if 4 * 2 ** b not in chans]
    if missing:
        raise ValueError(f"channels has no entry for resolution(s) {missing} (size {size}); got {sorted(chans)}")
    return chans


def to_unit(img: Tensor) -> Tensor:
    """Generator output in [-1, 1] -> image in [0, 1]: ``(img + 1) / 2``, clamped."""
    return ((img + 1) / 2).clamp(0, 1)


def resize_to(img: Tensor, size: int) -> Tensor:
    """Area-resize (B, C, H, W) to (B, C, size, size); returned unchanged when already that size."""
    if img.shape[-1] == size and img.shape[-2] == size:
        return img
    return F.interpolate(img, size=(size, size), mode="area")


# --------------------------------------------------------------------------- FIR filtering


def blur_kernel(taps: tuple[float, ...] = (1, 3, 3, 1)) -> Tensor:
    """Separable 2-D FIR kernel: outer product of ``taps`` with itself, normalised to sum 1."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad (``pad[0]`` before, ``pad[1]`` after, both axes), filter with
    ``kernel`` (kh, kw) per channel, keep every ``down``-th sample. x: (B, C, H, W)."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    weight = torch.flip(kernel, (0, 1)).to(x.dtype)[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class Blur(nn.Module):
    """FIR low-pass [1, 3, 3, 1] with given padding; ``gain`` compensates zero insertion (4 for 2x upsampling)."""

    def __init__(self, pad: tuple[int, int], gain: float = 1.0):
        super().__init__()
        self.register_buffer("kernel", blur_kernel() * gain, persistent=False)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling of an image (the ToRGB skip path)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("kernel", blur_kernel() * 4, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # 4 taps, factor 2: pad (2, 1) keeps the output exactly 2H x 2W and centred
        return upfirdn2d(x, self.kernel, up=2, pad=(2, 1))


# --------------------------------------------------------------------------- equalised learning rate


def bias_lrelu(x: Tensor, bias: Tensor | None) -> Tensor:
    """Bias, leaky ReLU (slope 0.2), gain sqrt(2): the 'fused' activation of StyleGAN-2 as plain ops."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, LRELU_SLOPE) * SQRT2


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights stored N(0, 1/lr_mul^2) and scaled at
    run time by lr_mul / sqrt(in); the bias is stored divided by lr_mul. x: (B, in) -> (B, out)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return bias_lrelu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate (weights scaled by 1/sqrt(fan_in) at run time)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class PixelNorm(nn.Module):
    """z / sqrt(mean(z^2) + 1e-8) over the feature axis."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class BiasAct(nn.Module):
    """Learned per-channel bias, then leaky ReLU * sqrt(2) (parameter ``bias``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return bias_lrelu(x, self.bias)


# --------------------------------------------------------------------------- synthesis layers


class ModulatedConv2d(nn.Module):
    """Modulated convolution (StyleGAN-2, eqs. 1-3): weights scaled per input channel by the style
    s = A(w) and, with ``demodulate``, renormalised per output channel to unit expected norm.

    Computed as conv(x * s) * d with d = 1/sqrt(sum (W s)^2 + 1e-8), the same result as convolving
    with per-sample weights W * s * d, but one convolution for the whole batch.
    ``upsample``: transposed convolution with stride 2 followed by the FIR blur (output 2H x 2W).
    x: (B, in, H, W), w: (B, style_dim) -> (B, out, H', W').
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)  # styles start at 1
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            # transposed conv output is 2H + k - 1; a 4-tap blur padded (p0, p1) brings it to 2H
            p = 4 - 2 - (kernel_size - 1)
            self.blur = Blur(((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)
        self.padding = kernel_size // 2

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        style = self.modulation(w)  # (B, in)
        weight = self.weight[0] * self.scale  # (out, in, k, k)
        x = x * style[:, :, None, None]
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            x = self.blur(x)
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # eq. 3: sigma_j = sqrt(sum_{i,k} (s_i w_ijk)^2)
            sq = weight.square().sum(dim=(2, 3))  # (out, in)
            demod = torch.rsqrt(style.square() @ sq.t() + 1e-8)  # (B, out)
            x = x * demod[:, :, None, None]
        return x


class NoiseInjection(nn.Module):
    """x + strength * noise, one learned strength per layer (parameter ``weight``, starts at 0)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4x4 constant the synthesis network starts from (parameter ``input``)."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated 3x3 conv -> noise -> bias + leaky ReLU (submodules ``conv``, ``noise``, ``activate``)."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = BiasAct(out_ch)

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None) -> Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, plus bias; adds the FIR-upsampled skip image."""

    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.upsample = Upsample() if upsample else None

    def forward(self, x: Tensor, w: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out


# --------------------------------------------------------------------------- generator


class Generator(nn.Module):
    """StyleGAN-2 generator G: z -> w (mapping) and w+ -> image (synthesis).

    ``size``: output side (power of two >= 4); ``style_dim``: dimension of z and w;
    ``n_mlp``: mapping layers; ``channels``: feature maps per resolution {4: c, 8: c, ..., size: c}
    (None: config-f); ``lr_mlp``: learning-rate multiplier of the mapping network.

    w+ has ``n_latent`` = 2 log2(size) - 2 rows; the synthesis network has ``num_blocks`` =
    log2(size) - 1 blocks (4x4, 8x8, ..., size) and ``num_noise`` = 2 (log2(size) - 2) + 1 noise maps.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channels: Mapping[int, int] | None = None,
                 lr_mlp: float = 0.01):
        super().__init__()
        log = _log2_size(size)
        if n_mlp < 1:
            raise ValueError(f"n_mlp must be >= 1, got {n_mlp}")
        self.size, self.style_dim, self.n_mlp, self.lr_mlp = size, style_dim, n_mlp, lr_mlp
        self.channels = _channels(size, channels)
        self.n_latent = 2 * log - 2
        self.num_noise = 2 * (log - 2) + 1
        self.num_blocks = log - 1
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)])
        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, style_dim)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = c4
        for b in range(1, self.num_blocks):
            out_ch = self.channels[4 * 2 ** b]
            self.convs.append(StyledConv(in_ch, out_ch, style_dim, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, style_dim))
            self.to_rgbs.append(ToRGB(out_ch, style_dim))
            in_ch = out_ch

    # ---- latents and noise

    def mapping(self, z: Tensor) -> Tensor:
        """z (B, style_dim) -> w (B, style_dim): PixelNorm, then the MLP."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Mean of w over ``n`` draws of z ~ N(0, I): (1, style_dim)."""
        z = torch.randn(n, self.style_dim, generator=generator).to(self._device())
        return self.mapping(z).mean(0, keepdim=True)

    def noise_shapes(self) -> list[tuple[int, int, int, int]]:
        """Shapes (1, 1, r, r) of the ``num_noise`` noise maps, in synthesis order."""
        shapes = [(1, 1, 4, 4)]
        for b in range(1, self.num_blocks):
            r = 4 * 2 ** b
            shapes += [(1, 1, r, r), (1, 1, r, r)]
        return shapes

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[Tensor]:
        """Fresh N(0, 1) noise maps, each (batch, 1, r, r), on the generator's device."""
        dev = self._device()
        return [torch.randn(batch, 1, s[2], s[3], generator=generator).to(dev) for s in self.noise_shapes()]

    def broadcast(self, w: Tensor) -> Tensor:
        """w (B, style_dim) -> w+ (B, n_latent, style_dim), the same w in every row."""
        return w[:, None, :].expand(-1, self.n_latent, -1)

    def _device(self) -> torch.device:
        return self.input.input.device

    # ---- synthesis

    def synthesis(self, w_plus: Tensor, noise: list[Tensor] | None = None, start: int = 0, stop: int | None = None,
                  state: tuple[Tensor, Tensor | None] | None = None) -> tuple[Tensor, Tensor]:
        """Run synthesis blocks [start, stop) and return the state (features, skip_rgb) after block stop - 1.

        w_plus: (B, n_latent, style_dim); noise: ``num_noise`` maps (1 or B, 1, r, r), None for fresh
        N(0, 1) draws (an entry may be None too); state: (features, skip) after block start - 1, None
        when start == 0. Block 0 uses w row 0 (conv1) and 1 (ToRGB); block b >= 1 (resolution
        4 * 2**b) rows 2b - 1 (upsampling conv), 2b (conv) and 2b + 1 (ToRGB) and noise maps 2b - 1, 2b.
        After block b: features (B, channels[4 * 2**b], r, r), skip (B, 3, r, r) in about [-1, 1].
        """
        stop = self.num_blocks if stop is None else stop
        if not 0 <= start < stop <= self.num_blocks:
            raise ValueError(f"need 0 <= start < stop <= {self.num_blocks}, got start={start}, stop={stop}")
        if w_plus.ndim != 3 or w_plus.shape[1:] != (self.n_latent, self.style_dim):
            raise ValueError(f"w_plus must be (B, {self.n_latent}, {self.style_dim}), got {tuple(w_plus.shape)}")
        if noise is None:
            noise = [None] * self.num_noise
        elif len(noise) != self.num_noise:
            raise ValueError(f"noise must hold {self.num_noise} maps, got {len(noise)}")
        if start == 0:
            if state is not None:
                raise ValueError("state must be None when start == 0")
            x = self.conv1(self.input(w_plus.shape[0]), w_plus[:, 0], noise[0])
            skip = self.to_rgb1(x, w_plus[:, 1])
            first = 1
        else:
            if state is None:
                raise ValueError(f"synthesis from block {start} needs the state after block {start - 1}")
            x, skip = state
            first = start
        for b in range(first, stop):
            conv_up, conv, to_rgb = self.convs[2 * b - 2], self.convs[2 * b - 1], self.to_rgbs[b - 1]
            x = conv_up(x, w_plus[:, 2 * b - 1], noise[2 * b - 1])
            x = conv(x, w_plus[:, 2 * b], noise[2 * b])
            skip = to_rgb(x, w_plus[:, 2 * b + 1], skip)
        return x, skip

    def forward(self, w_plus: Tensor, noise: list[Tensor] | None = None) -> Tensor:
        """w+ (B, n_latent, style_dim) -> image (B, 3, size, size) in about [-1, 1] (not clamped)."""
        return self.synthesis(w_plus, noise)[1]


# --------------------------------------------------------------------------- discriminator


class ConvLayer(nn.Sequential):
    """[FIR blur] -> equalised conv (stride 2 when ``downsample``) -> [bias + leaky ReLU]."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, downsample: bool = False, bias: bool = True,
                 activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = 4 - 2 + (kernel_size - 1)
            layers.append(Blur(((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(BiasAct(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual discriminator block: (3x3 conv, blurred stride-2 3x3 conv) + blurred stride-2 1x1 skip, / sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, bias=False, activate=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class Discriminator(nn.Module):
    """StyleGAN-2 residual discriminator: image (B, 3, size, size) in [-1, 1] -> logits (B,).

    ``channels`` as for :class:`Generator` (None: config-f). Minibatch standard deviation over
    groups of ``stddev_group`` samples (the largest divisor of B not above it) adds one feature map.
    """

    def __init__(self, size: int, channels: Mapping[int, int] | None = None, stddev_group: int = 4,
                 stddev_feat: int = 1):
        super().__init__()
        log = _log2_size(size)
        self.size = size
        self.channels = _channels(size, channels)
        blocks: list[nn.Module] = [ConvLayer(3, self.channels[size], 1)]
        in_ch = self.channels[size]
        for i in range(log, 2, -1):
            out_ch = self.channels[2 ** (i - 1)]
            blocks.append(ResBlock(in_ch, out_ch))
            in_ch = out_ch
        self.convs = nn.Sequential(*blocks)
        self.stddev_group, self.stddev_feat = stddev_group, stddev_feat
        c4 = self.channels[4]
        self.final_conv = ConvLayer(in_ch + 1, c4, 3)
        self.final_linear = nn.Sequential(EqualLinear(c4 * 16, c4, activation=True), EqualLinear(c4, 1))

    def minibatch_stddev(self, x: Tensor) -> Tensor:
        """Append the mean over features and positions of the per-group standard deviation: (B, C + 1, H, W)."""
        b, c, h, w = x.shape
        group = min(b, self.stddev_group)
        while b % group:
            group -= 1
        y = x.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)  # (B/g, F, C/F, H, W)
        y = y.mean(dim=(2, 3, 4)).reshape(-1, self.stddev_feat, 1, 1)  # (B/g, F, 1, 1)
        y = y.repeat(group, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, img: Tensor) -> Tensor:
        if img.ndim != 4 or img.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"discriminator of size {self.size} needs (B, 3, {self.size}, {self.size}) images, "
                             f"got {tuple(img.shape)}")
        x = self.convs(img)
        x = self.final_conv(self.minibatch_stddev(x))
        return self.final_linear(x.flatten(1)).squeeze(1)
