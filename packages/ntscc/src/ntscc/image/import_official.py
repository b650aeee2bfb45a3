"""The authors' released NTSCC checkpoints (github.com/wsxtyrdd/NTSCC_JSAC22) as ``ImageNTSCC`` state dicts.

The published checkpoints are "NTSCC w/o z" models: the hyperprior sets the rates but z̄ is not
sent and f_d has no refinement, i.e. Comparison-I (``JSCCConfig.refine=False``). Their
parameters map one to one onto an ``ImageNTSCC`` built with the layout
options of ``pipelines/profiles/official.yaml`` (``NTCConfig.latent_projection=False``,
``upsampling="reverse_merging"``, ``h_a_activation="leaky_relu"``; ``JSCCConfig.projections=False``,
``shift_windows=False``, ``likelihood_refine_hidden``, ``rescale_received``,
``rate_likelihood="continuous"``). Module names, theirs -> ours:

    ga.patch_embed / ga.layers.{i}.blocks / ga.layers.{i}.downsample / ga.norm
                       -> ntc.g_a.embed / ntc.g_a.stages.{i}.blocks / ntc.g_a.merges.{i-1} / ntc.g_a.norm
    gs.layers.{k}.blocks / gs.layers.{k}.upsample / gs.outconv
                       -> ntc.g_s.stages.{k}.blocks / ntc.g_s.merges.{k} / ntc.g_s.out
    ha, hs, entropy_bottleneck
                       -> ntc.h_a, ntc.h_s, ntc.entropy_bottleneck
    fe.refine / fe.rate_token / fe.layers.0.blocks / fe.norm / fe.rate_adaption
                       -> jscc.f_e.likelihood_refinement / .rate_tokens / .blocks / .norm / .heads
    fd.rate_adaption / fd.rate_token / fd.layers.0.blocks
                       -> jscc.f_d.heads / .rate_tokens / .blocks

Inside a Swin block: attn.relative_position_bias_table -> attn.bias_table, mlp.fc1 / mlp.fc2 ->
mlp.0 / mlp.2. Three tensors change form, exactly: the per-rate heads are stored (|V|, in, out)
there and (|V|, out, in) here; h_s's last layer is a 3 x 3 stride-1 transposed convolution there,
the equal convolution here (weights transposed in their first two axes and flipped in space); and
its output is (σ, μ) there, (μ, σ) here (halves swapped).

Buffers the released state dict carries are not weights: attention masks and relative position
indices (recomputed), the entropy models' CDF tables and constant bounds (rebuilt by
``update()``), and V (``*.rate_choice_tensor``), which must equal ``JSCCConfig.rate_values``.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

with warnings.catch_warnings():  # compressai's import calls the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.models.utils import remap_old_keys

from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig

#: Released keys that hold no weights (recomputed or rebuilt here); V is checked, not loaded.
IGNORED = re.compile(r"(^|\.)(attn_mask|relative_position_index|rate_choice_tensor|rate_adaption\.mask)$"
                     r"|^(entropy_bottleneck|gaussian_conditional)\.(_offset|_quantized_cdf|_cdf_length|scale_table"
                     r"|scale_bound|target|likelihood_lower_bound\.bound|lower_bound_scale\.bound)$")
#: Our entropy-model buffers: constants and CDF tables, taken from a fresh model (``update()`` rebuilds the tables).
_OWN_BUFFERS = re.compile(r"^ntc\.(entropy_bottleneck|gaussian_conditional)\.(_offset|_quantized_cdf|_cdf_length"
                          r"|scale_table|scale_bound|target|likelihood_lower_bound\.bound|lower_bound_scale\.bound)$")
_SHOWN = 4  # keys named in an error message before "and N more"
#: The layout options of the released code whose values no key name reveals (config, field, value).
RELEASED_OPTIONS = (("ntc", "h_a_activation", "leaky_relu"), ("ntc", "hyper_tile", None),
                    ("jscc", "shift_windows", False), ("jscc", "rescale_received", True),
                    ("jscc", "rate_likelihood", "continuous"))


class OfficialCheckpointError(ValueError):
    """A released checkpoint that does not fit the configured model; the message is one line."""


# --------------------------------------------------------------------------- names


_BLOCK = [("attn.bias_table", "attn.relative_position_bias_table"), ("mlp.0.", "mlp.fc1."), ("mlp.2.", "mlp.fc2.")]
_MLP = [("0.", "fc1."), ("2.", "fc2.")]


def _swap(rest: str, pairs: list[tuple[str, str]]) -> str:
    for ours, theirs in pairs:
        if rest.startswith(ours):
            return theirs + rest[len(ours):]
    return rest


def _blocks(prefix: str) -> Callable[[re.Match], str]:
    """Swin block j of stage i: ``prefix``.layers.{i}.blocks.{j}.<released name of the rest>."""
    return lambda m: f"{prefix}.layers.{m[1]}.blocks.{m[2]}.{_swap(m[3], _BLOCK)}"


#: (our key, its released name); f_e / f_d hold all their blocks in one layer (config.py: depths=[4]).
_RULES: list[tuple[str, Callable[[re.Match], str]]] = [
    (r"ntc\.g_a\.embed\.(.+)", lambda m: f"ga.patch_embed.{m[1]}"),
    (r"ntc\.g_a\.merges\.(\d+)\.(.+)", lambda m: f"ga.layers.{int(m[1]) + 1}.downsample.{m[2]}"),
    (r"ntc\.g_a\.stages\.(\d+)\.blocks\.(\d+)\.(.+)", _blocks("ga")),
    (r"ntc\.g_a\.norm\.(.+)", lambda m: f"ga.norm.{m[1]}"),
    (r"ntc\.g_s\.stages\.(\d+)\.blocks\.(\d+)\.(.+)", _blocks("gs")),
    (r"ntc\.g_s\.merges\.(\d+)\.(.+)", lambda m: f"gs.layers.{m[1]}.upsample.{_swap(m[2], [('proj.', 'increment.')])}"),
    (r"ntc\.g_s\.out\.(.+)", lambda m: f"gs.outconv.{m[1]}"),
    (r"ntc\.(h_a|h_s)\.(.+)", lambda m: f"{m[1].replace('_', '')}.{m[2]}"),
    (r"ntc\.(entropy_bottleneck|gaussian_conditional)\.(.+)", lambda m: f"{m[1]}.{m[2]}"),
    (r"jscc\.f_e\.likelihood_refinement\.(.+)", lambda m: f"fe.refine.{_swap(m[1], _MLP)}"),
    (r"jscc\.f_([ed])\.rate_tokens\.weight", lambda m: f"f{m[1]}.rate_token"),
    (r"jscc\.f_([ed])\.blocks\.(\d+)\.(.+)", lambda m: f"f{m[1]}.layers.0.blocks.{m[2]}.{_swap(m[3], _BLOCK)}"),
    (r"jscc\.f_e\.norm\.(.+)", lambda m: f"fe.norm.{m[1]}"),
    (r"jscc\.f_([ed])\.heads\.(weight|bias)", lambda m: f"f{m[1]}.rate_adaption.{m[2]}"),
]


def official_key(key: str) -> str | None:
    """The released code's name of our state-dict key ``key``; None if it has no counterpart."""
    for pattern, name in _RULES:
        if m := re.fullmatch(pattern, key):
            return name(m)
    return None


