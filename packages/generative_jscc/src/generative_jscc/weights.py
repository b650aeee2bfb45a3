"""Official StyleGAN-2 weights -> a plain state dict of :class:`generative_jscc.stylegan2.Generator`.

Three layouts of the same network are read (the file's bytes decide, not its name):

* **rosinality .pt** (stylegan2-pytorch): a torch checkpoint ``{"g_ema": state dict, "latent_avg":
  (style_dim,), ["g", "d", "g_optim", "d_optim", "args"]}``, or a bare generator state dict. Read
  with ``torch.load(weights_only=True)`` (``argparse.Namespace`` admitted for training checkpoints'
  ``args``). Our parameter names are rosinality's, so only its buffers are dropped: the fixed noise
  maps ``noises.noise_i`` and the FIR kernels ``*.blur.kernel``, ``*.upsample.kernel``.
* **NVlabs TensorFlow pickle** (NVlabs/stylegan2, e.g. ``stylegan2-ffhq-config-f.pkl``): a pickled
  tuple ``(G, D, Gs)`` of ``dnnlib.tflib.Network`` objects, each pickled as a state dict
  ``{"version", "name", "static_kwargs", "components", "build_module_src", "build_func_name",
  "variables": [(name, ndarray)]}``; the generator is ``Gs`` (the moving average), its
  components ``G_mapping`` and ``G_synthesis`` hold the variables.
* **NVlabs stylegan2-ada-pytorch pickle**: a pickled dict ``{"G", "D", "G_ema", ...}`` whose modules
  are ``torch_utils.persistence`` objects (their class source code travels inside the pickle) and
  whose tensors are torch's ``_rebuild_tensor_v2`` of storages serialised by ``torch.save``.

Both NVlabs pickles run code when unpickled normally (``Network.__setstate__`` and
``_reconstruct_persistent_obj`` ``exec`` the source they carry). They are read only by
:class:`RestrictedUnpickler`: it rebuilds numpy arrays (the three globals of
:class:`jscc_core.lpips_weights.NumpyOnlyUnpickler`), numeric numpy scalars (TF stores shape-()
variables as such), ``collections.OrderedDict`` and torch tensors (storages through
``torch.load(weights_only=True)``), refuses globals of modules that can reach the system (``os``,
``subprocess``, ``builtins`` functions, ...) with :class:`RefusedGlobalError`, and stands every
other class or function in by an :class:`InertObject` that only records its arguments and state.
Nothing else the pickle names is imported or called.

Name and layout mapping (NVlabs TF -> ours; variables of ``Gs``):

==========================================  ==========================================================
``G_mapping/Dense{i}/weight`` (in, out)     ``style.{i+1}.weight`` (out, in), transposed
``G_synthesis/4x4/Const/const``             ``input.input`` (1, C, 4, 4)
``.../{conv}/weight`` (k, k, in, out)       ``{conv}.conv.weight`` (1, out, in, k, k); the upsampling
                                            ``Conv0_up`` kernels flipped in both spatial axes (TF
                                            flips them inside its transposed convolution)
``.../{conv}/mod_weight``, ``mod_bias``     ``.conv.modulation.weight`` (transposed), ``.bias`` + 1
                                            (TF adds the style's initial 1 at run time)
``.../{conv}/noise_strength`` ()            ``.noise.weight`` (1,)
``.../{conv}/bias``                         ``.activate.bias``; ToRGB's (3,) -> ``bias`` (1, 3, 1, 1)
``{r}x{r}/Conv0_up``, ``Conv1``, ``ToRGB``  ``convs.{2b-2}``, ``convs.{2b-1}``, ``to_rgbs.{b-1}``
                                            (r = 4 * 2**b); 4x4: ``conv1``, ``to_rgb1``
``dlatent_avg``                             not a parameter: kept as the source's mean latent
``G_synthesis/noise{i}``, ``lod``           dropped (fixed noise maps, progressive-growing level)
==========================================  ==========================================================

ADA -> ours: ``mapping.fc{i}`` -> ``style.{i+1}``, ``synthesis.b4.const`` -> ``input.input``,
``synthesis.b{r}.conv0 | conv1 | torgb`` as above with ``affine`` -> ``modulation`` (bias already
holds the 1), kernels (out, in, k, k) already in our orientation (ADA's own TF import flips the
``Conv0_up`` kernels as rosinality's does); ``noise_const``, ``resample_filter`` dropped;
``mapping.w_avg`` is the mean latent. ADA's optional ``conv_clamp`` (used with FP16 layers) has
no counterpart here.

Every expected parameter must be found, every tensor of the source must be used or be one of the
named buffers, and every shape must match :class:`Generator`; otherwise
:class:`ArchitectureMismatchError` lists what is missing, unexpected or of another shape.

    python -m generative_jscc.weights convert --from stylegan2-ffhq-config-f.pkl --size 1024 --out g.pt
"""
from __future__ import annotations

