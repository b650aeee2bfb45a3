"""Converters of official StyleGAN-2 weights: the malicious-pickle refusal, three layouts of the same
random weights giving the same image, the NVlabs-TF semantics, and named errors for bad input.

The NVlabs pickles are built here from the layouts documented in :mod:`generative_jscc.weights`,
with stand-in classes registered under dnnlib / torch_utils module names only while pickling, so
reading them back would need those modules: the restricted unpickler must do without importing them.
"""
import argparse
import contextlib
import io
import math
import os
import pickle
import subprocess
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from generative_jscc import weights as W
from generative_jscc.stylegan2 import Discriminator, Generator

CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}
SIZE, STYLE, N_MLP = 16, 16, 2


def random_generator(size=SIZE, seed=0):
    """A tiny G with every parameter random (noise strengths, biases and modulation biases too)."""
    torch.manual_seed(seed)
    G = Generator(size, style_dim=STYLE, n_mlp=N_MLP, channels=CHANNELS)
    with torch.no_grad():
        for p in G.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return G.eval()


def fixed_inputs(G, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, G.style_dim, generator=g)
    w_plus = torch.randn(batch, G.n_latent, G.style_dim, generator=g)
    noise = [torch.randn(batch, 1, s[2], s[3], generator=g) for s in G.noise_shapes()]
    return z, w_plus, noise


def load_converted(path, size=SIZE):
    state = torch.load(path, map_location="cpu", weights_only=True)
    G = Generator(size, style_dim=STYLE, n_mlp=N_MLP, channels=CHANNELS)
    G.load_state_dict(state, strict=True)
    return G.eval()


def resolutions(G):
    return [4 * 2 ** b for b in range(G.num_blocks)]


# --------------------------------------------------------------------------- writing the three layouts


def write_rosinality(G, path, latent_avg):
    """rosinality's training checkpoint: g_ema with its noise and FIR-kernel buffers, g, d, args."""
    sd = {k: v.clone() for k, v in G.state_dict().items()}
    g_ema = dict(sd)
    for i, shape in enumerate(G.noise_shapes()):
        g_ema[f"noises.noise_{i}"] = torch.randn(shape)
    for i in range(len(G.to_rgbs)):
        g_ema[f"convs.{2 * i}.conv.blur.kernel"] = torch.ones(4, 4)
        g_ema[f"to_rgbs.{i}.upsample.kernel"] = torch.ones(4, 4)
    D = Discriminator(G.size, CHANNELS)
    torch.save({"g": sd, "d": D.state_dict(), "g_ema": g_ema, "latent_avg": latent_avg,
                "args": argparse.Namespace(size=G.size, latent=G.style_dim)}, path)


def _np(t):
    return t.detach().numpy().astype(np.float32)


def tf_variables(G, latent_avg):
    """(mapping, synthesis, Gs-own) variables of G in NVlabs-TF names and layouts (module docstring)."""
    sd = {k: v.detach() for k, v in G.state_dict().items()}
    mapping = {}
    for i in range(G.n_mlp):
        mapping[f"Dense{i}/weight"] = _np(sd[f"style.{i + 1}.weight"].t())  # (out, in) -> (in, out)
        mapping[f"Dense{i}/bias"] = _np(sd[f"style.{i + 1}.bias"])
    syn = {"4x4/Const/const": _np(sd["input.input"])}

    def modconv(ours, tf, flip=False, to_rgb=False):
        w = sd[f"{ours}.conv.weight"][0]  # (out, in, k, k)
        if flip:
            w = torch.flip(w, (2, 3))
        syn[f"{tf}/weight"] = _np(w.permute(2, 3, 1, 0))  # -> (k, k, in, out)
        syn[f"{tf}/mod_weight"] = _np(sd[f"{ours}.conv.modulation.weight"].t())
        syn[f"{tf}/mod_bias"] = _np(sd[f"{ours}.conv.modulation.bias"] - 1)
        if to_rgb:
            syn[f"{tf}/bias"] = _np(sd[f"{ours}.bias"].reshape(-1))
        else:
            syn[f"{tf}/noise_strength"] = np.float32(sd[f"{ours}.noise.weight"][0].item()) * np.ones((), np.float32)
            syn[f"{tf}/bias"] = _np(sd[f"{ours}.activate.bias"])

    modconv("conv1", "4x4/Conv")
    modconv("to_rgb1", "4x4/ToRGB", to_rgb=True)
    for b, r in enumerate(resolutions(G)[1:], start=1):
        modconv(f"convs.{2 * b - 2}", f"{r}x{r}/Conv0_up", flip=True)
        modconv(f"convs.{2 * b - 1}", f"{r}x{r}/Conv1")
        modconv(f"to_rgbs.{b - 1}", f"{r}x{r}/ToRGB", to_rgb=True)
    for i, shape in enumerate(G.noise_shapes()):
        syn[f"noise{i}"] = np.random.default_rng(i).standard_normal(shape).astype(np.float32)
    own = {"dlatent_avg": _np(latent_avg), "lod": np.float32(0) * np.ones((), np.float32)}
    return mapping, syn, own


