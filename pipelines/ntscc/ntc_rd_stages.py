"""Stages of the NTC rate-distortion diagnostic (``reports/ntscc/ntc_rd.pdf``): one evaluation with
no channel per pretrained NTC and per trained NTSCC model (its NTC after joint training), and the
page beside HEVC-intra and NTSCC's own evaluations."""
from __future__ import annotations

from jscc_core.images import dataset_entry
from pipelines.data import data_dir
from pipelines.ntscc.image_stages import EVAL_CODE, FIGURE_CODE
from pipelines.ntscc.keys import MODEL_KEYS, RUN_KEYS, block_keys
from pipelines.ntscc.paths import ModelPaths, eval_files, model_files, ntc_rd_files
from pipelines.paths import DATA_ROOT, sweep_outputs
from pipelines.stage import PYTHON, Stage, figure_outs

#: What an NTC evaluation with no channel reads: the models and the test images (their checksums
#: and the training set's, recorded from the model's run).
RD_EVAL_KEYS = MODEL_KEYS + ("test_set", "test_limit")
SWEEP = "kodak_cbr"  # the Kodak separation sweep whose + capacity rows are HEVC-intra with no channel


def stages(profile, profile_ref: str) -> list[Stage]:
    """An ``ntc_rd.csv`` per NTC and NTSCC model of ``ntscc.images``, and the page."""
    cfg = profile.get("ntscc.images")
    m = ModelPaths(profile)
    params = RUN_KEYS + block_keys(profile, "images", RD_EVAL_KEYS)
    test_data = data_dir(dataset_entry(cfg["test_set"]))
    out = []
    folders = [*m.ntc.values(), *m.ntscc.values()]
    for folder in folders:
        out.append(Stage(
            name=f"ntscc_images_ntc_rd_{folder.rsplit('/', 1)[1]}",
            cmd=f"{PYTHON} -m pipelines.ntscc.ntc_rd_eval run --profile {profile_ref} --data {DATA_ROOT} "
                f"--model {folder}",
            deps=EVAL_CODE + ("pipelines/ntscc/ntc_rd_eval.py", "pipelines/ntscc/evals.py", test_data)
            + model_files(folder),
            outs=ntc_rd_files(folder), params=params, pipeline="ntscc", mem_mb=4000, runtime_min=30))
    rd = [ntc_rd_files(f) for f in folders]
    evals = [eval_files(f) for f in m.ntscc.values()]
    sweep_csv, sweep_json = sweep_outputs(profile, SWEEP)
    snr = cfg["fig11_snr_db"]
    out.append(Stage(
        name="ntscc_images_ntc_rd",
        cmd=f"{PYTHON} -m pipelines.ntscc.ntc_rd --profile {profile_ref} --rd {' '.join(c for c, _ in rd)} "
            f"--sweep-csv {sweep_csv} --ntscc-eval {' '.join(c for c, _ in evals)} --snr {snr!r} "
            f"--out reports/ntscc/ntc_rd.pdf",
        deps=("pipelines/ntscc/ntc_rd.py", "pipelines/ntscc/compressai_kodak.yaml") + FIGURE_CODE
        + tuple(x for pair in rd + evals for x in pair) + (sweep_csv, sweep_json),
        outs=figure_outs("ntscc", "ntc_rd"), params=("seed",), pipeline="ntscc", runtime_min=5))
    return out
