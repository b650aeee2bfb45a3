"""The dgm stages (Dai et al. 2024): Fig. 5's (:mod:`pipelines.dgm.fig05_stages`) and Fig. 6's: the data
sets, the resilient codec per rate-distortion weight, its zero-loss RD curve and loss-trace evaluation,
HEVC-intra + FEC on the same trace at the same transmitted bits, the figure and the coding-time benchmark.

Light on purpose (no model code): the Snakefile and dvc.yaml are built from this list."""
from __future__ import annotations

from pipelines.data import data_dir, fetch_stage
from pipelines.dgm import fig05_stages, paths
from pipelines.dgm.keys import (
    BASELINE_KEYS,
    BENCHMARK_KEYS,
    FIGURE_KEYS,
    RD_KEYS,
    TRACE_KEYS,
    TRAINING_KEYS,
    present,
)
from pipelines.paths import DATA_ROOT
from pipelines.stage import PYTHON, Stage, figure_outs

CORE = "packages/core/src/jscc_core"
PKG = "packages/resilient_transport/src/resilient_transport"
COMMON = ("pipelines/dgm/common.py", "pipelines/dgm/keys.py", "pipelines/dgm/paths.py", f"{CORE}/images.py",
          f"{CORE}/packet_loss.py", f"{CORE}/channels.py", f"{CORE}/determinism.py", f"{CORE}/registry.py",
          f"{CORE}/attention.py")
TRAIN_CODE = (PKG, "pipelines/dgm/train.py", f"{CORE}/training.py") + COMMON
EVAL_CODE = (PKG, "pipelines/dgm/resilient.py", "pipelines/dgm/metrics.py", f"{CORE}/metrics.py") + COMMON
BASELINE_CODE = ("pipelines/dgm/hevc_fec.py", "pipelines/dgm/metrics.py", f"{CORE}/metrics.py",
                 f"{CORE}/digital/codecs.py", f"{CORE}/digital/erasure.py", f"{CORE}/digital/separation.py") + COMMON
FIGURE_CODE = ("pipelines/dgm/fig06.py", "pipelines/dgm/paper_values.yaml", "pipelines/figures", f"{CORE}/results.py")


def stages(profile, profile_ref: str) -> list[Stage]:
    """Every dgm stage of ``profile`` (``profile_ref``: the name or path passed to commands)."""
    if profile.get("dgm") is None:
        return []
    return fig06_stages(profile, profile_ref) + fig05_stages.stages(profile, profile_ref)


def fig06_stages(profile, profile_ref: str) -> list[Stage]:
    """Fig. 6's stages: the resilient codec, its evaluations, HEVC-intra + FEC, the figure and the benchmark."""
    args = f"--profile {profile_ref} --data {DATA_ROOT}"
    threads = int(profile["threads"])
    runtime = profile.get("dgm.runtime_min")
    train_set, test_set = data_dir(profile.get("dgm.train_set")), data_dir(profile.get("dgm.test_set"))
    out: list[Stage] = [fetch_stage(profile.get("dgm.train_set")), fetch_stage(profile.get("dgm.test_set"))]

    def add(name, cmd, deps, outs, params, minutes, **kw):
        kw.setdefault("threads", threads)
        out.append(Stage(name=f"dgm_{name}", cmd=cmd, deps=tuple(deps), outs=tuple(outs),
                         params=present(profile, params), pipeline="dgm", mem_mb=4000, runtime_min=int(minutes),
                         **kw))

    models = []
    for lam in profile.get("dgm.lambdas"):
        folder = paths.model_dir(profile, float(lam))
        add(f"train_{folder.rsplit('/', 1)[1]}",
            f"{PYTHON} -m pipelines.dgm.train train {args} --lam {float(lam)!r} --out {folder}",
            TRAIN_CODE + (train_set,), paths.model_files(folder), TRAINING_KEYS + ("dgm.lambdas",),
            profile.get("dgm.schedule")["runtime_min"])
        models.append(folder)
    trace_model = models[-1]  # the highest-rate model runs the loss trace
    rd_outs = []
    for folder in models:
        tag = folder.rsplit("_", 1)[1]
        csv, js = paths.evaluation(profile, f"rd_ours_{tag}")
        add(f"rd_ours_{tag}", f"{PYTHON} -m pipelines.dgm.resilient rd {args} --model {folder} --out {csv}",
            EVAL_CODE + (test_set,) + paths.model_files(folder), (csv, js), RD_KEYS + ("dgm.layered_below",),
            runtime["rd"])
        rd_outs.append(csv)
    trace_csv, trace_json = paths.evaluation(profile, "trace_ours")
    add("trace_ours", f"{PYTHON} -m pipelines.dgm.resilient trace {args} --model {trace_model} --out {trace_csv}",
        EVAL_CODE + (test_set,) + paths.model_files(trace_model), (trace_csv, trace_json),
        TRACE_KEYS + ("dgm.fec.provisioning",), runtime["trace"])
    rd_hevc = paths.evaluation(profile, "rd_hevc")
    add("rd_hevc", f"{PYTHON} -m pipelines.dgm.hevc_fec rd {args} --out {rd_hevc[0]}", BASELINE_CODE + (test_set,),
        rd_hevc, BASELINE_KEYS, runtime["baseline"])
    trace_hevc = paths.evaluation(profile, "trace_hevc")
    add("trace_hevc", f"{PYTHON} -m pipelines.dgm.hevc_fec trace {args} --ours {trace_csv} --out {trace_hevc[0]}",
        BASELINE_CODE + (test_set, trace_csv), trace_hevc, BASELINE_KEYS, runtime["baseline"])
    inputs = (trace_csv, trace_hevc[0], rd_hevc[0], *rd_outs)
    add("fig06", f"{PYTHON} -m pipelines.dgm.fig06 --profile {profile_ref} --trace {trace_csv} "
                 f"--trace-hevc {trace_hevc[0]} --rd-hevc {rd_hevc[0]} --rd-ours {' '.join(rd_outs)} "
                 "--out reports/dgm/fig06.pdf",
        FIGURE_CODE + inputs + tuple(p.replace(".csv", ".json") for p in inputs), figure_outs("dgm", "fig06"),
        FIGURE_KEYS, runtime["figure"], threads=1)
    add("benchmark", f"{PYTHON} -m pipelines.dgm.benchmark {args} --model {trace_model} --out {paths.BENCHMARK}",
        ("pipelines/dgm/benchmark.py",) + EVAL_CODE + BASELINE_CODE + (test_set,) + paths.model_files(trace_model),
        (paths.BENCHMARK,), BENCHMARK_KEYS, runtime["benchmark"], alone=True,
        threads=int(profile.get("dgm.benchmark.threads") or threads))
    return out