# --------------------------------------------------------------------------- tensors


def _swap_halves(t: Tensor) -> Tensor:
    """(σ, μ) <-> (μ, σ) along dim 0."""
    first, second = t.chunk(2, dim=0)
    return torch.cat([second, first])


def _to_ours(key: str, t: Tensor) -> Tensor:
    """A released tensor in our layout (``key`` is ours)."""
    if re.fullmatch(r"jscc\.f_[ed]\.heads\.weight", key):
        return t.transpose(1, 2).contiguous()
    if key == "ntc.h_s.4.weight":  # ConvTranspose2d(m, 2c, 3, 1, 1) == Conv2d(m, 2c, 3, 1, 1), w' = flip(wᵀ)
        return _swap_halves(t.transpose(0, 1).flip(2, 3)).contiguous()
    if key == "ntc.h_s.4.bias":
        return _swap_halves(t)
    return t


def _to_official(key: str, t: Tensor) -> Tensor:
    """Our tensor ``key`` in the released layout (inverse of ``_to_ours``)."""
    if re.fullmatch(r"jscc\.f_[ed]\.heads\.weight", key):
        return t.transpose(1, 2).contiguous()
    if key == "ntc.h_s.4.weight":
        return _swap_halves(t).transpose(0, 1).flip(2, 3).contiguous()
    if key == "ntc.h_s.4.bias":
        return _swap_halves(t)
    return t


# --------------------------------------------------------------------------- the mapping


