"""Stages of NTSCC on images: train once (NTC, NTSCC, ablations, deep JSCC), evaluate each model
once, then every figure and table reads those evaluations (Figs. 8, 11, 13, 17; Tables I-III).

Kodak models come from the profile block ``ntscc.images``; when the profile has ``ntscc.cifar``,
CIFAR-10 models (2-stage g_a) add panel (a) to Fig. 11 and the CIFAR-10 column to Table I."""
from __future__ import annotations

from jscc_core.images import CIFAR_ENTRY, dataset_entry
from jscc_core.training import device_gpus
from pipelines.data import data_dir, fetch_stage
from pipelines.ntscc.checks import check_images
from pipelines.ntscc.keys import (
    CROP_KEYS,
    EVAL_KEYS,
    RATE_MAP_KEYS,
    RUN_KEYS,
    TIMING_KEYS,
    TRAINING_KEYS,
    block_keys,
    eta_train_key,
)
from pipelines.ntscc.paths import CifarPaths, ModelPaths, eval_files, image_root, model_files
from pipelines.paths import DATA_ROOT, sweep_outputs
from pipelines.perceptual import LPIPS_CODE, LPIPS_ENTRY, LPIPS_NET
from pipelines.stage import PYTHON, Stage, figure_outs

MODULE = f"{PYTHON} -m pipelines.ntscc.images"
CORE = "packages/core/src/jscc_core"
MODEL_CODE = ("packages/ntscc/src/ntscc/image", "packages/ntscc/src/ntscc/rate.py",
              f"{CORE}/training.py", f"{CORE}/attention.py",
              f"{CORE}/channels.py", f"{CORE}/capacity.py", f"{CORE}/images.py", f"{CORE}/determinism.py",
              f"{CORE}/digital/mcs.py", "pipelines/ntscc/images.py", "pipelines/ntscc/keys.py")
EVAL_CODE = MODEL_CODE + (f"{CORE}/metrics.py",)
FIGURE_CODE = ("pipelines/figures", "pipelines/ntscc/rd.py", "pipelines/ntscc/rd_pages.py", "pipelines/ntscc/evals.py",
               "pipelines/ntscc/paper.py", "pipelines/ntscc/paper_values.yaml", f"{CORE}/results.py", f"{CORE}/bd.py",
               f"{CORE}/metrics.py")


class _Builder:
    """Collects the stages of one profile block (``images`` or ``cifar``)."""

    def __init__(self, profile, profile_ref: str, block: str):
        self.profile, self.block = profile, block
        self.cfg = profile.get(f"ntscc.{block}")
        self.prof = f"--profile {profile_ref} --data {DATA_ROOT}"
        self.train_data = data_dir(dataset_entry(self.cfg["train_set"]))
        self.test_data = data_dir(dataset_entry(self.cfg["test_set"]))
        self.stages: list[Stage] = []
        self.gpus = device_gpus(profile.get("device"))  # for the stages that run the models
        self.lpips = (data_dir(LPIPS_ENTRY[LPIPS_NET]),)  # every evaluation row has LPIPS-Alex

    def keys(self, keys) -> tuple[str, ...]:
        device = ("device",) if self.profile.get("device") is not None else ()
        return RUN_KEYS + device + block_keys(self.profile, self.block, keys)

    def train(self, kind: str, sched: str, args: str, folder: str, *, distortion: str = "mse",
              start: str | None = None, eta_key: str | None = None, extra_deps: tuple[str, ...] = ()) -> None:
        """Train a model of ``kind`` with schedule ``schedules.<sched>`` into ``folder``, starting
        from the weights ``start`` (an NTC for NTSCC, the MSE model for a fine-tune); an NTSCC
        model draws eta from ``eta_key`` (default: the block's range for ``distortion``)."""
        keys = TRAINING_KEYS[kind] + (f"schedules.{sched}",)
        if kind in ("ntscc", "comparison_i"):
            keys += (eta_key or eta_train_key(distortion),)
        block_arg = "" if self.block == "images" else f" --block {self.block}"
        self.stages.append(Stage(
            name=f"ntscc_{self.block}_train_{folder.rsplit('/', 1)[1]}",
            cmd=f"{MODULE} {args}{block_arg} {self.prof} --out {folder}",
            deps=MODEL_CODE + (self.train_data,) + ((start,) if start else ()) + extra_deps, outs=model_files(folder),
            params=self.keys(keys), pipeline="ntscc", runtime_min=self.cfg["schedules"][sched]["runtime_min"],
            gpus=self.gpus))

    def evaluate(self, folder: str, extra_keys: tuple[str, ...] = ()) -> None:
        self.stages.append(Stage(
            name=f"ntscc_{self.block}_evaluate_{folder.rsplit('/', 1)[1]}",
            cmd=f"{MODULE} evaluate {self.prof} --model {folder}",
            deps=EVAL_CODE + LPIPS_CODE + (self.test_data,) + self.lpips + model_files(folder), outs=eval_files(folder),
            params=self.keys(EVAL_KEYS + extra_keys), pipeline="ntscc", mem_mb=4000, runtime_min=30, gpus=self.gpus))


