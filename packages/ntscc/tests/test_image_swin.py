"""Swin layers of the image NTC transforms: windows, relative position bias, shifted-window masks."""
import pytest
import torch

from jscc_core.attention import WindowAttention, relative_position_index, window_partition, window_reverse
from ntscc.image.swin import PatchEmbed, PatchMerging, PatchSplit, PatchUnembed, SwinBlock, SwinStage, attention_mask

pytestmark = pytest.mark.usefixtures("one_thread")


def block(shifted: bool, dim: int = 8, heads: int = 2, window: int = 4, seed: int = 0) -> SwinBlock:
    torch.manual_seed(seed)
    return SwinBlock(dim, heads, window, shifted=shifted).eval()


def test_window_partition_groups_w_by_w_tiles_and_reverses():
    x = torch.randn(2, 8, 12, 5)
    win = window_partition(x, 4)
    assert win.shape == (2, 6, 16, 5)
    # window 4 is row 1, column 1 of the 2 x 3 grid of windows, tokens in raster order
    assert torch.equal(win[:, 4].reshape(2, 4, 4, 5), x[:, 4:8, 4:8])
    assert torch.equal(window_reverse(win, 4, 8, 12), x)


def test_relative_position_index_depends_only_on_the_offset():
    w = 4
    idx = relative_position_index(w)
    assert idx.shape == (w * w, w * w)
    assert idx.min() == 0 and idx.max() == (2 * w - 1) ** 2 - 1
    assert idx.unique().numel() == (2 * w - 1) ** 2  # every offset used
    assert (idx.diagonal() == (w - 1) * (2 * w - 1) + (w - 1)).all()  # offset (0, 0) in the centre
    ys, xs = torch.arange(w * w) // w, torch.arange(w * w) % w
    for i in range(w * w):
        for j in range(w * w):
            assert idx[i, j] == (ys[i] - ys[j] + w - 1) * (2 * w - 1) + (xs[i] - xs[j] + w - 1)
    # a smaller window indexes the same offsets of the larger table
    small = relative_position_index(2, 4)
    assert small[0, 3] == idx[0, 5] and small[3, 0] == idx[5, 0]  # offsets (-1, -1) and (1, 1)


def test_attention_mask_separates_wrapped_and_padding_regions():
    assert attention_mask(8, 8, 4, 0) is None
    m = attention_mask(8, 8, 4, 2)  # shifted: 4 windows, regions of the cyclic shift
    assert m.shape == (4, 16, 16)
    assert (m[0] == 0).all()  # first window holds no wrapped token
    last = m[3].view(4, 4, 4, 4)  # rolled tokens (r, c) of the last window: rows/cols 6, 7, 0, 1
    assert last[0, 0, 1, 1] == 0  # (6, 6) - (7, 7): same region
    assert last[0, 0, 2, 2] == float("-inf")  # (6, 6) - (0, 0): wrapped
    assert last[2, 2, 3, 3] == 0  # (0, 0) - (1, 1): both wrapped
    pad = attention_mask(6, 6, 4, 0)  # padded to 8 x 8, no shift
    assert pad.shape == (4, 16, 16)
    assert (pad[0] == 0).all()  # top-left window has only real tokens
    corner = pad[3].view(4, 4, 4, 4)  # real tokens (0..1, 0..1) of the window, rest padding
    assert corner[0, 0, 1, 1] == 0 and corner[0, 0, 2, 2] == float("-inf") and corner[0, 0, 0, 3] == float("-inf")


def test_blocks_take_any_size_and_small_maps_use_one_window():
    x = torch.randn(2, 10, 6, 8)
    shifted = block(True)
    assert shifted.window_and_shift(10, 6) == (4, 2)
    y = shifted(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert block(True).window_and_shift(3, 5) == (3, 0)  # smaller than the window: no shift
    assert block(True)(torch.randn(1, 3, 5, 8)).shape == (1, 3, 5, 8)


def test_shifted_attention_is_masked_across_wrapped_regions():
    x = torch.randn(1, 8, 8, 8)
    net = block(True)
    out = net(x)

    def changed(r: int, c: int) -> torch.Tensor:
        x2 = x.clone()
        x2[0, r, c] += 3 * torch.randn(8)  # not a constant: LayerNorm would remove it
        return (net(x2) - out).abs().amax(-1)[0]

    d = changed(0, 0)
    assert d[7, 7] == 0  # same shifted window as (0, 0) but the other side of the wrap: masked
    assert d[1, 1] > 1e-4  # same region: attends
    assert changed(6, 6)[7, 7] > 1e-4
    # plain windows: (0, 0) reaches its own window only
    net = block(False)
    x2 = x.clone()
    x2[0, 0, 0] += 3 * torch.randn(8)
    d = (net(x2) - net(x)).abs().amax(-1)[0]
    assert d[3, 3] > 1e-4 and d[:4, 4:].max() == 0 and d[4:].max() == 0


def test_padding_tokens_are_masked_out():
    """The bottom-right window of a 6 x 6 map holds 2 x 2 real tokens and 12 padding tokens;
    with padding masked its output equals the block run on those 2 x 2 tokens alone."""
    net = block(False)
    x = torch.randn(2, 6, 6, 8)
    out = net(x)
    assert torch.allclose(out[:, 4:, 4:], net(x[:, 4:, 4:].contiguous()), atol=1e-5)
    assert torch.allclose(out[:, :4, :4], net(x[:, :4, :4].contiguous()), atol=1e-5)


def test_relative_position_bias_breaks_permutation_equivariance():
    x = torch.randn(1, 4, 4, 8)
    net = block(False)
    with torch.no_grad():
        net.attn.bias_table.zero_()
    # without positions, attention in one window is equivariant to moving tokens (here: transpose)
    assert torch.allclose(net(x.transpose(1, 2)), net(x).transpose(1, 2), atol=1e-5)
    with torch.no_grad():
        net.attn.bias_table.normal_()
    assert not torch.allclose(net(x.transpose(1, 2)), net(x).transpose(1, 2), atol=1e-3)


def test_window_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        WindowAttention(10, 3, 4)


def test_stage_alternates_shift():
    stage = SwinStage(8, 3, 2, 4)
    assert [b.shifted for b in stage.blocks] == [False, True, False]


def test_patch_layers_change_resolution_by_two():
    img = torch.randn(2, 3, 12, 20)
    t = PatchEmbed(8)(img)
    assert t.shape == (2, 6, 10, 8)
    down = PatchMerging(8, 16)(t)
    assert down.shape == (2, 3, 5, 16)
    up = PatchSplit(16, 8)
    assert up(down).shape == (2, 6, 10, 8)
    assert PatchUnembed(8)(t).shape == (2, 3, 12, 20)
    with pytest.raises(ValueError, match="7x20"):
        PatchEmbed(8)(torch.randn(1, 3, 7, 20))
    # patch division is local: token (1, 2) only feeds tokens (2..3, 4..5)
    d2 = down.clone()
    d2[:, 1, 2] += torch.randn(16)
    diff = (up(d2) - up(down)).abs().amax(-1)
    assert diff[:, 2:4, 4:6].min() > 0
    diff[:, 2:4, 4:6] = 0
    assert diff.max() == 0