def unwrap(state) -> dict[str, Tensor]:
    """The state dict inside a loaded checkpoint: a mapping of tensors, possibly under "state_dict",
    possibly with DataParallel's "module." prefix; compressai < 1.2.3's bottleneck names renamed."""
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not state:
        raise OfficialCheckpointError(f"holds {type(state).__name__ if state is not None else 'None'}"
                                      f"{' (empty)' if isinstance(state, Mapping) else ''}, not a state dict")
    bad = [str(k) for k, v in state.items() if not (isinstance(k, str) and isinstance(v, Tensor))]
    if bad:
        raise OfficialCheckpointError(f"is not a state dict of tensors: {_listed(bad)}")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(remap_old_keys("entropy_bottleneck", dict(state)))


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def to_official(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Our ``ImageNTSCC`` state dict in the released code's names and layouts (its weights only;
    our entropy-model buffers keep their names). Raises ``OfficialCheckpointError`` naming our keys
    that have no counterpart there (a model not built with the official layout options)."""
    out, orphans = {}, []
    for key, t in state.items():
        if _OWN_BUFFERS.match(key):
            continue
        name = official_key(key)
        if name is None:
            orphans.append(key)
        else:
            out[name] = _to_official(key, t)
    if orphans:
        raise OfficialCheckpointError(f"the configured model has weights the released code does not: "
                                      f"{_listed(orphans)} (a profile with its layout options, e.g. official)")
    return out


def check_released_options(config: ImageNTSCCConfig) -> None:
    """Raise ``OfficialCheckpointError`` if ``config`` computes differently from the released code
    with the same weights (``RELEASED_OPTIONS``; differences in weights show as keys instead)."""
    wrong = [f"{part}.{field}={getattr(getattr(config, part), field)!r} (released: {value!r})"
             for part, field, value in RELEASED_OPTIONS if getattr(getattr(config, part), field) != value]
    if wrong:
        raise OfficialCheckpointError(f"the configured model computes differently from the released code: "
                                      f"{', '.join(wrong)} (use a profile with its layout options, e.g. official)")


def from_official(state, config: ImageNTSCCConfig) -> dict[str, Tensor]:
    """The released state dict ``state`` (as ``torch.load(..., weights_only=True)`` returns it) as a
    complete state dict of ``ImageNTSCC(config)``; call ``update(force=True)`` after loading it.

    Raises ``OfficialCheckpointError`` (one line) for anything that does not fit: not a state dict,
    missing or unexpected keys (listed briefly), shapes that differ (named), non-finite values, a
    value set V other than ``config.jscc.rate_values``, or a ``config`` without the released code's
    layout options (``check_released_options``, ``to_official``).
    """
    state = unwrap(state)
    if any(k.startswith("hyprior_refinement.") for k in state):
        raise OfficialCheckpointError("has the hyperprior-aided refinement (hyprior_refinement.*, a model that sends "
                                      "z): only the published 'NTSCC w/o z' models are supported (that refinement "
                                      "reads h_s's raw sigma, this project's the sigma lower-bounded at 0.11)")
    check_released_options(config)
    template = ImageNTSCC(config).state_dict()
    expected = to_official(template)
    ours = {official_key(k): k for k in template if not _OWN_BUFFERS.match(k)}
    given = {k for k in state if not IGNORED.search(k)}
    missing, unexpected = sorted(set(expected) - given), sorted(given - set(expected))
    if missing or unexpected:
        parts = ([f"{len(missing)} missing keys ({_listed(missing)})"] if missing else []) + \
                ([f"{len(unexpected)} unexpected keys ({_listed(unexpected)})"] if unexpected else [])
        raise OfficialCheckpointError(f"does not fit the configured model ({config.variant}): {'; '.join(parts)}")
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in sorted(expected)
              if state[k].shape != expected[k].shape]
    if shapes:
        raise OfficialCheckpointError(f"{len(shapes)} shapes differ from the configured model's (checkpoint vs "
                                      f"model): {_listed(shapes)}")
    values = tuple(config.jscc.rate_values)
    for key in sorted(k for k in state if k.endswith("rate_choice_tensor")):
        if tuple(int(v) for v in state[key].flatten().tolist()) != values:
            raise OfficialCheckpointError(f"{key} holds V = {state[key].tolist()}, the configured "
                                          f"rate_values are {list(values)}")
    out = dict(template)
    for name, key in ours.items():
        t = state[name]
        if not t.is_floating_point():
            raise OfficialCheckpointError(f"{name} holds {t.dtype} values, not floats")
        if not torch.isfinite(t).all():
            raise OfficialCheckpointError(f"{name} holds non-finite values")
        out[key] = _to_ours(key, t).to(template[key].dtype)
    return out


__all__ = ["OfficialCheckpointError", "RELEASED_OPTIONS", "official_key", "unwrap", "check_released_options",
           "to_official", "from_official"]
