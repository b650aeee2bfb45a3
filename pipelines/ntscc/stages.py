"""NTSCC's stages (Dai et al., JSAC 2022): the banana source (Figs. 9-10), images (Figs. 8, 11,
13, 17, Tables I-III) and Fig. 12, which adds the separation sweep it names."""
from __future__ import annotations

from pipelines.ntscc import banana_stages, image_stages, ntc_rd_stages
from pipelines.ntscc.checks import check_fig12
from pipelines.ntscc.paths import ModelPaths
from pipelines.paths import bler_dir, sweep_outputs
from pipelines.separation.sweeps import bler_tables_needed, sweep_schemes
from pipelines.stage import PYTHON, Stage, figure_outs


def fig12_stage(profile, profile_ref: str) -> Stage:
    """Fig. 12 from the separation sweep ``ntscc.fig12.sweep`` and the image models' evaluations."""
    check_fig12(profile)
    sweep = profile.get("ntscc.fig12")["sweep"]
    csv, meta = sweep_outputs(profile, sweep)
    models = ModelPaths(profile)
    evals = models.fig12_evals()
    per_snr = models.fig12_per_snr_evals()  # panel (a) in the paper's setting, when the profile has it
    evals_arg = f"--eval {' '.join(evals)}" + (f" --per-snr-eval {' '.join(per_snr)}" if per_snr else "")
    evals += per_snr
    return Stage(
        name="ntscc_fig12",
        cmd=f"{PYTHON} -m pipelines.ntscc.fig12 --profile {profile_ref} --sweep-csv {csv} "
            f"--bler-dir {bler_dir(profile)} {evals_arg} --out reports/ntscc/fig12.pdf",
        deps=("pipelines/ntscc/fig12.py", "pipelines/figures", "pipelines/ntscc/rd.py", "pipelines/ntscc/evals.py",
              "pipelines/separation/sweeps.py", "packages/core/src/jscc_core/results.py", csv, meta)
        + tuple(evals) + tuple(e.replace(".csv", ".json") for e in evals)
        + bler_tables_needed(profile, sweep_schemes(profile.get("separation")["sweeps"][sweep])),
        outs=figure_outs("ntscc", "fig12"),
        params=("seed", "ntscc.fig12", "separation.mode", "separation.codec", f"separation.sweeps.{sweep}"),
        pipeline="ntscc",
        runtime_min=5)


def stages(profile, profile_ref: str) -> list[Stage]:
    """Every NTSCC stage of ``profile`` (``profile_ref``: the name or path passed to commands)."""
    return (banana_stages.stages(profile, profile_ref) + image_stages.stages(profile, profile_ref)
            + [fig12_stage(profile, profile_ref)]
            + ntc_rd_stages.stages(profile, profile_ref))