import argparse
import functools
import io
import math
import os
import pickle
import re
import secrets
import sys
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from generative_jscc.stylegan2 import Generator, default_channels
from jscc_core.lpips_weights import ForbiddenGlobalError, NumpyOnlyUnpickler

__all__ = [
    "LAYOUTS",
    "WeightsError",
    "CorruptWeightsError",
    "ArchitectureMismatchError",
    "RefusedGlobalError",
    "InertObject",
    "RestrictedUnpickler",
    "load_restricted",
    "OfficialWeights",
    "read_official",
    "check_state",
    "convert_weights",
    "save_state_dict",
    "convert",
    "latent_avg_error",
    "main",
]

#: Layout names :func:`read_official` reports.
LAYOUTS = ("rosinality", "nvlabs-tf", "nvlabs-ada")


# --------------------------------------------------------------------------- errors


class WeightsError(ValueError):
    """A weight file cannot be converted; the message names the file and the reason."""


class CorruptWeightsError(WeightsError):
    """The file is truncated, not a pickle / torch checkpoint, or holds no StyleGAN-2 generator."""


class ArchitectureMismatchError(WeightsError):
    """The weights are a generator of another architecture (size, mapping depth, channels, keys).

    ``missing``, ``unexpected``: parameter names; ``mismatched``: (name, source shape, expected shape).
    """

    def __init__(self, message: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                 mismatched: Iterable[tuple[str, tuple, tuple]] = ()):
        super().__init__(message)
        self.missing, self.unexpected, self.mismatched = list(missing), list(unexpected), list(mismatched)


class RefusedGlobalError(ForbiddenGlobalError, ValueError):
    """The pickle names a global of a module that can reach the system; nothing was imported or called."""

    def __init__(self, module: str, name: str, source: str = ""):
        self.module, self.name = module, name
        where = f" in {source}" if source else ""
        pickle.UnpicklingError.__init__(
            self, f"refused global {module}.{name}{where}: a weight file has no business naming it (nothing was "
                  "imported or called; only numpy arrays, OrderedDict and torch tensors are rebuilt)")


# --------------------------------------------------------------------------- restricted unpickling


class InertObject:
    """Stand-in for a class or function a pickle names: it records and never runs anything.

    Calling the stand-in class (pickle's REDUCE / NEWOBJ) records ``args`` and ``kwargs``; BUILD
    stores the state in ``state`` (``__setstate__``); SETITEMS / APPENDS fill ``items`` / ``elements``.
    ``global_name`` (class attribute) is the ``module.name`` the pickle referred to.
    """

    global_name = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items, obj.elements = args, kwargs, None, {}, []
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state) -> None:
        self.state = state

    def __setitem__(self, key, value) -> None:
        self.items[key] = value

    def append(self, value) -> None:
        self.elements.append(value)

    def extend(self, values) -> None:
        self.elements.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.global_name}>"


@functools.lru_cache(maxsize=None)
def _inert_class(global_name: str) -> type[InertObject]:
    # A subclass per global name only labels the record; its body is InertObject's.
    return type(global_name.rsplit(".", 1)[-1], (InertObject,), {"global_name": global_name, "__module__": __name__})


# Modules whose globals a weight file never needs and an attacker would: refused with a named
# error. Any other unknown global is inert anyway (never imported); the list makes the refusal loud.
_HOSTILE_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "importlib", "runpy", "shutil", "socket",
    "pickle", "_pickle", "copy_reg", "marshal", "types", "code", "codeop", "ctypes", "pty", "multiprocessing",
    "asyncio", "io", "_io", "operator", "functools", "pathlib", "tempfile", "urllib", "http", "webbrowser",
    "platform", "signal", "threading", "_thread", "gc", "inspect", "pdb", "bdb", "timeit", "trace", "cProfile",
    "profile", "zipimport", "pkgutil", "site", "sysconfig", "setuptools", "distutils", "pip", "shlex", "glob",
    "fcntl", "resource", "mmap", "select", "selectors", "ssl", "ftplib", "smtplib", "telnetlib", "xmlrpc",
    "dill", "cloudpickle", "joblib", "numpy.f2py", "numpy.distutils", "numpy.testing", "torch.hub",
    "torch.jit", "torch.package", "torch.ops", "torch._ops", "torch.utils.cpp_extension"})
