"""Stages of NTSCC on images: train once (NTC, NTSCC, ablations, deep JSCC), evaluate each model
once, then every figure and table reads those evaluations (Figs. 8, 11, 12, 13, 17; Tables I-III).

Kodak models come from the profile block ``ntscc.images``; when the profile has ``ntscc.cifar``,
CIFAR-10 models (2-stage g_a) add panel (a) to Fig. 11 and the CIFAR-10 column to Table I."""
from __future__ import annotations

from jscc_core.profiles import ProfileError
from pipelines.data import DATA_ROOT, data_files, fetch_stage
from pipelines.profile import profile_dep, results_dir
from pipelines.stages import PYTHON, Stage

MODULE = f"{PYTHON} -m pipelines.ntscc.images"
FIGURES = f"{PYTHON} -m pipelines.ntscc.image_figures"
CORE = "packages/core/src/jscc_core"
MODEL_CODE = ("packages/ntscc/src/ntscc/image", "packages/ntscc/src/ntscc/rate.py", "packages/ntscc/src/ntscc/training.py",
              f"{CORE}/channels.py", f"{CORE}/capacity.py", f"{CORE}/images.py", f"{CORE}/determinism.py",
              f"{CORE}/digital/mcs.py", "pipelines/ntscc/images.py")
SIDECARS = ("pdf", "csv", "json")


def image_root(profile, block: str = "images") -> str:
    return f"{results_dir(profile)}/ntscc/{block}"


def tag(variant: str, distortion: str = "mse", *, lmbda=None, c_out=None, cbr=None) -> str:
    from pipelines.ntscc.images import model_tag

    return model_tag(variant, distortion, lmbda=lmbda, c_out=c_out, cbr=cbr)


def check_images(profile) -> None:
    cfg = profile.get("ntscc.images")
    where = f"profile {profile.name!r}: ntscc.images"
    if cfg["ablation"]["lmbda"] not in cfg["lambdas"]:
        raise ProfileError(f"{where}.ablation.lmbda = {cfg['ablation']['lmbda']} is not one of ntscc.images.lambdas "
                           f"{list(cfg['lambdas'])}")
    values = list(cfg["jscc"]["rate_values"])
    if values != sorted(set(values)) or any(v % 2 for v in values):
        raise ProfileError(f"{where}.jscc.rate_values must be even and strictly increasing, got {values}")
    if len(cfg["ms_ssim"]["lambdas"]) != len(cfg["lambdas"]):
        raise ProfileError(f"{where}.ms_ssim.lambdas needs one value per MSE lambda (each MS-SSIM model is "
                           f"fine-tuned from the MSE model at the same position), got {list(cfg['ms_ssim']['lambdas'])} "
                           f"for {list(cfg['lambdas'])}")
    if len(cfg["ntc"]["embed_dims"]) != len(cfg["ntc"]["depths"]):
        raise ProfileError(f"{where}.ntc: embed_dims and depths must have one entry per stage")
    sweeps = profile.get("separation")["sweeps"]
    if "kodak_cbr" not in sweeps:
        raise ProfileError(f"{where}: Figs. 11 and 17 read the separation sweep 'kodak_cbr', missing from "
                           f"separation.sweeps ({', '.join(sweeps)})")
    cifar = profile.to_dict()["ntscc"].get("cifar")
    if cifar is not None:
        sweep = sweeps.get(cifar["sweep"])
        if sweep is None:
            raise ProfileError(f"profile {profile.name!r}: ntscc.cifar.sweep = {cifar['sweep']!r} is not a separation "
                               f"sweep ({', '.join(sweeps)})")
        if sweep["dataset"] != cifar["test_set"] or sweep.get("limit") != cifar.get("test_limit"):
            raise ProfileError(f"profile {profile.name!r}: separation.sweeps.{cifar['sweep']} must code the images "
                               f"ntscc.cifar tests ({cifar['test_set']}, limit {cifar.get('test_limit')}), got "
                               f"{sweep['dataset']}, limit {sweep.get('limit')}")


