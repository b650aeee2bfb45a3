"""The stages of Fig. 5 (Dai et al. 2024): each scheme's record of the test faces at every SNR, the
scores of every record, and the figure.  The faces, their split and the StyleGAN-2 prior are gjscc's
stages' outputs (folders and files as dependencies).

Light on purpose (no model code): the Snakefile and dvc.yaml are built from this list."""
from __future__ import annotations

from jscc_core.training import device_gpus
from pipelines.data import data_dir
from pipelines.dgm import paths
from pipelines.dgm.keys import (
    FIG05_DEEPJSCC_KEYS,
    FIG05_FACE_KEYS,
    FIG05_FIGURE_KEYS,
    FIG05_NTSCC_KEYS,
    FIG05_NTSCC_NTC_KEYS,
    FIG05_NTSCC_TRAIN_KEYS,
    FIG05_POSTERIOR_KEYS,
    FIG05_SCORE_KEYS,
    FIG05_SEPARATION_KEYS,
    present,
)
from pipelines.gjscc import paths as gjscc_paths
from pipelines.gjscc import stages as gjscc_stages
from pipelines.paths import DATA_ROOT
from pipelines.stage import PYTHON, Stage, figure_outs

RECORD = ("pipelines/dgm/fig05_record.py", "pipelines/dgm/keys.py", "pipelines/dgm/paths.py",
          "pipelines/gjscc/common.py", "pipelines/perceptual.py", "pipelines/gjscc/data.py")
DEEPJSCC_CODE = ("pipelines/dgm/fig05_deepjscc.py", "pipelines/gjscc/evaluate.py") + RECORD + gjscc_stages.MODEL_CODE
DIGITAL = "packages/core/src/jscc_core/digital"
SEPARATION_CODE = ("pipelines/dgm/fig05_separation.py", f"{DIGITAL}/codecs.py", f"{DIGITAL}/mcs.py",
                   f"{DIGITAL}/ldpc.py", f"{DIGITAL}/rate_control.py", f"{DIGITAL}/separation.py",
                   "packages/core/src/jscc_core/channels.py") + RECORD
SEPARATION_SCHEMES = ("separation_amc", "separation_stale", "separation_fixed")
NTSCC_CODE = ("pipelines/dgm/fig05_ntscc.py", "pipelines/ntscc/images.py", "packages/ntscc/src/ntscc/image",
              "packages/ntscc/src/ntscc/rate.py", "packages/core/src/jscc_core/training.py",
              "packages/core/src/jscc_core/capacity.py") + RECORD
GJSCC_PKG = "packages/generative_jscc/src/generative_jscc"
POSTERIOR_CODE = ("pipelines/dgm/fig05_posterior.py", f"{GJSCC_PKG}/posterior.py", f"{GJSCC_PKG}/inverse.py",
                  f"{GJSCC_PKG}/latent.py", "pipelines/gjscc/evaluate.py") + DEEPJSCC_CODE
SCORE_CODE = ("pipelines/dgm/fig05_scores.py", "pipelines/gjscc/evaluate.py") + RECORD + gjscc_stages.METRIC_CODE
FIGURE_CODE = ("pipelines/dgm/fig05.py", "pipelines/dgm/paper_values.yaml", "pipelines/figures",
               "packages/core/src/jscc_core/results.py") + RECORD


