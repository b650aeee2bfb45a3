"""The released NTSCC checkpoints' mapping (ntscc.image.import_official).

Always: a released-layout state dict (our mapping's inverse of a tiny model) converts back to the
same weights, the changed tensor forms compute the same, and wrong checkpoints get one-line errors
naming the problem. With ``NTSCC_OFFICIAL_SRC`` pointing at a checkout of the authors' code
(github.com/wsxtyrdd/NTSCC_JSAC22): their model, built from their source with random weights,
and ours from its converted state dict reconstruct the same image through the same channel noise.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ntscc.image.import_official import OfficialCheckpointError, from_official, official_key, to_official
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig

RATES = (16, 44, 48, 52, 56, 60, 64, 128)


def official_config(c: int = 16, dims=(8, 8, 8, 16), heads=(2, 2, 2, 4), hyper: int = 8, jscc_heads: int = 4,
                    window: int = 2, jscc_window: int = 2, refine_hidden: int = 32) -> ImageNTSCCConfig:
    """A Comparison-I model with the released code's layout options (as pipelines/profiles/official.yaml)."""
    ntc = NTCConfig(c=c, embed_dims=dims, depths=(1, 1, 2, 2), heads=heads, window=window, hyper_channels=hyper,
                    latent_projection=False, upsampling="reverse_merging", h_a_activation="leaky_relu")
    jscc = JSCCConfig(c=c, d=c, n_e=2, n_d=2, heads=jscc_heads, rate_values=RATES, window=jscc_window, refine=False,
                      shift_windows=False, projections=False, likelihood_refine_hidden=refine_hidden,
                      rescale_received=True, rate_likelihood="continuous")
    return ImageNTSCCConfig(ntc, jscc)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = official_config()
    model = ImageNTSCC(config)
    return config, model.state_dict(), to_official(model.state_dict())


def test_released_layout_round_trips(tiny):
    config, ours, released = tiny
    # the released code's names and tensor forms (net/NTSCC_Hyperior.py, layer/)
    assert released["ga.patch_embed.proj.weight"].shape == (8, 3, 2, 2)
    assert released["ga.layers.3.downsample.reduction.weight"].shape == (16, 32)
    assert released["gs.layers.0.upsample.increment.weight"].shape == (8, 4)
    assert released["gs.outconv.weight"].shape == (3, 8, 3, 3)
    assert released["hs.4.weight"].shape == (24, 32, 3, 3)  # ConvTranspose2d(3c/2, 2c): (in, out, k, k)
    assert released["fe.rate_adaption.weight"].shape == (len(RATES), 16, max(RATES))  # (|V|, C, max V)
    assert released["fd.rate_adaption.weight"].shape == (len(RATES), max(RATES), 16)
    assert released["fe.refine.fc1.weight"].shape == (32, 32)
    assert "fe.layers.0.blocks.1.attn.relative_position_bias_table" in released and "fe.rate_token" in released
    back = from_official(released, config)
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[k], ours[k]) for k in ours)


def test_transposed_last_hs_layer_and_swapped_halves_compute_the_same(tiny):
    config, ours, released = tiny
    z = torch.randn(1, 24, 5, 7)
    theirs = F.conv_transpose2d(z, released["hs.4.weight"], released["hs.4.bias"], padding=1)
    scales, means = theirs.chunk(2, dim=1)  # their order
    mine = F.conv2d(z, ours["ntc.h_s.4.weight"], ours["ntc.h_s.4.bias"], padding=1)
    mu, sigma = mine.chunk(2, dim=1)
    assert torch.allclose(mu, means, atol=1e-5) and torch.allclose(sigma, scales, atol=1e-5)