# Harmless container types of builtins that pickles of older protocols name explicitly.
_BUILTIN_TYPES = {"dict": dict, "list": list, "tuple": tuple, "set": set, "frozenset": frozenset,
                  "bytearray": bytearray, "object": object}


def _safe_reconstructor(cls, base, state):
    # copyreg._reconstructor(cls, base, state) of protocols 0/1: only stand-ins are ever built.
    if not (isinstance(cls, type) and issubclass(cls, InertObject)):
        raise pickle.UnpicklingError(f"copyreg._reconstructor of {cls!r}: only recorded stand-ins are rebuilt")
    obj = cls.__new__(cls)
    obj.args = (state,) if state is not None else ()
    return obj


def _safe_scalar(dtype, data=None):
    # numpy.core.multiarray.scalar(dtype, bytes): TF's session.run returns shape-() variables
    # (noise strengths, lod) as numpy scalars. Numeric dtypes only; object scalars are refused.
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or not isinstance(data, bytes) \
            or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r}: only numeric scalars are rebuilt")
    return np.frombuffer(data, dtype=dtype)[0]


def _safe_load_storage(data):
    # torch.storage._load_from_bytes without its code: the bytes are a legacy torch.save file,
    # read by torch's own weights-only unpickler.
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"a tensor storage must be bytes, got {type(data).__name__}")
    return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)


def _safe_rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    # torch._utils._rebuild_tensor_v2 on a real storage only; hooks and metadata are dropped.
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"a tensor must be rebuilt from a torch storage, got {type(storage).__name__}")
    ints = (int, np.integer)
    if not (isinstance(offset, ints) and all(isinstance(v, ints) for v in (*size, *stride))):
        raise pickle.UnpicklingError("a tensor's offset, size and stride must be integers")
    return torch._utils._rebuild_tensor_v2(storage, int(offset), tuple(size), tuple(stride), False, OrderedDict())


def _safe_rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    # torch._utils._rebuild_parameter(_with_state): the plain tensor, no hooks, no state.
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError(f"a parameter must wrap a tensor, got {type(data).__name__}")
    return data


def _inert_persistent(meta):
    # torch_utils.persistence._reconstruct_persistent_obj(meta): meta["module_src"] (source code)
    # is never executed; the object becomes a stand-in named by meta["class_name"] holding meta["state"].
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError(f"a persistent object's description must be a dict, got {type(meta).__name__}")
    name = meta.get("class_name")
    obj = _inert_class(f"persistent.{name if isinstance(name, str) else '?'}")()
    obj.state = meta.get("state")
    return obj


class RestrictedUnpickler(NumpyOnlyUnpickler):
    """Unpickler of NVlabs network pickles that never imports or calls what the pickle names.

    Admitted: numpy's ``dtype``, ``ndarray`` and ``_reconstruct`` (as :class:`NumpyOnlyUnpickler`),
    numeric numpy scalars, ``collections.OrderedDict``, builtins' container types, and safe replacements of
    ``copyreg._reconstructor``, ``torch.storage._load_from_bytes`` (``torch.load(weights_only=True)``),
    ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter(_with_state)`` and
    ``torch_utils.persistence._reconstruct_persistent_obj`` (an :class:`InertObject`; its source
    code is not run). Globals of :data:`_HOSTILE_MODULES` raise :class:`RefusedGlobalError`;
    every other global becomes an :class:`InertObject` subclass. Persistent ids are refused.
    """

    _SAFE: dict[tuple[str, str], Callable] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("numpy.core.multiarray", "scalar"): _safe_scalar,
        ("numpy._core.multiarray", "scalar"): _safe_scalar,
        ("copyreg", "_reconstructor"): _safe_reconstructor,
        ("torch.storage", "_load_from_bytes"): _safe_load_storage,
        ("torch._utils", "_rebuild_tensor_v2"): _safe_rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _safe_rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _safe_rebuild_parameter,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _inert_persistent,
    }

    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)  # numpy's three
        except ForbiddenGlobalError:
            pass
        if (module, name) in self._SAFE:
            return self._SAFE[(module, name)]
        if module == "builtins" and name in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[name]
        parts = module.split(".")
        if any(".".join(parts[:i]) in _HOSTILE_MODULES for i in range(1, len(parts) + 1)):
            raise RefusedGlobalError(module, name, self._source)
        return _inert_class(f"{module}.{name}")


