"""Speed of the image models on the CPU: encode + decode seconds per Kodak image.

    python -m pipelines.ntscc.benchmark --profile mini --data data [--ntscc DIR --deepjscc DIR] \\
        --out reports/benchmarks/ntscc.json

Times, in inference mode on the CPU with ``ntscc.benchmark.threads`` threads, each test image
sent once over complex AWGN at fig11_snr_db (NTSCC at eta_fig12, with z̄'s real bitstream):

* the paper-size NTSCC (NTCConfig.paper_kodak, JSCCConfig.paper: shifted 16 x 16 windows in
  f_e / f_d*) and deep JSCC (256 filters, GDN, R = 1/16) with random weights, beside Table III's
  parameter counts; and the paper-size NTSCC with global attention in f_e / f_d* (the codec
  before windows), on ``ntscc.benchmark.global_attention_images`` images;
* the profile's trained NTSCC (Table III's lambda) and deep JSCC (R = 1/16) when their folders are
  given, else the profile's architectures with random weights (labelled so).

Each model runs once untimed first. Per model: parameters, median / mean / min wall seconds per
image, the median CPU seconds of the process (all threads; with one thread it is the compute time
whatever else shares the machine) and, for NTSCC, the median wall seconds spent in g_a, h_a, h_s,
f_e, f_d*, g_s (forward hooks; the rest is entropy coding, rate allocation, the channel and the
metrics).
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from jscc_core.channels import ComplexAWGN
from jscc_core.determinism import library_versions
from jscc_core.images import to_tensor
from jscc_core.profiles import ProfileError
from jscc_core.registry import RegistryError
from jscc_core.training import CheckpointError
from ntscc.image.deepjscc import DeepJSCC
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig
from pipelines.cli import run_stage, stage_cli
from pipelines.ntscc.images import data_checksums, images_cfg, load_model, ntscc_config, test_images
from pipelines.ntscc.paper import printed_values
from pipelines.profile import load

PARTS = ("g_a", "h_a", "h_s", "f_e", "f_d", "g_s")


def paper_ntscc(window: int | None = 16) -> ImageNTSCC:
    """The paper-size NTSCC with random weights (``window=None``: global attention in f_e / f_d*)."""
    model = ImageNTSCC(ImageNTSCCConfig(NTCConfig.paper_kodak(), JSCCConfig.paper(window=window))).eval()
    model.update(force=True)
    return model


def _parts(model: ImageNTSCC) -> dict[str, torch.nn.Module]:
    ntc, jscc = model.ntc, model.jscc
    return {"g_a": ntc.g_a, "h_a": ntc.h_a, "h_s": ntc.h_s, "f_e": jscc.f_e, "f_d": jscc.f_d, "g_s": ntc.g_s}


class PartTimer:
    """Wall seconds spent in each named module during one call (forward pre- and post-hooks)."""

    def __init__(self, parts: dict[str, torch.nn.Module]):
        self.seconds: dict[str, float] = defaultdict(float)
        self._start: dict[str, float] = {}
        self._handles = []
        for name, module in parts.items():
            self._handles.append(module.register_forward_pre_hook(self._enter(name)))
            self._handles.append(module.register_forward_hook(self._leave(name)))

    def _enter(self, name):
        def hook(*_):
            self._start[name] = time.perf_counter()
        return hook

    def _leave(self, name):
        def hook(*_):
            self.seconds[name] += time.perf_counter() - self._start.pop(name)
        return hook

    def take(self) -> dict[str, float]:
        out, self.seconds = dict(self.seconds), defaultdict(float)
        return out

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


@torch.inference_mode()
def time_model(model, images: list[torch.Tensor], snr_db: float, eta: float | None) -> dict:
    """Seconds per image of one encode + decode (``model.transmit`` for NTSCC, the forward pass of
    deep JSCC), after one untimed run; NTSCC also gets the median seconds per part."""
    model.eval()
    ntscc = isinstance(model, ImageNTSCC)
    timer = PartTimer(_parts(model)) if ntscc else None
    channel = ComplexAWGN(snr_db)

    def run(x: torch.Tensor, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        if ntscc:
            model.transmit(x, snr_db, eta, generator=g)
        else:
            model(x, lambda s: channel(s, generator=g))

    run(images[0], 0)
    if timer:
        timer.take()
    times, cpu, parts = [], [], defaultdict(list)
    for i, x in enumerate(images):
        t0, c0 = time.perf_counter(), time.process_time()
        run(x, i + 1)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if timer:
            for name, s in timer.take().items():
                parts[name].append(s)
    if timer:
        timer.close()
    out = {"parameters": sum(p.numel() for p in model.parameters()), "images": len(times),
           "median_seconds": round(float(np.median(times)), 4), "mean_seconds": round(float(np.mean(times)), 4),
           "min_seconds": round(float(np.min(times)), 4),
           "median_cpu_seconds": round(float(np.median(cpu)), 4)}
    if parts:
        out["median_seconds_by_part"] = {name: round(float(np.median(parts[name])), 4) for name in PARTS}
    return out


def cmd_benchmark(args) -> None:
    profile = load(args.profile)
    cfg = images_cfg(profile)
    bench = profile.get("ntscc.benchmark")
    torch.set_num_threads(int(bench["threads"]))
    torch.manual_seed(int(profile["seed"]))
    images = [to_tensor(im) for im in test_images(profile, Path(args.data)).values()]
    snr, eta = cfg["fig11_snr_db"], cfg["eta_fig12"]
    printed = printed_values()
    load_before = os.getloadavg()
    started = time.perf_counter()
    models: dict[str, dict] = {}
    models["NTSCC, paper size"] = {**time_model(paper_ntscc(16), images, snr, eta), "weights": "random",
                                   "attention": "shifted 16 x 16 windows"}
    n_global = min(len(images), int(bench["global_attention_images"]))
    models["NTSCC, paper size, global attention"] = {
        **time_model(paper_ntscc(None), images[:n_global], snr, eta), "weights": "random",
        "attention": "global over all patches, no position bias"}
    models["Deep JSCC, paper size"] = {**time_model(DeepJSCC(3).eval(), images, snr, None), "weights": "random",
                                       "bandwidth_ratio": 1 / 16}
    for label, table in (("NTSCC, paper size", "NTSCC"), ("Deep JSCC, paper size", "Deep JSCC")):
        models[label]["table3_parameters"] = printed.value("table3", table, "parameters")
        models[label]["table3_seconds_kodak"] = printed.value("table3", table, "seconds_per_image", "kodak")
    if args.ntscc:
        model, meta = load_model(profile, Path(args.ntscc))
        models[f"NTSCC, {profile.name}"] = {**time_model(model, images, snr, eta), "weights": meta["name"]}
    else:
        model = ImageNTSCC(ntscc_config(cfg)).eval()
        model.update(force=True)
        models[f"NTSCC, {profile.name}"] = {**time_model(model, images, snr, eta), "weights": "random"}
    if args.deepjscc:
        model, meta = load_model(profile, Path(args.deepjscc))
        models[f"Deep JSCC, {profile.name}"] = {**time_model(model, images, snr, None), "weights": meta["name"]}
    else:
        c16 = min(cfg["deepjscc"]["c_out"], key=lambda c: abs(c / 48 - 1 / 16))
        model = DeepJSCC(c16, filters=cfg["deepjscc"]["filters"], gdn=cfg["deepjscc"].get("gdn", True)).eval()
        models[f"Deep JSCC, {profile.name}"] = {**time_model(model, images, snr, None), "weights": "random"}
    windowed, full = models["NTSCC, paper size"], models["NTSCC, paper size, global attention"]
    out = {
        "models": models,
        "windowed_attention_speedup": round(full["median_seconds"] / windowed["median_seconds"], 3),
        "windowed_attention_cpu_speedup": round(full["median_cpu_seconds"] / windowed["median_cpu_seconds"], 3),
        "what": "encode + decode seconds per test image (one transmit at fig11_snr_db, eta_fig12), inference mode",
        "device": f"CPU ({os.cpu_count()} cores)", "threads": torch.get_num_threads(),
        "load_average_before": [round(v, 2) for v in load_before], "load_average_after":
            [round(v, 2) for v in os.getloadavg()],
        "snr_db": snr, "eta": eta, "profile": profile.name, "wall_time_s": round(time.perf_counter() - started, 1),
        "versions": library_versions(), "data_checksums": data_checksums(profile, sets=("test_set",)),
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    print(json.dumps({k: {"parameters": v["parameters"], "median_seconds": v["median_seconds"]}
                      for k, v in models.items()}, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.ntscc.benchmark", __doc__)
    p = add("run", cmd_benchmark, data=True)
    p.add_argument("--ntscc", help="trained NTSCC folder (default: the profile's architecture, random weights)")
    p.add_argument("--deepjscc", help="trained deep JSCC folder (default: random weights)")
    run_stage(parser, argv, (ProfileError, CheckpointError, RegistryError, FileNotFoundError, ValueError))


if __name__ == "__main__":
    main()