def fig12_per_snr_stages(b: _Builder, m: ModelPaths) -> None:
    """Fig. 12(a) as the paper trains it (``fig12_per_snr``): NTSCC at its lmbda and deep JSCC at its
    c_out, fine-tuned from the train_snr_db models at each SNR and evaluated at that SNR only."""
    per = b.cfg.get("fig12_per_snr")
    for snr, (folder, base) in m.ntscc_per_snr.items():
        init = model_files(base)[0]
        b.train("ntscc", "fine_tune", f"train-ntscc --lmbda {per['lmbda']!r} --init {init} --fig12-snr {snr!r}",
                folder, start=init, eta_key="fig12_per_snr.eta_train")
        b.evaluate(folder, ("fig12_per_snr.eta_test",))
    for snr, (folder, base) in m.deepjscc_per_snr.items():
        init = model_files(base)[0]
        b.train("deepjscc", "fine_tune", f"train-deepjscc --c-out {per['c_out']} --init {init} --fig12-snr {snr!r}",
                folder, start=init)
        b.evaluate(folder)


def cifar_stages(profile, profile_ref: str) -> tuple[list[Stage], CifarPaths]:
    """Training and evaluation of the CIFAR-10 models (Fig. 11(a), Table I)."""
    b = _Builder(profile, profile_ref, "cifar")
    m = CifarPaths(profile)
    b.stages.append(fetch_stage(CIFAR_ENTRY))
    for lam in b.cfg["lambdas"]:
        b.train("ntc", "ntc", f"train-ntc --lmbda {lam!r}", m.ntc[lam])
        ntc = model_files(m.ntc[lam])[0]
        b.train("ntscc", "ntscc", f"train-ntscc --lmbda {lam!r} --ntc {ntc}", m.ntscc[lam], start=ntc)
    for c, folder in m.deepjscc.items():
        b.train("deepjscc", "deepjscc", f"train-deepjscc --c-out {c}", folder)
    for folder in m.evaluated():
        b.evaluate(folder)
    return b.stages, m