def load_restricted(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Raises :class:`RefusedGlobalError` for a hostile global (nothing executed) and
    :class:`CorruptWeightsError` naming ``path`` for a truncated or unreadable file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptWeightsError(f"cannot read {path}: {exc}") from exc
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=str(path)).load()
    except RefusedGlobalError:
        raise
    except Exception as exc:  # any failure to parse the bytes means a truncated or corrupt file
        raise CorruptWeightsError(f"{path} is truncated or not a readable network pickle "
                                  f"({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- layouts


@dataclass
class OfficialWeights:
    """A generator read from an official file, in our parameter names.

    ``state``: name -> float32 tensor (not yet checked against a :class:`Generator`);
    ``latent_avg``: (style_dim,) mean latent the source tracked in training, or None;
    ``size``, ``n_mlp``: the source's resolution and mapping depth; ``lr_mlp``: the mapping
    network's learning-rate multiplier (part of its stored weights' scale), None when the file
    does not say; ``dropped``: source tensors not carried over (buffers with no counterpart).
    """

    layout: str
    source: Path
    state: dict[str, Tensor]
    size: int
    n_mlp: int
    latent_avg: Tensor | None = None
    lr_mlp: float | None = None
    dropped: list[str] = field(default_factory=list)


# Legacy (pre-1.6) torch.save files start with a pickled magic number.
_TORCH_LEGACY_MAGIC = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)


def _as_float_tensor(value, name: str, source: Path) -> Tensor:
    if isinstance(value, np.floating):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.detach().to(torch.float32).contiguous()
    kind = getattr(value, "dtype", type(value).__name__)
    raise CorruptWeightsError(f"{source}: {name} is {kind}, expected a floating-point array")


def _need(params: Mapping[str, Any], names: Iterable[str], source: Path, layout: str) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
        raise ArchitectureMismatchError(f"{source} ({layout}) lacks {shown}: not a StyleGAN-2 config-e/f generator "
                                        "with skip outputs", missing=missing)


def _unused(params: Mapping[str, Any], used: set[str], dropped: Iterable[str], source: Path, layout: str) -> None:
    extra = sorted(set(params) - used - set(dropped))
    if extra:
        shown = ", ".join(extra[:8]) + (f" (+{len(extra) - 8} more)" if len(extra) > 8 else "")
        raise ArchitectureMismatchError(
            f"{source} ({layout}) holds tensors this generator has no place for: {shown} (a conditional, "
            "resnet-output or other-architecture generator?)", unexpected=extra)


def _resolutions(names: Iterable[str], pattern: str, source: Path, layout: str) -> list[int]:
    found = sorted({int(m.group(1)) for n in names if (m := re.fullmatch(pattern, n))})
    expected = [4 * 2 ** b for b in range(len(found))]
    if not found or found != expected:
        raise CorruptWeightsError(f"{source} ({layout}): synthesis resolutions {found or 'none'}, expected "
                                  f"4, 8, ..., a power of two")
    return found


def _rosinality(ckpt, source: Path) -> OfficialWeights:
    if not isinstance(ckpt, Mapping):
        raise CorruptWeightsError(f"{source} holds a {type(ckpt).__name__}, not a checkpoint dict")
    if "g_ema" in ckpt:
        sd, latent = ckpt["g_ema"], ckpt.get("latent_avg")
    elif "input.input" in ckpt:
        sd, latent = ckpt, None
    else:
        raise CorruptWeightsError(f"{source}: no 'g_ema' generator and no generator state dict in it "
                                  f"(keys {sorted(map(str, ckpt))[:10]})")
    if not isinstance(sd, Mapping):
        raise CorruptWeightsError(f"{source}: g_ema is a {type(sd).__name__}, not a state dict")
    # Buffers of rosinality's generator that ours does not keep (fixed noise maps, FIR kernels).
    drop = re.compile(r"noises\.noise_\d+|.*\.(blur|upsample)\.kernel")
    dropped = [k for k in sd if drop.fullmatch(str(k))]
    state = {str(k): _as_float_tensor(v, str(k), source) for k, v in sd.items() if k not in dropped}
    res = _resolutions(["4"] + [str(4 * 2 ** (int(m.group(1)) + 1)) for k in state
                                if (m := re.fullmatch(r"to_rgbs\.(\d+)\.bias", k))], r"(\d+)", source, "rosinality")
    n_mlp = len({k for k in state if re.fullmatch(r"style\.\d+\.weight", k)})
    if latent is not None:
        latent = _as_float_tensor(latent, "latent_avg", source).reshape(-1)
    return OfficialWeights("rosinality", source, state, res[-1], n_mlp, latent, None, dropped)