def test_checkpoint_wrappers_and_old_compressai_names_are_accepted(tiny):
    config, ours, released = tiny
    old = {k.replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrix"): v for k, v in released.items()}
    wrapped = {"state_dict": {f"module.{k}": v for k, v in old.items()}}
    back = from_official(wrapped, config)
    assert torch.equal(back["ntc.entropy_bottleneck.matrices.0"], ours["ntc.entropy_bottleneck.matrices.0"])


def _error(state, config) -> str:
    with pytest.raises(OfficialCheckpointError) as info:
        from_official(state, config)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_wrong_checkpoints_get_one_line_errors_naming_the_problem(tiny):
    config, _, released = tiny
    missing = {k: v for k, v in released.items() if k != "fd.rate_token"}
    assert "1 missing keys (fd.rate_token)" in _error(missing, config)
    extra = {**released, "hyprior_refinement.fc1.weight": torch.zeros(3)}
    assert "hyprior_refinement" in _error(extra, config)
    extra = {**released, "fe.extra.weight": torch.zeros(3)}
    assert "unexpected keys (fe.extra.weight)" in _error(extra, config)
    shape = {**released, "ga.norm.weight": torch.zeros(15)}
    assert "ga.norm.weight (15,) vs (16,)" in _error(shape, config)
    rates = {**released, "fe.rate_choice_tensor": torch.tensor([16, 32, 48, 64, 80, 96, 112, 128])}
    assert "fe.rate_choice_tensor holds V = [16, 32" in _error(rates, config)
    nan = {**released, "ha.0.bias": torch.full_like(released["ha.0.bias"], math.nan)}
    assert "ha.0.bias holds non-finite values" in _error(nan, config)
    assert "holds list, not a state dict" in _error([1, 2], config)
    assert "not a state dict of tensors: step" in _error({**released, "step": 3}, config)
    # a model without the released layout (this project's paper architecture) is refused before any key
    paper = ImageNTSCCConfig(NTCConfig(c=16, embed_dims=(8, 8, 8, 16), depths=(1, 1, 2, 2), heads=2, window=2,
                                       hyper_channels=8),
                             JSCCConfig(c=16, d=16, n_e=1, n_d=1, heads=2, rate_values=RATES, refine=False))
    message = _error(released, paper)
    assert "ntc.h_a_activation='relu' (released: 'leaky_relu')" in message and "jscc.shift_windows" in message


def test_our_names_without_counterpart_are_none():
    assert official_key("jscc.f_e.embed.weight") is None and official_key("ntc.g_s.splits.0.expand.weight") is None
    assert official_key("ntc.g_a.merges.0.reduction.weight") == "ga.layers.1.downsample.reduction.weight"


# --------------------------------------------------------------------------- against the released source


def _released_modules(src: Path):
    """Import the released code from ``src`` under this environment: stand-ins for the three timm
    helpers it imports and for compressai's former ``ste_round``; its files are not modified."""
    timm, models, layers = (types.ModuleType(n) for n in ("timm", "timm.models", "timm.models.layers"))
    layers.trunc_normal_ = nn.init.trunc_normal_
    layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
    layers.DropPath = lambda *a, **k: nn.Identity()  # drop_path = 0 everywhere
    sys.modules.setdefault("timm", timm)
    sys.modules.setdefault("timm.models", models)
    sys.modules.setdefault("timm.models.layers", layers)
    import compressai.ops

    if not hasattr(compressai.ops, "ste_round"):
        compressai.ops.ste_round = lambda x: (torch.round(x) - x).detach() + x
    sys.path.insert(0, str(src))
    try:
        from net.NTSCC_Hyperior import NTSCC_Hyperprior
    finally:
        sys.path.remove(str(src))
    return NTSCC_Hyperprior


@contextlib.contextmanager
def _torch17_on_cpu():
    """What the released code (torch 1.7, CUDA) needs from today's torch on a CPU: ``.cuda()`` and
    ``get_device()`` (-1 on the CPU) as no-ops, uint8 masks as bool, and ``searchsorted`` of float
    costs in its integer V."""
    T = torch.Tensor
    saved = T.cuda, T.get_device, torch.masked_select, torch.searchsorted
    get_device, masked_select, searchsorted = saved[1:]
    T.cuda = lambda self, *a, **k: self
    T.get_device = lambda self: "cpu" if get_device(self) < 0 else get_device(self)
    torch.masked_select = lambda x, m: masked_select(x, m.bool())
    torch.searchsorted = lambda b, v, **k: searchsorted(b.to(v.dtype), v, **k)
    try:
        yield
    finally:
        T.cuda, T.get_device, torch.masked_select, torch.searchsorted = saved


@pytest.mark.skipif(not os.environ.get("NTSCC_OFFICIAL_SRC"),
                    reason="NTSCC_OFFICIAL_SRC (a checkout of github.com/wsxtyrdd/NTSCC_JSAC22) is not set")
def test_converted_model_reconstructs_as_the_released_code(one_thread):
    NTSCC_Hyperprior = _released_modules(Path(os.environ["NTSCC_OFFICIAL_SRC"]))
    side = 64  # y is 4 x 8 patches; their h_a / h_s fix c = 256 and 192 hyperprior channels

    class config:  # config.py's fields, tiny transforms
        device, logger, distortion_metric, use_side_info, eta = "cpu", None, "MSE", False, 0.2
        channel = {"type": "awgn", "chan_param": 10}
        ga_kwargs = dict(img_size=(side, side), embed_dims=[16, 16, 16, 256], depths=[1, 1, 2, 2],
                         num_heads=[2, 2, 2, 8], window_size=2, mlp_ratio=4., qkv_bias=True, qk_scale=None,
                         norm_layer=nn.LayerNorm, patch_norm=True)
        gs_kwargs = dict(img_size=(side, side), embed_dims=[256, 16, 16, 16], depths=[2, 2, 1, 1],
                         num_heads=[8, 2, 2, 2], window_size=2, mlp_ratio=4., norm_layer=nn.LayerNorm, patch_norm=True)
        fe_kwargs = fd_kwargs = dict(input_resolution=(side // 16, side // 16), embed_dim=256, depths=[2],
                                     num_heads=[8], window_size=4, mlp_ratio=4., qkv_bias=True, qk_scale=None,
                                     norm_layer=nn.LayerNorm, rate_choice=list(RATES))

    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its layers
        theirs = NTSCC_Hyperprior(config).eval()
    ours_config = official_config(c=256, dims=(16, 16, 16, 256), heads=(2, 2, 2, 8), hyper=192, jscc_heads=8,
                                  jscc_window=4, refine_hidden=2048)
    assert to_official(ImageNTSCC(ours_config).state_dict()).keys() <= theirs.state_dict().keys()
    ours = ImageNTSCC(ours_config).eval()
    ours.load_state_dict(from_official(theirs.state_dict(), ours_config))

    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 3, side, 2 * side, generator=g)
    with torch.no_grad():
        bits, _ = ours.rate_inputs(ours.transmitter(x))
    eta = float(torch.tensor(54.0 / bits.median().item()))  # random weights: spread the patches over V
    theirs.eta = eta
    h, w, v = side // 16, side // 8, max(RATES)
    noise = torch.randn(1, h * w, v, generator=g) * math.sqrt(1 / (2 * 10 ** (10 / 10)))  # CN(0, 1/SNR), 10 dB
    sent = {}
    theirs.fe.register_forward_hook(lambda m, i, o: sent.update(mask=o[1].bool(), index=o[2]))

    def their_channel(symbols):  # their complex symbols pair the sent reals in (B, C, H, W) order
        n = noise.reshape(1, h, w, v).permute(0, 3, 1, 2)[sent["mask"]]
        return symbols + torch.complex(n[0::2], n[1::2])

    theirs.channel.channel_forward = their_channel
    with torch.no_grad(), _torch17_on_cpu():
        *_, cbr_theirs, _, x_theirs = theirs(x)
    with torch.no_grad():
        out = ours(x, 10.0, eta, channel=lambda s: s + noise.reshape(1, -1))
    assert torch.equal(out["rate_index"].flatten(), sent["index"]) and len(set(sent["index"].tolist())) >= 3
    assert abs(float(out["k_y"][0]) / (3 * side * 2 * side) - cbr_theirs) < 1e-6
    difference = (out["x_hat"].clamp(0, 1) - x_theirs).abs().max().item()
    print(f"max |x_hat difference| = {difference:.2e}")
    assert difference < 1e-5