def stages(profile, profile_ref: str) -> list[Stage]:
    """Every NTSCC image stage of ``profile`` (``profile_ref``: the name or path passed to commands)."""
    check_images(profile)
    b = _Builder(profile, profile_ref, "images")
    cfg = b.cfg
    m = ModelPaths(profile)
    b.stages += [fetch_stage(dataset_entry(cfg["train_set"])), fetch_stage(dataset_entry(cfg["test_set"])),
                 fetch_stage(LPIPS_ENTRY[LPIPS_NET])]

    for lam in cfg["lambdas"]:
        b.train("ntc", "ntc", f"train-ntc --lmbda {lam!r}", m.ntc[lam])
        ntc = model_files(m.ntc[lam])[0]
        b.train("ntscc", "ntscc", f"train-ntscc --lmbda {lam!r} --ntc {ntc}", m.ntscc[lam], start=ntc)
    lam = cfg["ablation"]["lmbda"]
    ntc = model_files(m.ntc[lam])[0]
    b.train("comparison_i", "ntscc", f"train-ntscc --variant comparison_i --lmbda {lam!r} --ntc {ntc}",
            m.comparison_i, start=ntc)
    for cbr, folder in m.comparison_ii.items():
        b.train("comparison_ii", "comparison_ii", f"train-comparison-ii --cbr {cbr!r} --ntc {ntc}", folder, start=ntc)
    for c, folder in m.deepjscc.items():
        b.train("deepjscc", "deepjscc", f"train-deepjscc --c-out {c}", folder)
    for lam_ms, (folder, mse) in m.ntscc_ms_ssim.items():  # Fig. 13, Table II: fine-tuned from the MSE models
        init = model_files(mse)[0]
        b.train("ntscc", "fine_tune", f"train-ntscc --distortion ms_ssim --lmbda {lam_ms!r} --init {init}", folder,
                distortion="ms_ssim", start=init)
    for c, (folder, mse) in m.deepjscc_ms_ssim.items():
        init = model_files(mse)[0]
        b.train("deepjscc", "fine_tune", f"train-deepjscc --distortion ms_ssim --c-out {c} --init {init}", folder,
                distortion="ms_ssim", start=init)
    for lam, (folder, mse) in m.ntscc_perceptual.items():  # Figs. 14-16: eq. (29), fine-tuned from the MSE models
        init = model_files(mse)[0]
        b.train("perceptual", "perceptual", f"train-perceptual --lmbda {lam!r} --init {init}", folder, start=init,
                extra_deps=LPIPS_CODE + b.lpips)
    for folder in m.evaluated():
        b.evaluate(folder)
    fig12_per_snr_stages(b, m)

    root = image_root(profile)
    maps = (f"{root}/fig08/maps.npz", f"{root}/fig08/maps.json")
    ntscc_models = tuple(f for folder in m.ntscc.values() for f in model_files(folder))
    b.stages.append(Stage(
        name="ntscc_images_rate_maps", cmd=f"{MODULE} rate-maps {b.prof} --models {' '.join(m.ntscc.values())} "
                                           f"--out {root}/fig08",
        deps=EVAL_CODE + (b.test_data,) + ntscc_models, outs=maps, params=b.keys(RATE_MAP_KEYS), pipeline="ntscc",
        runtime_min=10, gpus=b.gpus))
    sweep_csv, sweep_json = sweep_outputs(profile, "kodak_cbr")
    c16 = min(m.deepjscc, key=lambda c: abs(c / 48 - 1 / 16))
    timing = f"{root}/table3/timing.json"
    b.stages.append(Stage(
        name="ntscc_images_time_models",
        cmd=f"{MODULE} time-models {b.prof} --ntscc {m.ntscc[lam]} --deepjscc {m.deepjscc[c16]} "
            f"--sweep-csv {sweep_csv} --out {root}/table3",
        deps=EVAL_CODE + (b.test_data, sweep_csv) + model_files(m.ntscc[lam]) + model_files(m.deepjscc[c16]),
        outs=(timing,), params=b.keys(TIMING_KEYS) + ("separation.codec",), pipeline="ntscc",
        alone=True, runtime_min=20, gpus=b.gpus))  # timed with no other job beside it
    bench = profile.get("ntscc.benchmark")
    if bench is not None:  # CPU seconds per Kodak image: paper-size models and this profile's
        b.stages.append(Stage(
            name="ntscc_benchmark",
            cmd=f"{PYTHON} -m pipelines.ntscc.benchmark run {b.prof} --ntscc {m.ntscc[lam]} "
                f"--deepjscc {m.deepjscc[c16]} --out reports/benchmarks/ntscc.json",
            deps=EVAL_CODE + ("pipelines/ntscc/benchmark.py", "pipelines/ntscc/paper_values.yaml", b.test_data)
            + model_files(m.ntscc[lam]) + model_files(m.deepjscc[c16]),
            outs=("reports/benchmarks/ntscc.json",), params=("seed", "ntscc.benchmark") + b.keys(TIMING_KEYS),
            pipeline="ntscc", threads=int(bench["threads"]), alone=True, runtime_min=int(bench["runtime_min"])))

    snr = cfg["fig11_snr_db"]
    panel, panel_deps = "", ()
    if profile.get("ntscc.cifar") is not None:
        more, cm = cifar_stages(profile, profile_ref)
        b.stages += more
        c_csv, c_json = sweep_outputs(profile, profile.get("ntscc.cifar")["sweep"])
        c_evals = [eval_files(f) for f in cm.evaluated()]
        panel = f" --panel {c_csv} {' '.join(c for c, _ in c_evals)}"
        panel_deps = (c_csv, c_json) + tuple(x for pair in c_evals for x in pair)

    def render(what: str, evals: list[str], extra: str, deps: tuple[str, ...]) -> None:
        ev = [eval_files(f) for f in evals]
        ev_args = f" --eval {' '.join(c for c, _ in ev)}" if ev else ""
        b.stages.append(Stage(
            name=f"ntscc_images_{what}",
            cmd=f"{PYTHON} -m pipelines.ntscc.{what} --profile {profile_ref}{ev_args} {extra} "
                f"--out reports/ntscc/{what}.pdf",
            deps=(f"pipelines/ntscc/{what}.py",) + FIGURE_CODE + tuple(x for pair in ev for x in pair) + deps,
            outs=figure_outs("ntscc", what), params=("seed",), pipeline="ntscc", runtime_min=5))

    sweep = f"--sweep-csv {sweep_csv} --snr {snr!r}"
    learned = [*m.ntscc.values(), *m.deepjscc.values()]
    render("fig11", learned, sweep + panel, (sweep_csv, sweep_json) + panel_deps)
    render("table1", learned, f"--sweep-csv {sweep_csv}" + panel, (sweep_csv, sweep_json) + panel_deps)
    snr_csv, snr_json = sweep_outputs(profile, profile.get("ntscc.fig12")["sweep"])  # Fig. 13(c): R = 1/16 over SNR
    render("fig13", m.ms_ssim_models(), f"{sweep} --snr-sweep-csv {snr_csv}",
           (sweep_csv, sweep_json, snr_csv, snr_json))
    render("table2", m.ms_ssim_models(), f"--sweep-csv {sweep_csv}", (sweep_csv, sweep_json))
    ablation = m.ntscc[cfg["ablation"]["lmbda"]]  # Fig. 17 compares the NTSCC of the ablations' lambda
    render("fig17", [ablation, m.comparison_i, *m.comparison_ii.values()], sweep, (sweep_csv, sweep_json))
    if m.ntscc_perceptual:  # Fig. 14: LPIPS of every training target against HEVC-intra + LDPC
        every = [*learned, *m.ms_ssim_models(), *(f for f, _ in m.ntscc_perceptual.values())]
        render("fig14", every, sweep, (sweep_csv, sweep_json))
        # Figs. 15-16: the Kodak crops, each scheme at its operating point nearest perceptual.crop_cbr
        crops = (f"{root}/fig15/crops.npz", f"{root}/fig15/crops.json")
        evals = tuple(x for f in every for x in eval_files(f))
        b.stages.append(Stage(
            name="ntscc_images_crops",
            cmd=f"{MODULE} crops {b.prof} --eval {' '.join(eval_files(f)[0] for f in every)} "
                f"--sweep-csv {sweep_csv} --out {root}/fig15",
            deps=EVAL_CODE + LPIPS_CODE + (b.test_data,) + b.lpips + evals + (sweep_csv, sweep_json)
            + tuple(x for f in every for x in model_files(f)),
            outs=crops, params=b.keys(CROP_KEYS) + ("separation.codec", "separation.fallback",
                                                    "separation.sweeps.kodak_cbr"),
            pipeline="ntscc", runtime_min=20, gpus=b.gpus))
        for what in ("fig15", "fig16"):
            render(what, [], f"--crops {crops[0]}", crops + ("pipelines/ntscc/crops.py",))
    render("fig08", [], f"--maps {maps[0]}", maps)
    render("table3", [], f"--timing {timing}", (timing,))
    return b.stages