def _modconv(get: Callable[[str], Tensor], src: str, dst: str, flip: bool = False, to_rgb: bool = False) -> dict:
    # TF modulated conv `src` -> our StyledConv / ToRGB `dst` (see the module docstring's table).
    weight = get(f"{src}/weight").permute(3, 2, 0, 1)  # (k, k, in, out) -> (out, in, k, k)
    if flip:
        weight = torch.flip(weight, (2, 3))
    out = {f"{dst}.conv.weight": weight.unsqueeze(0).contiguous(),
           f"{dst}.conv.modulation.weight": get(f"{src}/mod_weight").t().contiguous(),
           f"{dst}.conv.modulation.bias": get(f"{src}/mod_bias") + 1}
    if to_rgb:
        out[f"{dst}.bias"] = get(f"{src}/bias").reshape(1, -1, 1, 1)
    else:
        out[f"{dst}.noise.weight"] = get(f"{src}/noise_strength").reshape(1)
        out[f"{dst}.activate.bias"] = get(f"{src}/bias")
    return out


def _tf_network_state(obj, what: str, source: Path) -> dict:
    state = obj.state if isinstance(obj, InertObject) else None
    if not isinstance(state, dict) or not isinstance(state.get("variables"), (list, tuple)):
        raise CorruptWeightsError(f"{source}: {what} is not a pickled dnnlib.tflib.Network (no 'variables' list)")
    return state


def _tf_params(net, source: Path) -> dict[str, np.ndarray]:
    """All variables of a TF network and its components, named ``<component name>/<variable>``."""
    params: dict[str, np.ndarray] = {}

    def collect(obj, prefix: str, what: str) -> None:
        state = _tf_network_state(obj, what, source)
        for item in state["variables"]:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise CorruptWeightsError(f"{source}: {what} has a variable entry that is not (name, array)")
            params[prefix + item[0]] = item[1]
        components = state.get("components") or {}
        if isinstance(components, InertObject):  # a dnnlib.EasyDict records its entries as items
            components = components.items
        if not isinstance(components, dict):
            raise CorruptWeightsError(f"{source}: the components of {what} are not a dict")
        for key, comp in components.items():
            cstate = _tf_network_state(comp, f"component {key!r} of {what}", source)
            name = cstate.get("name") if isinstance(cstate.get("name"), str) else str(key)
            collect(comp, f"{prefix}{name}/", f"{what}/{name}")

    collect(net, "", "Gs")
    return params


# static_kwargs of the TF generator that change what its weights compute, and the values ours implements.
_TF_FIXED_KWARGS = {"architecture": "skip", "label_size": 0, "num_channels": 3, "nonlinearity": "lrelu",
                    "mapping_nonlinearity": "lrelu", "normalize_latents": True, "resample_kernel": [1, 3, 3, 1],
                    "use_noise": True}