class ModelPaths:
    """Folders of the trained models of a profile, by role."""

    def __init__(self, profile):
        cfg = profile.get("ntscc.images")
        root = image_root(profile)
        self.ntc = {lam: f"{root}/{tag('ntc', lmbda=lam)}" for lam in cfg["lambdas"]}
        self.ntscc = {lam: f"{root}/{tag('ntscc', lmbda=lam)}" for lam in cfg["lambdas"]}
        lam = cfg["ablation"]["lmbda"]
        self.comparison_i = f"{root}/{tag('comparison_i', lmbda=lam)}"
        self.comparison_ii = {c: f"{root}/{tag('comparison_ii', cbr=c)}" for c in cfg["ablation"]["comparison_ii_cbr"]}
        self.deepjscc = {c: f"{root}/{tag('deepjscc', c_out=c)}" for c in cfg["deepjscc"]["c_out"]}
        # MS-SSIM models: lambda -> (folder, the MSE model it is fine-tuned from)
        self.ntscc_ms_ssim = {lam: (f"{root}/{tag('ntscc', 'ms_ssim', lmbda=lam)}", self.ntscc[mse])
                              for lam, mse in zip(cfg["ms_ssim"]["lambdas"], cfg["lambdas"])}
        self.deepjscc_ms_ssim = {c: (f"{root}/{tag('deepjscc', 'ms_ssim', c_out=c)}", self.deepjscc[c])
                                 for c in cfg["deepjscc"]["c_out"]}

    def evaluated(self) -> list[str]:
        return [*self.ntscc.values(), self.comparison_i, *self.comparison_ii.values(), *self.deepjscc.values(),
                *self.ms_ssim_models()]

    def ms_ssim_models(self) -> list[str]:
        return [f for f, _ in (*self.ntscc_ms_ssim.values(), *self.deepjscc_ms_ssim.values())]


class CifarPaths:
    """Folders of the CIFAR-10 models (block ntscc.cifar): NTC and NTSCC per λ, deep JSCC per c_out."""

    def __init__(self, profile):
        cfg = profile.get("ntscc.cifar")
        root = image_root(profile, "cifar")
        self.ntc = {lam: f"{root}/{tag('ntc', lmbda=lam)}" for lam in cfg["lambdas"]}
        self.ntscc = {lam: f"{root}/{tag('ntscc', lmbda=lam)}" for lam in cfg["lambdas"]}
        self.deepjscc = {c: f"{root}/{tag('deepjscc', c_out=c)}" for c in cfg["deepjscc"]["c_out"]}

    def evaluated(self) -> list[str]:
        return [*self.ntscc.values(), *self.deepjscc.values()]


def eval_files(folder: str) -> tuple[str, str]:
    return f"{folder}/eval.csv", f"{folder}/eval.json"


def _train_stage(block: str, name: str, args: str, out: str, runtime_min: int, deps: tuple[str, ...]) -> Stage:
    return Stage(name=f"ntscc_{block}_train_{name}", cmd=f"{MODULE} {args} --out {out}", deps=deps,
                 outs=(f"{out}/model.pt", f"{out}/run.json"), runtime_min=runtime_min)


def _evaluate_stage(folder: str, prof: str, deps: tuple[str, ...]) -> Stage:
    """Evaluation of the model in ``folder`` (results/<profile>/ntscc/<block>/<model>)."""
    block, name = folder.rsplit("/", 2)[1:]
    return Stage(name=f"ntscc_{block}_evaluate_{name}", cmd=f"{MODULE} evaluate {prof} --model {folder}",
                 deps=deps + (f"{folder}/model.pt", f"{folder}/run.json"), outs=eval_files(folder), mem_mb=4000,
                 runtime_min=30)