class Network:
    """Stand-in for dnnlib.tflib.network.Network: pickled as NEWOBJ + BUILD(state dict) like the real one."""

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state


def _reconstruct_persistent_obj(meta):  # stand-in for torch_utils.persistence's; never called on load
    raise AssertionError("the converter must not call the pickle's reconstructor")


class Persistent:
    """Stand-in for a torch_utils.persistence class: pickled as _reconstruct_persistent_obj(meta)."""

    def __init__(self, class_name, params=(), buffers=(), modules=(), **attrs):
        self.meta_state = {"_parameters": OrderedDict(params), "_buffers": OrderedDict(buffers),
                           "_modules": OrderedDict(modules), "training": False, **attrs}
        self.class_name = class_name

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.meta_state)
        return _reconstruct_persistent_obj, (meta,)


@contextlib.contextmanager
def fake_modules(objects):
    """Register ``{module: {name: obj}}`` (and parent packages) in sys.modules while pickling only."""
    added, saved = [], {}
    try:
        for module, names in objects.items():
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name not in sys.modules:
                    sys.modules[name] = types.ModuleType(name)
                    added.append(name)
            for attr, obj in names.items():
                saved[obj] = obj.__module__
                obj.__module__ = module
                setattr(sys.modules[module], attr, obj)
        yield
    finally:
        for name in added:
            del sys.modules[name]
        for obj, module in saved.items():
            obj.__module__ = module


def evil_source(marker):
    return f"open({str(marker)!r}, 'w').write('the pickle ran its code')\n"


def write_tf_pickle(G, path, latent_avg, marker, static=None):
    mapping, syn, own = tf_variables(G, latent_avg)
    src = evil_source(marker)

    def net(name, variables, components=None, kwargs=None):
        return Network({"version": 4, "name": name, "static_kwargs": kwargs or {}, "components": components or {},
                        "build_module_src": src, "build_func_name": name, "variables": list(variables.items())})

    kwargs = {"resolution": G.size, "num_channels": 3, "label_size": 0, "latent_size": G.style_dim,
              "dlatent_size": G.style_dim, "mapping_layers": G.n_mlp, "architecture": "skip", **(static or {})}
    gs = net("Gs", own, {"mapping": net("G_mapping", mapping), "synthesis": net("G_synthesis", syn)}, kwargs)
    d = net("D", {"Output/weight": np.zeros((4, 1), np.float32)})
    with fake_modules({"dnnlib.tflib.network": {"Network": Network}}):
        path.write_bytes(pickle.dumps((gs, d, gs), protocol=4))
    return mapping, syn, own