def stages(profile, profile_ref: str) -> list[Stage]:
    """Every Fig. 5 stage of ``profile``; none without a ``dgm.fig05`` and a ``gjscc`` block."""
    if profile.get("dgm.fig05") is None or profile.get("gjscc") is None:
        return []
    args = f"--profile {profile_ref} --data {DATA_ROOT}"
    threads = int(profile["threads"])
    runtime = profile.get("dgm.fig05.runtime_min")
    gpus = device_gpus(profile.get("device"))
    split = gjscc_paths.split_file(profile)
    faces = (data_dir(profile.get("gjscc.data.faces")), split)
    out: list[Stage] = []

    def add(name, cmd, deps, outs, params, minutes, compute=True):
        out.append(Stage(name=f"dgm_fig05_{name}", cmd=cmd, deps=tuple(dict.fromkeys(deps)), outs=tuple(outs),
                         params=present(profile, params), pipeline="dgm", threads=threads if compute else 1,
                         mem_mb=4000, runtime_min=int(minutes), gpus=gpus if compute else 0))

    model = paths.fig05_model_dir(profile, "deepjscc_mse")
    model_files = gjscc_paths.model_files(model)
    add("train_deepjscc", f"{PYTHON} -m pipelines.dgm.fig05_deepjscc train {args} --split {split} --out {model}",
        DEEPJSCC_CODE + faces, model_files, FIG05_DEEPJSCC_KEYS, runtime["train"])
    record = paths.fig05_record(profile, "deepjscc_mse")
    add("deepjscc", f"{PYTHON} -m pipelines.dgm.fig05_deepjscc evaluate {args} --split {split} --model {model} "
                    f"--out {record[0]}",
        DEEPJSCC_CODE + faces + model_files, record, FIG05_FACE_KEYS + FIG05_DEEPJSCC_KEYS, runtime["evaluate"])
    separation = [paths.fig05_record(profile, s) for s in SEPARATION_SCHEMES]
    add("separation", f"{PYTHON} -m pipelines.dgm.fig05_separation records {args} --split {split} "
                      f"--out-dir {paths.fig05_root(profile)}",
        SEPARATION_CODE + faces, tuple(p for r in separation for p in r), FIG05_SEPARATION_KEYS,
        runtime["separation"])
    ntc, ntscc = paths.fig05_model_dir(profile, "ntscc_ntc"), paths.fig05_model_dir(profile, "ntscc")
    ntc_files, ntscc_files = gjscc_paths.model_files(ntc), gjscc_paths.model_files(ntscc)
    schedules = profile.get("dgm.fig05.ntscc.schedules")
    add("train_ntscc_ntc", f"{PYTHON} -m pipelines.dgm.fig05_ntscc train-ntc {args} --split {split} --out {ntc}",
        NTSCC_CODE + faces, ntc_files, FIG05_NTSCC_NTC_KEYS, schedules["ntc"]["runtime_min"])
    add("train_ntscc", f"{PYTHON} -m pipelines.dgm.fig05_ntscc train-ntscc {args} --split {split} --ntc {ntc} "
                       f"--out {ntscc}",
        NTSCC_CODE + faces + ntc_files, ntscc_files, FIG05_NTSCC_TRAIN_KEYS, schedules["ntscc"]["runtime_min"])
    ntscc_record = paths.fig05_record(profile, "ntscc")
    add("ntscc", f"{PYTHON} -m pipelines.dgm.fig05_ntscc evaluate {args} --split {split} --model {ntscc} "
                 f"--out {ntscc_record[0]}",
        NTSCC_CODE + faces + ntscc_files, ntscc_record, FIG05_NTSCC_KEYS, runtime["evaluate"])
    posterior = paths.fig05_record(profile, "posterior")
    generator = gjscc_paths.generator_dir(profile)
    add("posterior", f"{PYTHON} -m pipelines.dgm.fig05_posterior run {args} --split {split} --generator {generator} "
                     f"--model {model} --out {posterior[0]}",
        POSTERIOR_CODE + faces + model_files + (gjscc_paths.generator_weights(profile),), posterior,
        FIG05_POSTERIOR_KEYS, runtime["posterior"])
    records = separation + [record, ntscc_record, posterior]
    _scores_and_figure(profile, profile_ref, records, (model, ntc, ntscc), split, faces, runtime, add)
    return out


def _scores_and_figure(profile, profile_ref: str, records: list[tuple[str, str]], models: tuple[str, ...],
                       split: str, faces, runtime, add) -> None:
    """The scores of every record and the figure (appended through ``add``); ``models``: the trained model
    folders behind the records (the page counts their runs and training time)."""
    npz = [r[0] for r in records]
    files = tuple(p for r in records for p in r)
    scores = paths.fig05_scores(profile)
    lpips = tuple(data_dir(e) for e in gjscc_stages.LPIPS_ENTRIES)
    add("scores", f"{PYTHON} -m pipelines.dgm.fig05_scores score --profile {profile_ref} --data {DATA_ROOT} "
                  f"--split {split} --records {' '.join(npz)} --out {scores[0]}",
        SCORE_CODE + faces + lpips + files, scores, FIG05_SCORE_KEYS, runtime["scores"])
    add("figure", f"{PYTHON} -m pipelines.dgm.fig05 --profile {profile_ref} --scores {scores[0]} "
                  f"--records {' '.join(npz)} --split {split} --data {DATA_ROOT} --models {' '.join(models)} "
                  "--out reports/dgm/fig05.pdf",
        FIGURE_CODE + faces + files + scores + tuple(f"{m}/run.json" for m in models), figure_outs("dgm", "fig05"),
        FIG05_FIGURE_KEYS + FIG05_FACE_KEYS, runtime["figure"], compute=False)
