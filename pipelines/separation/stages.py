"""Stages of the separation baselines (HEVC-intra + 5G LDPC / + capacity), shared by the papers:
data fetch, one BLER table per MCS, one per-image sweep per ``separation.sweeps`` entry, benchmark."""
from __future__ import annotations

from jscc_core.digital.mcs import AWGN_ENVELOPE
from jscc_core.digital.separation import CAPACITY, mcs_short_name
from jscc_core.images import dataset_entry
from jscc_core.profiles import ProfileError
from jscc_core.training import device_gpus
from pipelines.data import data_dir, fetch_stage
from pipelines.paths import DATA_ROOT, bler_dir, sweep_outputs
from pipelines.perceptual import LPIPS_CODE, LPIPS_ENTRY, LPIPS_NET
from pipelines.separation.sweeps import bler_table_path, bler_tables_needed, mcs_tag, sweep_schemes
from pipelines.stage import PYTHON, Stage

PIPELINE = "separation"
MODULE = f"{PYTHON} -m pipelines.separation.run"
CORE = "packages/core/src/jscc_core"
# Code each output's numbers depend on: the link for BLER tables, the whole digital chain for sweeps.
LINK_CODE = tuple(f"{CORE}/digital/{m}.py" for m in ("ldpc", "mcs", "abstraction"))
SEPARATION_CODE = (f"{CORE}/digital", f"{CORE}/capacity.py", f"{CORE}/metrics.py", f"{CORE}/images.py",
                   "pipelines/separation")
RUN_KEYS = ("seed", "threads")  # every stage seeds and sizes its thread pool from these
SWEEP_KEYS = tuple(f"separation.{k}" for k in ("codec", "mode", "num_iter", "fallback", "workers"))


def check_separation(profile) -> None:
    """Constraints between keys that the schema cannot express."""
    cfg = profile.get("separation")
    for name, sw in cfg["sweeps"].items():
        try:
            sweep_schemes(sw)
        except ValueError as exc:
            raise ProfileError(f"profile {profile.name!r}: separation.sweeps.{name}.mcs: {exc}") from None
    if cfg["benchmark"]["sweep"] not in cfg["sweeps"]:
        raise ProfileError(f"profile {profile.name!r}: separation.benchmark.sweep = {cfg['benchmark']['sweep']!r} "
                           f"is not a key of separation.sweeps ({', '.join(cfg['sweeps'])})")


def stages(profile, profile_ref: str) -> list[Stage]:
    """Every separation stage of ``profile`` (``profile_ref``: the name or path passed to commands)."""
    check_separation(profile)
    cfg = profile.get("separation")
    prof = f"--profile {profile_ref}"
    device = ("device",) if profile.get("device") is not None else ()  # where BP decoding runs
    gpus = device_gpus(profile.get("device"))
    datasets = sorted({dataset_entry(sw["dataset"]) for sw in cfg["sweeps"].values()})
    out = [fetch_stage(name) for name in datasets]

    mcs_all: list = list(AWGN_ENVELOPE)  # the benchmark's curve uses the envelope
    for sw in cfg["sweeps"].values():
        mcs_all += [m for m in sweep_schemes(sw) if m != CAPACITY and m not in mcs_all]
    if cfg["mode"] == "abstraction":
        for m in mcs_all:
            table = bler_table_path(profile, m)
            out.append(Stage(
                name=f"separation_bler_{mcs_tag(m)}",
                cmd=f"{MODULE} bler {prof} --mcs {mcs_short_name(m)} --out {table}",
                deps=("pipelines/separation",) + LINK_CODE, outs=(table,),
                params=RUN_KEYS + device + ("separation.bler", "separation.num_iter"), pipeline=PIPELINE,
                runtime_min=cfg["bler"]["runtime_min"], gpus=gpus))
    bler_args = f"--data {DATA_ROOT} --bler-dir {bler_dir(profile)}"
    if any(sw.get("lpips") for sw in cfg["sweeps"].values()):
        out.append(fetch_stage(LPIPS_ENTRY[LPIPS_NET]))
    for name, sw in cfg["sweeps"].items():
        csv, meta = sweep_outputs(profile, name)
        lpips = (data_dir(LPIPS_ENTRY[LPIPS_NET]),) + LPIPS_CODE if sw.get("lpips") else ()
        out.append(Stage(
            name=f"separation_{name}", cmd=f"{MODULE} sweep {prof} --sweep {name} {bler_args} --out {csv}",
            deps=SEPARATION_CODE + (data_dir(dataset_entry(sw["dataset"])),) + lpips
            + bler_tables_needed(profile, sweep_schemes(sw)),
            outs=(csv, meta), params=RUN_KEYS + device + SWEEP_KEYS + (f"separation.sweeps.{name}",),
            pipeline=PIPELINE, threads=cfg["workers"], mem_mb=4000, runtime_min=sw["runtime_min"],
            gpus=gpus if cfg["mode"] == "exact" else 0))  # abstraction mode draws from BLER tables
    bench = cfg["benchmark"]["sweep"]
    out.append(Stage(
        name="separation_benchmark",
        cmd=f"{MODULE} benchmark {prof} {bler_args} --out reports/benchmarks/separation.json",
        deps=SEPARATION_CODE + (data_dir(dataset_entry(cfg["sweeps"][bench]["dataset"])),)
        + bler_tables_needed(profile, AWGN_ENVELOPE),
        outs=("reports/benchmarks/separation.json",),
        params=RUN_KEYS + SWEEP_KEYS + ("separation.benchmark", f"separation.sweeps.{bench}"), pipeline=PIPELINE,
        threads=max(2, cfg["workers"]), mem_mb=4000, runtime_min=cfg["sweeps"][bench]["runtime_min"] + 10))
    return out