def write_ada_pickle(G, path, latent_avg, marker):
    sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    Persistent.module_src = evil_source(marker)
    P = torch.nn.Parameter

    def fc(prefix):
        return Persistent("FullyConnectedLayer", [("weight", P(sd[f"{prefix}.weight"])),
                                                  ("bias", P(sd[f"{prefix}.bias"]))], bias_gain=G.lr_mlp)

    def layer(ours, r, to_rgb=False):
        params = [("weight", P(sd[f"{ours}.conv.weight"][0]))]
        buffers = [] if to_rgb else [("resample_filter", torch.ones(4, 4)), ("noise_const", torch.randn(r, r))]
        if to_rgb:
            params.append(("bias", P(sd[f"{ours}.bias"].reshape(-1))))
        else:
            params += [("noise_strength", P(sd[f"{ours}.noise.weight"][0].clone())),
                       ("bias", P(sd[f"{ours}.activate.bias"]))]
        affine = Persistent("FullyConnectedLayer", [("weight", P(sd[f"{ours}.conv.modulation.weight"])),
                                                    ("bias", P(sd[f"{ours}.conv.modulation.bias"]))], bias_gain=1)
        return Persistent("ToRGBLayer" if to_rgb else "SynthesisLayer", params, buffers, [("affine", affine)])

    blocks = [("b4", Persistent("SynthesisBlock", [("const", P(sd["input.input"][0]))],
                                [("resample_filter", torch.ones(4, 4))],
                                [("conv1", layer("conv1", 4)), ("torgb", layer("to_rgb1", 4, True))]))]
    for b, r in enumerate(resolutions(G)[1:], start=1):
        blocks.append((f"b{r}", Persistent("SynthesisBlock", [], [("resample_filter", torch.ones(4, 4))], [
            ("conv0", layer(f"convs.{2 * b - 2}", r)), ("conv1", layer(f"convs.{2 * b - 1}", r)),
            ("torgb", layer(f"to_rgbs.{b - 1}", r, True))])))
    mapping = Persistent("MappingNetwork", [], [("w_avg", latent_avg.clone())],
                         [(f"fc{i}", fc(f"style.{i + 1}")) for i in range(G.n_mlp)])
    g_ema = Persistent("Generator", [], [], [("synthesis", Persistent("SynthesisNetwork", [], [], blocks)),
                                             ("mapping", mapping)])
    data = {"G": g_ema, "D": Persistent("Discriminator"), "G_ema": g_ema, "augment_pipe": None,
            "training_set_kwargs": {"path": "ffhq.zip"}}
    with fake_modules({"torch_utils.persistence": {"_reconstruct_persistent_obj": _reconstruct_persistent_obj}}):
        path.write_bytes(pickle.dumps(data, protocol=3))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The same random G in the three layouts, plus the marker file their embedded code would write."""
    root = tmp_path_factory.mktemp("official")
    G = random_generator()
    latent_avg = G.mean_latent(2000, generator=torch.Generator().manual_seed(3)).reshape(-1)
    marker = root / "marker"
    write_rosinality(G, root / "g.pt", latent_avg)
    tf = write_tf_pickle(G, root / "g-tf.pkl", latent_avg, marker)
    write_ada_pickle(G, root / "g-ada.pkl", latent_avg, marker)
    return {"G": G, "root": root, "marker": marker, "latent_avg": latent_avg, "tf": tf,
            "files": {"rosinality": root / "g.pt", "nvlabs-tf": root / "g-tf.pkl", "nvlabs-ada": root / "g-ada.pkl"}}


# --------------------------------------------------------------------------- (b) same weights, same image


@pytest.mark.parametrize("layout", W.LAYOUTS)
def test_every_layout_converts_to_the_same_image(sources, layout, tmp_path):
    G = sources["G"]
    before = set(sys.modules)
    out = W.convert(sources["files"][layout], tmp_path / "g.pt", SIZE, style_dim=STYLE, n_mlp=N_MLP,
                    channels=CHANNELS)
    assert not sources["marker"].exists(), "the pickle's embedded source code was executed"
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] in ("dnnlib", "torch_utils")}
    H = load_converted(out)
    z, w_plus, noise = fixed_inputs(G)
    with torch.no_grad():
        assert torch.allclose(H.mapping(z), G.mapping(z), atol=1e-6)
        ref, img = G(w_plus, noise), H(w_plus, noise)
    assert img.shape == (2, 3, SIZE, SIZE)
    assert torch.allclose(img, ref, atol=1e-5), (img - ref).abs().max()


@pytest.mark.parametrize("layout", W.LAYOUTS)
def test_layout_detection_mean_latent_and_dropped_buffers(sources, layout):
    read = W.read_official(sources["files"][layout])
    assert (read.layout, read.size, read.n_mlp) == (layout, SIZE, N_MLP)
    assert torch.allclose(read.latent_avg, sources["latent_avg"])
    assert read.dropped  # noise maps / FIR kernels of the source are not carried over
    other = Generator(SIZE, STYLE, N_MLP, CHANNELS)
    assert W.latent_avg_error(other, read.latent_avg, n=500) > 0.05  # another G's mapping
    H = Generator(SIZE, STYLE, N_MLP, CHANNELS)
    assert W.convert_weights(sources["files"][layout], H).layout == layout  # loads into H
    assert W.latent_avg_error(H, read.latent_avg, n=2000, seed=3) < 1e-5  # the same draws give the same mean


# --------------------------------------------------------------------------- NVlabs-TF semantics, independently


def _fir(x, taps, up, pad0, pad1):
    # TF upfirdn_2d: zero-insertion upsampling, padding, convolution with the (flipped) kernel per channel.
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    k = k / k.sum() * up ** 2
    b, c, h, w = x.shape
    if up > 1:
        y = torch.zeros(b, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, (pad0, pad1, pad0, pad1))
    return F.conv2d(x, k.flip(0, 1)[None, None].repeat(c, 1, 1, 1), groups=c)


def _tf_modconv(x, y, var, name, demodulate=True, up=False):
    # networks_stylegan2.modulated_conv2d_layer on TF-layout arrays, sample by sample.
    w = torch.from_numpy(var[f"{name}/weight"])  # (k, k, in, out)
    k, _, cin, _ = w.shape
    w = w / math.sqrt(k * k * cin)
    mod_w = torch.from_numpy(var[f"{name}/mod_weight"])
    s = y @ (mod_w / math.sqrt(mod_w.shape[0])) + torch.from_numpy(var[f"{name}/mod_bias"]) + 1
    outs = []
    for i in range(x.shape[0]):
        ww = w * s[i][None, None, :, None]
        if demodulate:
            ww = ww * torch.rsqrt(ww.square().sum(dim=(0, 1, 2)) + 1e-8)
        xi = x[i:i + 1]
        if up:  # upsample_conv_2d: transposed conv with the spatially flipped kernel, then FIR (pads 1, 1)
            xi = F.conv_transpose2d(xi, ww.flip(0, 1).permute(2, 3, 0, 1), stride=2)
            outs.append(_fir(xi, (1, 3, 3, 1), 1, 1, 1) * 4)
        else:
            outs.append(F.conv2d(xi, ww.permute(3, 2, 0, 1), padding=k // 2))
    return torch.cat(outs)


def _lrelu(x):
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


def tf_reference(mapping, syn, z, w_plus, noise, lrmul=0.01):
    """G_mapping(z) and G_synthesis_stylegan2(w+) (skip outputs) computed from the TF-layout arrays."""
    x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
    for i in range(len(mapping) // 2):
        wt = torch.from_numpy(mapping[f"Dense{i}/weight"])
        x = _lrelu(x @ (wt * lrmul / math.sqrt(wt.shape[0])) + torch.from_numpy(mapping[f"Dense{i}/bias"]) * lrmul)

    def layer(h, row, name, up=False):
        h = _tf_modconv(h, w_plus[:, row], syn, name, up=up)
        h = h + noise[row_noise[name]] * float(syn[f"{name}/noise_strength"])
        return _lrelu(h + torch.from_numpy(syn[f"{name}/bias"])[None, :, None, None])

    def torgb(h, row, name):
        t = _tf_modconv(h, w_plus[:, row], syn, name, demodulate=False)
        return t + torch.from_numpy(syn[f"{name}/bias"])[None, :, None, None]

    res = sorted({int(k.split("x")[0]) for k in syn if "x" in k})
    row_noise = {"4x4/Conv": 0}
    for b, r in enumerate(res[1:], start=1):
        row_noise[f"{r}x{r}/Conv0_up"], row_noise[f"{r}x{r}/Conv1"] = 2 * b - 1, 2 * b
    h = torch.from_numpy(syn["4x4/Const/const"]).expand(w_plus.shape[0], -1, -1, -1)
    h = layer(h, 0, "4x4/Conv")
    img = torgb(h, 1, "4x4/ToRGB")
    for b, r in enumerate(res[1:], start=1):
        h = layer(h, 2 * b - 1, f"{r}x{r}/Conv0_up", up=True)
        h = layer(h, 2 * b, f"{r}x{r}/Conv1")
        img = _fir(img, (1, 3, 3, 1), 2, 2, 1) + torgb(h, 2 * b + 1, f"{r}x{r}/ToRGB")
    return x, img


def test_tf_conversion_matches_the_tf_formulas(sources, tmp_path):
    """The converted G computes what networks_stylegan2 computes from the TF arrays (not only a round trip)."""
    mapping, syn, _ = sources["tf"]
    H = load_converted(W.convert(sources["files"]["nvlabs-tf"], tmp_path / "g.pt", SIZE, STYLE, N_MLP,
                                 channels=CHANNELS))
    z, w_plus, noise = fixed_inputs(H, seed=5)
    with torch.no_grad():
        w_ref, img_ref = tf_reference(mapping, syn, z, w_plus, noise)
        assert torch.allclose(H.mapping(z), w_ref, atol=1e-5)
        assert torch.allclose(H(w_plus, noise), img_ref, atol=1e-4), (H(w_plus, noise) - img_ref).abs().max()


# --------------------------------------------------------------------------- (a) malicious pickles


class Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _malicious(marker):
    return {
        "os.system": pickle.dumps(Payload(os.system, f"touch {marker}")),
        "builtins.exec": pickle.dumps(Payload(exec, f"open({str(marker)!r}, 'w')")),
        "subprocess.call": pickle.dumps(Payload(subprocess.call, ["touch", str(marker)])),
        "builtins.eval in a list": pickle.dumps([1, Payload(eval, f"open({str(marker)!r}, 'w')")]),
        "protocol 0 os.system": f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),
        "builtins.getattr": (b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR"
                             + f"(S'touch {marker}'\ntR.".encode()),
    }


@pytest.mark.parametrize("case", list(_malicious("m")))
def test_malicious_pickles_are_refused_before_anything_runs(case, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_malicious(marker)[case])
    with pytest.raises(W.RefusedGlobalError, match="refused global") as info:
        W.read_official(path)
    assert isinstance(info.value, pickle.UnpicklingError) and isinstance(info.value, ValueError)
    with pytest.raises(W.RefusedGlobalError):
        W.convert(path, tmp_path / "out.pt", SIZE, STYLE, N_MLP, channels=CHANNELS)
    assert not marker.exists()
    assert not (tmp_path / "out.pt").exists()


def run_payload(marker):  # what an unknown module's function would do if it were called
    open(marker, "w").write("called")


def test_unknown_globals_are_inert_and_never_imported(tmp_path):
    marker = tmp_path / "marker"
    with fake_modules({"evil_pkg.payload": {"run_payload": run_payload}}):
        blob = pickle.dumps({"G_ema": Payload(run_payload, str(marker))})
    path = tmp_path / "evil.pkl"
    path.write_bytes(blob)
    obj = W.load_restricted(path)
    assert isinstance(obj["G_ema"], W.InertObject) and obj["G_ema"].global_name == "evil_pkg.payload.run_payload"
    assert obj["G_ema"].args == (str(marker),)
    assert "evil_pkg" not in sys.modules and not marker.exists()
    with pytest.raises(W.CorruptWeightsError, match="not a pickled torch module"):
        W.read_official(path)


def test_a_malicious_tensor_storage_is_refused_by_torch_weights_only(tmp_path):
    marker = tmp_path / "marker"
    inner = pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Payload(torch.storage._load_from_bytes, inner)}))
    with pytest.raises(W.CorruptWeightsError, match="truncated or not a readable network pickle"):
        W.read_official(path)
    assert not marker.exists()


# --------------------------------------------------------------------------- (c) named errors


@pytest.mark.parametrize("layout", W.LAYOUTS)
def test_truncated_files_give_a_named_error(sources, layout, tmp_path):
    data = sources["files"][layout].read_bytes()
    path = tmp_path / f"cut-{layout}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(W.CorruptWeightsError, match=str(path)):
        W.convert(path, tmp_path / "out.pt", SIZE, STYLE, N_MLP, channels=CHANNELS)
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("layout", W.LAYOUTS)
def test_a_wrong_size_conversion_names_both_sizes(sources, layout, tmp_path):
    with pytest.raises(W.ArchitectureMismatchError, match="16-px generator .*requested size is 32"):
        W.convert(sources["files"][layout], tmp_path / "out.pt", 32, STYLE, N_MLP, channels=CHANNELS)
    assert not (tmp_path / "out.pt").exists()


def test_other_channels_mapping_depth_and_lr_mlp_are_named(sources, tmp_path):
    src = sources["files"]["nvlabs-tf"]
    with pytest.raises(W.ArchitectureMismatchError, match="of another shape") as info:
        W.convert(src, tmp_path / "o.pt", SIZE, STYLE, N_MLP, channels={4: 16, 8: 16, 16: 4})
    assert ("to_rgbs.1.conv.weight", (1, 3, 8, 1, 1), (1, 3, 4, 1, 1)) in info.value.mismatched
    with pytest.raises(W.ArchitectureMismatchError, match="2 mapping layers"):
        W.convert(src, tmp_path / "o.pt", SIZE, STYLE, 3, channels=CHANNELS)
    with pytest.raises(W.ArchitectureMismatchError, match="lr_mlp=0.01"):
        W.convert(src, tmp_path / "o.pt", SIZE, STYLE, N_MLP, channels=CHANNELS, lr_mlp=1.0)


def test_missing_and_unexpected_keys_are_listed(sources, tmp_path):
    G = sources["G"]
    sd = dict(G.state_dict())
    del sd["conv1.noise.weight"]
    sd["extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pt"
    torch.save({"g_ema": sd}, path)
    with pytest.raises(W.ArchitectureMismatchError, match="1 missing: conv1.noise.weight.*1 unexpected: extra"):
        W.convert(path, tmp_path / "o.pt", SIZE, STYLE, N_MLP, channels=CHANNELS)


def test_tf_pickles_of_another_architecture_are_refused(tmp_path):
    G = random_generator()
    path = tmp_path / "resnet.pkl"
    write_tf_pickle(G, path, torch.zeros(STYLE), tmp_path / "m", static={"architecture": "resnet"})
    with pytest.raises(W.ArchitectureMismatchError, match="architecture='resnet'"):
        W.read_official(path)


def test_not_a_network_pickle(tmp_path):
    path = tmp_path / "numbers.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros(3)}))
    with pytest.raises(W.CorruptWeightsError, match="not a StyleGAN-2 network pickle"):
        W.read_official(path)
    with pytest.raises(FileNotFoundError):
        W.read_official(tmp_path / "absent.pkl")


def test_command_line(sources, tmp_path, capsys):
    out = tmp_path / "g.pt"
    assert W.main(["convert", "--from", str(sources["files"]["nvlabs-tf"]), "--size", "32", "--out", str(out),
                   "--style-dim", str(STYLE), "--n-mlp", str(N_MLP)]) == 2
    assert "16-px generator" in capsys.readouterr().err and not out.exists()
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(_malicious(tmp_path / "marker")["os.system"])
    assert W.main(["convert", "--from", str(evil), "--size", "16", "--out", str(out)]) == 2
    assert "refused global" in capsys.readouterr().err and not (tmp_path / "marker").exists()


def test_saved_file_is_a_plain_state_dict(sources, tmp_path):
    out = W.convert(sources["files"]["nvlabs-ada"], tmp_path / "sub" / "g.pt", SIZE, STYLE, N_MLP,
                    channels=CHANNELS)
    state = torch.load(out, weights_only=True)
    assert set(state) == set(Generator(SIZE, STYLE, N_MLP, CHANNELS).state_dict())
    assert all(t.dtype == torch.float32 for t in state.values())
    assert [p.name for p in out.parent.iterdir()] == ["g.pt"]  # no temporary file left behind
    buf = io.BytesIO(out.read_bytes())
    assert torch.load(buf, weights_only=True).keys() == state.keys()