def cifar_stages(profile, profile_ref: str) -> tuple[list[Stage], CifarPaths]:
    """Training and evaluation of the CIFAR-10 models (Fig. 11(a), Table I)."""
    cfg = profile.get("ntscc.cifar")
    sched = cfg["schedules"]
    pdep = profile_dep(profile_ref)
    prof = f"--profile {profile_ref} --data {DATA_ROOT}"
    from jscc_core.images import CIFAR_ENTRY

    data = data_files(CIFAR_ENTRY)
    m = CifarPaths(profile)
    stages = [fetch_stage(CIFAR_ENTRY)]
    deps = (pdep,) + MODEL_CODE + data
    for lam in cfg["lambdas"]:
        ntc = f"{m.ntc[lam]}/model.pt"
        stages.append(_train_stage("cifar", tag('ntc', lmbda=lam), f"train-ntc --block cifar --lmbda {lam!r} {prof}",
                                   m.ntc[lam], sched["ntc"]["runtime_min"], deps))
        stages.append(_train_stage("cifar", tag('ntscc', lmbda=lam),
                                   f"train-ntscc --block cifar --lmbda {lam!r} --ntc {ntc} {prof}", m.ntscc[lam],
                                   sched["ntscc"]["runtime_min"], deps + (ntc,)))
    for c, out in m.deepjscc.items():
        stages.append(_train_stage("cifar", tag('deepjscc', c_out=c), f"train-deepjscc --block cifar --c-out {c} {prof}",
                                   out, sched["deepjscc"]["runtime_min"], deps))
    stages += [_evaluate_stage(f, prof, deps + (f"{CORE}/metrics.py",)) for f in m.evaluated()]
    return stages, m