def _tf_lr_mlp(net, source: Path) -> float:
    """Check the TF generator's static_kwargs against our architecture; return its mapping_lrmul."""
    kwargs = _tf_network_state(net, "Gs", source).get("static_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CorruptWeightsError(f"{source}: the static_kwargs of Gs are not a dict")
    for key, value in _TF_FIXED_KWARGS.items():
        given = list(kwargs[key]) if isinstance(kwargs.get(key), tuple) else kwargs.get(key)
        if given is not None and given != value:
            raise ArchitectureMismatchError(f"{source}: Gs was built with {key}={kwargs[key]!r}; this generator "
                                            f"implements {key}={value!r}")
    z, w = kwargs.get("latent_size", 512), kwargs.get("dlatent_size", 512)
    if z != w:
        raise ArchitectureMismatchError(f"{source}: latent_size {z} != dlatent_size {w}; this generator maps "
                                        "z and w of one dimension")
    lrmul = kwargs.get("mapping_lrmul", 0.01)  # G_mapping's default
    if not isinstance(lrmul, (int, float)):
        raise CorruptWeightsError(f"{source}: mapping_lrmul is {type(lrmul).__name__}, expected a number")
    return float(lrmul)


def _tf(net, source: Path) -> OfficialWeights:
    layout = "nvlabs-tf"
    lr_mlp = _tf_lr_mlp(net, source)
    raw = _tf_params(net, source)
    res = _resolutions(raw, r"G_synthesis/(\d+)x\1/ToRGB/weight", source, layout)
    n_mlp = len([n for n in raw if re.fullmatch(r"G_mapping/Dense\d+/weight", n)])
    used: set[str] = set()

    def get(name: str) -> Tensor:
        used.add(name)
        return _as_float_tensor(raw[name], name, source)

    names = [f"G_mapping/Dense{i}/{p}" for i in range(n_mlp) for p in ("weight", "bias")]
    names.append("G_synthesis/4x4/Const/const")
    for r in res:
        convs = ["Conv"] if r == 4 else ["Conv0_up", "Conv1"]
        names += [f"G_synthesis/{r}x{r}/{c}/{p}" for c in convs
                  for p in ("weight", "mod_weight", "mod_bias", "noise_strength", "bias")]
        names += [f"G_synthesis/{r}x{r}/ToRGB/{p}" for p in ("weight", "mod_weight", "mod_bias", "bias")]
    _need(raw, names, source, layout)
    state: dict[str, Tensor] = {}
    for i in range(n_mlp):
        state[f"style.{i + 1}.weight"] = get(f"G_mapping/Dense{i}/weight").t().contiguous()  # (in, out) -> (out, in)
        state[f"style.{i + 1}.bias"] = get(f"G_mapping/Dense{i}/bias")
    state["input.input"] = get("G_synthesis/4x4/Const/const")
    state.update(_modconv(get, "G_synthesis/4x4/Conv", "conv1"))
    state.update(_modconv(get, "G_synthesis/4x4/ToRGB", "to_rgb1", to_rgb=True))
    for b, r in enumerate(res[1:], start=1):
        state.update(_modconv(get, f"G_synthesis/{r}x{r}/Conv0_up", f"convs.{2 * b - 2}", flip=True))
        state.update(_modconv(get, f"G_synthesis/{r}x{r}/Conv1", f"convs.{2 * b - 1}"))
        state.update(_modconv(get, f"G_synthesis/{r}x{r}/ToRGB", f"to_rgbs.{b - 1}", to_rgb=True))
    latent = get("dlatent_avg").reshape(-1) if "dlatent_avg" in raw else None
    dropped = [n for n in raw if re.fullmatch(r"G_synthesis/noise\d+|(G_synthesis/|G_mapping/)?lod", n)]
    _unused(raw, used, dropped, source, layout)
    return OfficialWeights(layout, source, state, res[-1], n_mlp, latent, lr_mlp, dropped)


def _module_tensors(obj, prefix: str, out: dict, source: Path, depth: int = 0) -> None:
    # Flatten a recorded torch module (its __dict__: _parameters, _buffers, _modules) into names.
    state = obj.state if isinstance(obj, InertObject) else None
    if not isinstance(state, Mapping) or depth > 64:
        raise CorruptWeightsError(f"{source}: {prefix.rstrip('.') or 'G_ema'} is not a pickled torch module")
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                out[f"{prefix}{name}"] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            _module_tensors(child, f"{prefix}{name}.", out, source, depth + 1)


def _ada_lr_mlp(g_ema, source: Path) -> float | None:
    # FullyConnectedLayer keeps its lr_multiplier as bias_gain; None when it is not a plain number.
    try:
        fc0 = g_ema.state["_modules"]["mapping"].state["_modules"]["fc0"].state
    except (AttributeError, KeyError, TypeError):
        raise CorruptWeightsError(f"{source}: G_ema has no mapping.fc0 module") from None
    gain = fc0.get("bias_gain") if isinstance(fc0, Mapping) else None
    return float(gain) if isinstance(gain, (int, float)) and not isinstance(gain, bool) else None


def _ada(g_ema, source: Path) -> OfficialWeights:
    layout = "nvlabs-ada"
    raw: dict[str, Any] = {}
    _module_tensors(g_ema, "", raw, source)
    res = _resolutions(raw, r"synthesis\.b(\d+)\.torgb\.weight", source, layout)
    n_mlp = len([n for n in raw if re.fullmatch(r"mapping\.fc\d+\.weight", n)])
    used: set[str] = set()

    def get(name: str) -> Tensor:
        used.add(name)
        return _as_float_tensor(raw[name], name, source)

    def layer(src: str, dst: str, to_rgb: bool = False) -> dict:
        out = {f"{dst}.conv.weight": get(f"{src}.weight").unsqueeze(0),
               f"{dst}.conv.modulation.weight": get(f"{src}.affine.weight"),
               f"{dst}.conv.modulation.bias": get(f"{src}.affine.bias")}
        if to_rgb:
            out[f"{dst}.bias"] = get(f"{src}.bias").reshape(1, -1, 1, 1)
        else:
            out[f"{dst}.noise.weight"] = get(f"{src}.noise_strength").reshape(1)
            out[f"{dst}.activate.bias"] = get(f"{src}.bias")
        return out

    names = [f"mapping.fc{i}.{p}" for i in range(n_mlp) for p in ("weight", "bias")] + ["synthesis.b4.const"]
    for r in res:
        convs = ["conv1"] if r == 4 else ["conv0", "conv1"]
        names += [f"synthesis.b{r}.{c}.{p}" for c in convs
                  for p in ("weight", "affine.weight", "affine.bias", "noise_strength", "bias")]
        names += [f"synthesis.b{r}.torgb.{p}" for p in ("weight", "affine.weight", "affine.bias", "bias")]
    _need(raw, names, source, layout)
    state: dict[str, Tensor] = {}
    for i in range(n_mlp):
        state[f"style.{i + 1}.weight"] = get(f"mapping.fc{i}.weight")
        state[f"style.{i + 1}.bias"] = get(f"mapping.fc{i}.bias")
    state["input.input"] = get("synthesis.b4.const").unsqueeze(0)
    state.update(layer("synthesis.b4.conv1", "conv1"))
    state.update(layer("synthesis.b4.torgb", "to_rgb1", to_rgb=True))
    for b, r in enumerate(res[1:], start=1):
        state.update(layer(f"synthesis.b{r}.conv0", f"convs.{2 * b - 2}"))
        state.update(layer(f"synthesis.b{r}.conv1", f"convs.{2 * b - 1}"))
        state.update(layer(f"synthesis.b{r}.torgb", f"to_rgbs.{b - 1}", to_rgb=True))
    latent = get("mapping.w_avg").reshape(-1) if "mapping.w_avg" in raw else None
    dropped = [n for n in raw if re.fullmatch(r".*\.(noise_const|resample_filter)", n)]
    _unused(raw, used, dropped, source, layout)
    return OfficialWeights(layout, source, state, res[-1], n_mlp, latent, _ada_lr_mlp(g_ema, source), dropped)


def _read_torch(source: Path):
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, a pickle weights_only refuses, ...
        raise CorruptWeightsError(f"{source} is not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc


def read_official(source: str | os.PathLike) -> OfficialWeights:
    """Read a generator from ``source`` in any of :data:`LAYOUTS`, detected from the file's bytes.

    Torch checkpoints (zip or legacy format) go through ``torch.load(weights_only=True)``, anything
    else through :func:`load_restricted`. Raises :class:`CorruptWeightsError`,
    :class:`ArchitectureMismatchError` or :class:`RefusedGlobalError`, each naming ``source``.
    """
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such weight file")
    with open(source, "rb") as fh:
        head = fh.read(len(_TORCH_LEGACY_MAGIC))
    if zipfile.is_zipfile(source) or head == _TORCH_LEGACY_MAGIC:
        return _rosinality(_read_torch(source), source)
    obj = load_restricted(source)
    if isinstance(obj, (tuple, list)) and len(obj) == 3 and all(isinstance(o, InertObject) for o in obj):
        return _tf(obj[2], source)  # (G, D, Gs): Gs is the generator's moving average
    if isinstance(obj, InertObject) and isinstance(obj.state, dict) and "variables" in obj.state:
        return _tf(obj, source)
    if isinstance(obj, dict) and "G_ema" in obj:
        return _ada(obj["G_ema"], source)
    kind = obj.global_name if isinstance(obj, InertObject) else type(obj).__name__
    raise CorruptWeightsError(f"{source} holds a {kind}, not a StyleGAN-2 network pickle ((G, D, Gs) of "
                              "dnnlib.tflib.Network, or a dict with 'G_ema')")


# --------------------------------------------------------------------------- checking and saving


def check_state(state: Mapping[str, Tensor], G: Generator, source: str | os.PathLike = "weights") -> None:
    """Every parameter of ``G`` present with its shape and nothing else, or :class:`ArchitectureMismatchError`."""
    ref = G.state_dict()
    missing = [k for k in ref if k not in state]
    unexpected = [k for k in state if k not in ref]
    mismatched = [(k, tuple(state[k].shape), tuple(ref[k].shape)) for k in ref
                  if k in state and tuple(state[k].shape) != tuple(ref[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected),
                             ("of another shape (source vs expected)", [f"{k} {a} vs {b}" for k, a, b in mismatched])):
            if items:
                parts.append(f"{len(items)} {label}: " + ", ".join(items[:6]) + (" ..." if len(items) > 6 else ""))
        raise ArchitectureMismatchError(f"{source} does not fit Generator(size={G.size}, style_dim={G.style_dim}, "
                                        f"n_mlp={G.n_mlp}, channels={G.channels}): " + "; ".join(parts),
                                        missing, unexpected, mismatched)


def convert_weights(source: str | os.PathLike, G: Generator) -> OfficialWeights:
    """Read ``source`` (:func:`read_official`), check it against ``G`` and load it into ``G`` (strict).

    ``G`` fixes the architecture (size, style_dim, n_mlp, channels); a source of another size
    raises :class:`ArchitectureMismatchError` naming both sizes before any key is compared.
    """
    return _fit(read_official(source), G)


def _fit(weights: OfficialWeights, G: Generator) -> OfficialWeights:
    if weights.size != G.size:
        raise ArchitectureMismatchError(f"{weights.source} holds a {weights.size}-px generator ({weights.layout}); "
                                        f"the requested size is {G.size}")
    if weights.n_mlp != G.n_mlp:
        raise ArchitectureMismatchError(f"{weights.source} has {weights.n_mlp} mapping layers; the requested "
                                        f"generator has n_mlp={G.n_mlp}")
    if weights.lr_mlp is not None and not math.isclose(weights.lr_mlp, G.lr_mlp, rel_tol=1e-6):
        raise ArchitectureMismatchError(f"{weights.source} stores its mapping weights for lr_mlp={weights.lr_mlp:g}; "
                                        f"the requested generator has lr_mlp={G.lr_mlp:g}")
    check_state(weights.state, G, weights.source)
    G.load_state_dict(weights.state, strict=True)
    return weights


def save_state_dict(state: Mapping[str, Tensor], out: str | os.PathLike) -> Path:
    """``torch.save`` a plain state dict at ``out`` atomically (temporary file beside it, then rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.part")
    try:
        torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def convert(source: str | os.PathLike, out: str | os.PathLike, size: int, style_dim: int = 512, n_mlp: int = 8,
            channel_multiplier: int = 2, channels: Mapping[int, int] | None = None, lr_mlp: float = 0.01) -> Path:
    """Convert official weights at ``source`` into a state dict of ``Generator(size, style_dim, n_mlp,
    channels, lr_mlp)`` at ``out`` (config-f channels with ``channel_multiplier`` when ``channels`` is None).

    The result loads with ``torch.load(out, weights_only=True)`` and ``load_state_dict(strict=True)``.
    """
    weights = read_official(source)  # first: a refused or corrupt file costs no generator
    chans = channels if channels is not None else default_channels(size, channel_multiplier)
    G = Generator(size, style_dim=style_dim, n_mlp=n_mlp, channels=chans, lr_mlp=lr_mlp)
    return save_state_dict(_fit(weights, G).state, out)


@torch.no_grad()
def latent_avg_error(G: Generator, latent_avg: Tensor, n: int = 10000, seed: int = 0) -> float:
    """||mean of G.mapping(z) over ``n`` draws - latent_avg|| / ||latent_avg||: a check of the converted
    mapping network against the mean latent the source tracked while training (an EMA, so not 0)."""
    w_mean = G.mean_latent(n, generator=torch.Generator().manual_seed(seed)).reshape(-1).cpu()
    ref = latent_avg.reshape(-1).to(torch.float32)
    if ref.shape != w_mean.shape:
        raise ArchitectureMismatchError(f"latent_avg has {ref.numel()} entries, the mapping gives {w_mean.numel()}")
    return float((w_mean - ref).norm() / ref.norm().clamp_min(1e-12))


# --------------------------------------------------------------------------- command line


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m generative_jscc.weights convert --from FILE --size N --out FILE``."""
    ap = argparse.ArgumentParser(prog="python -m generative_jscc.weights", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="convert official StyleGAN-2 weights into our generator's state dict")
    c.add_argument("--from", dest="source", required=True, help="rosinality .pt or NVlabs .pkl")
    c.add_argument("--size", type=int, required=True, help="output resolution of the generator (e.g. 1024)")
    c.add_argument("--out", required=True, help="state dict to write (.pt)")
    c.add_argument("--style-dim", type=int, default=512)
    c.add_argument("--n-mlp", type=int, default=8)
    c.add_argument("--channel-multiplier", type=int, default=2, help="2 for config-f, 1 for config-e")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        out = convert(args.source, args.out, args.size, args.style_dim, args.n_mlp, args.channel_multiplier)
    except (WeightsError, pickle.UnpicklingError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.source} -> {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