def image_stages(profile, profile_ref: str) -> list[Stage]:
    from pipelines.separation.stages import sweep_outputs

    check_images(profile)
    cfg = profile.get("ntscc.images")
    sched = cfg["schedules"]
    pdep = profile_dep(profile_ref)
    prof = f"--profile {profile_ref} --data {DATA_ROOT}"
    train_data = data_files(cfg["train_set"])
    test_data = data_files(cfg["test_set"])
    m = ModelPaths(profile)
    stages = [fetch_stage(cfg["train_set"]), fetch_stage(cfg["test_set"])]

    def train(name: str, args: str, out: str, kind: str, extra: tuple[str, ...] = ()) -> None:
        stages.append(_train_stage("images", name, f"{args} {prof}", out, sched[kind]["runtime_min"],
                                   (pdep,) + MODEL_CODE + train_data + extra))

    for lam in cfg["lambdas"]:
        train(tag("ntc", lmbda=lam), f"train-ntc --lmbda {lam!r}", m.ntc[lam], "ntc")
        ntc = f"{m.ntc[lam]}/model.pt"
        train(tag("ntscc", lmbda=lam), f"train-ntscc --lmbda {lam!r} --ntc {ntc}", m.ntscc[lam], "ntscc", (ntc,))
    lam = cfg["ablation"]["lmbda"]
    ntc = f"{m.ntc[lam]}/model.pt"
    train(tag("comparison_i", lmbda=lam), f"train-ntscc --variant comparison_i --lmbda {lam!r} --ntc {ntc}",
          m.comparison_i, "ntscc", (ntc,))
    for cbr, out in m.comparison_ii.items():
        train(tag("comparison_ii", cbr=cbr), f"train-comparison-ii --cbr {cbr!r} --ntc {ntc}", out, "comparison_ii",
              (ntc,))
    for c, out in m.deepjscc.items():
        train(tag("deepjscc", c_out=c), f"train-deepjscc --c-out {c}", out, "deepjscc")
    for lam_ms, (out, mse) in m.ntscc_ms_ssim.items():  # Fig. 13, Table II: fine-tuned from the MSE models
        train(tag("ntscc", "ms_ssim", lmbda=lam_ms),
              f"train-ntscc --distortion ms_ssim --lmbda {lam_ms!r} --init {mse}/model.pt",
              out, "fine_tune", (f"{mse}/model.pt",))
    for c, (out, mse) in m.deepjscc_ms_ssim.items():
        train(tag("deepjscc", "ms_ssim", c_out=c), f"train-deepjscc --distortion ms_ssim --c-out {c} --init {mse}/model.pt",
              out, "fine_tune", (f"{mse}/model.pt",))

    for folder in m.evaluated():
        stages.append(_evaluate_stage(folder, prof, (pdep,) + MODEL_CODE + (f"{CORE}/metrics.py",) + test_data))

    root = image_root(profile)
    maps = (f"{root}/fig08/maps.npz", f"{root}/fig08/maps.json")
    ntscc_models = tuple(f"{f}/{x}" for f in m.ntscc.values() for x in ("model.pt", "run.json"))
    stages.append(Stage(name="ntscc_images_rate_maps",
                        cmd=f"{MODULE} rate-maps {prof} --models {' '.join(m.ntscc.values())} --out {root}/fig08",
                        deps=(pdep,) + MODEL_CODE + test_data + ntscc_models, outs=maps, runtime_min=10))
    sweep_csv, sweep_json = sweep_outputs(profile, "kodak_cbr")
    c16 = min(m.deepjscc, key=lambda c: abs(c / 48 - 1 / 16))
    timing = f"{root}/table3/timing.json"
    stages.append(Stage(name="ntscc_images_time_models",
                        cmd=f"{MODULE} time-models {prof} --ntscc {m.ntscc[lam]} --deepjscc {m.deepjscc[c16]} "
                            f"--sweep-csv {sweep_csv} --out {root}/table3",
                        deps=(pdep,) + MODEL_CODE + test_data + (sweep_csv,)
                        + tuple(f"{f}/{x}" for f in (m.ntscc[lam], m.deepjscc[c16]) for x in ("model.pt", "run.json")),
                        # timed alone: Snakemake caps threads at --cores, so no other job runs beside it
                        outs=(timing,), threads=1024, runtime_min=20))

    snr = cfg["fig11_snr_db"]
    fig_code = (pdep, "pipelines/ntscc/image_figures.py", f"{CORE}/results.py", f"{CORE}/bd.py")

    panel, panel_deps = "", ()
    if "cifar" in profile.to_dict()["ntscc"]:
        more, cm = cifar_stages(profile, profile_ref)
        stages += more
        c_csv, c_json = sweep_outputs(profile, profile.get("ntscc.cifar")["sweep"])
        c_evals = [eval_files(f) for f in cm.evaluated()]
        panel = f" --panel {c_csv} {' '.join(c for c, _ in c_evals)}"
        panel_deps = (c_csv, c_json) + tuple(x for pair in c_evals for x in pair)

    def render(what: str, evals: list[str], extra: str, deps: tuple[str, ...]) -> None:
        ev = [eval_files(f) for f in evals]
        ev_args = f" --eval {' '.join(c for c, _ in ev)}" if ev else ""
        stages.append(Stage(name=f"ntscc_images_{what}",
                            cmd=f"{FIGURES} {what} --profile {profile_ref}{ev_args} {extra} --out reports/ntscc/{what}.pdf",
                            deps=fig_code + tuple(x for pair in ev for x in pair) + deps,
                            outs=tuple(f"reports/ntscc/{what}.{e}" for e in SIDECARS), runtime_min=5))

    sweep = f"--sweep-csv {sweep_csv} --snr {snr!r}"
    learned = [*m.ntscc.values(), *m.deepjscc.values()]
    render("fig11", learned, sweep + panel, (sweep_csv, sweep_json) + panel_deps)
    render("table1", learned, f"--sweep-csv {sweep_csv}" + panel, (sweep_csv, sweep_json) + panel_deps)
    snr_csv, snr_json = sweep_outputs(profile, profile.get("ntscc.fig12")["sweep"])  # Fig. 13(c): R = 1/16 over SNR
    render("fig13", m.ms_ssim_models(), f"{sweep} --snr-sweep-csv {snr_csv}", (sweep_csv, sweep_json, snr_csv, snr_json))
    render("table2", m.ms_ssim_models(), f"--sweep-csv {sweep_csv}", (sweep_csv, sweep_json))
    render("fig17", [m.ntscc[lam], m.comparison_i, *m.comparison_ii.values()], sweep, (sweep_csv, sweep_json))
    render("fig08", [], f"--maps {maps[0]}", maps)
    render("table3", [], f"--timing {timing}", (timing,))
    return stages


def fig12_learned_evals(profile) -> list[str]:
    """Evaluation CSVs Fig. 12 adds to the separation curves: every NTSCC model and deep JSCC."""
    m = ModelPaths(profile)
    return [eval_files(f)[0] for f in (*m.ntscc.values(), *m.deepjscc.values())]
