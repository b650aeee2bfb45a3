"""Stages of the separation baselines: data fetch, BLER tables, per-image sweeps, benchmark."""
from __future__ import annotations

from jscc_core.digital.mcs import AWGN_ENVELOPE, MCS, snr_threshold_db
from jscc_core.digital.separation import CAPACITY, mcs_short_name, parse_mcs
from jscc_core.images import dataset_entry
from jscc_core.profiles import ProfileError
from pipelines.data import DATA_ROOT, data_files, fetch_stage
from pipelines.profile import profile_dep, results_dir
from pipelines.stages import PYTHON, Stage

MODULE = f"{PYTHON} -m pipelines.separation.run"
CORE = "packages/core/src/jscc_core"
LINK_CODE = tuple(f"{CORE}/digital/{m}.py" for m in ("ldpc", "mcs", "abstraction"))
SEPARATION_CODE = LINK_CODE + tuple(f"{CORE}/digital/{m}.py" for m in ("codecs", "rate_control", "separation")) + (
    f"{CORE}/capacity.py", f"{CORE}/metrics.py", f"{CORE}/images.py", "pipelines/separation/run.py")


def mcs_tag(mcs: MCS) -> str:
    """A file-name tag: 16QAM 2/3 -> '16qam-2_3'; with k = 168 information bits -> '16qam-2_3_k168'."""
    return mcs_short_name(mcs).replace("/", "_")


def bler_grid(mcs: MCS, cfg: dict) -> list[float]:
    """Es/N0 grid (dB) of a BLER table: the MCS's BLER-0.1 threshold - below_db ... + above_db."""
    centre = round(snr_threshold_db(mcs, 0.1) / cfg["step_db"]) * cfg["step_db"]
    n_below, n_above = (round(cfg[k] / cfg["step_db"]) for k in ("below_db", "above_db"))
    return [round(float(centre + i * cfg["step_db"]), 4) for i in range(-n_below, n_above + 1)]


def sweep_schemes(sweep: dict) -> list:
    """The MCSs (and 'capacity') of a sweep's ``mcs`` list; 'envelope' is the AWGN envelope."""
    out: list = []
    for name in sweep["mcs"]:
        key = name.lower()
        items = list(AWGN_ENVELOPE) if key == "envelope" else [CAPACITY] if key == CAPACITY else [parse_mcs(name)]
        out += [m for m in items if m not in out]
    return out


def check_separation(profile) -> None:
    cfg = profile.get("separation")
    for name, sw in cfg["sweeps"].items():
        try:
            sweep_schemes(sw)
        except ValueError as exc:
            raise ProfileError(f"profile {profile.name!r}: separation.sweeps.{name}.mcs: {exc}") from None
    if cfg["benchmark"]["sweep"] not in cfg["sweeps"]:
        raise ProfileError(f"profile {profile.name!r}: separation.benchmark.sweep = {cfg['benchmark']['sweep']!r} "
                           f"is not a key of separation.sweeps ({', '.join(cfg['sweeps'])})")


def separation_paths(profile) -> dict[str, str]:
    root = f"{results_dir(profile)}/separation"
    return {"root": root, "bler": f"{root}/bler"}


def sweep_outputs(profile, sweep: str) -> tuple[str, str]:
    """(per-image CSV, run JSON) of a sweep."""
    root = separation_paths(profile)["root"]
    return f"{root}/{sweep}.csv", f"{root}/{sweep}.json"


def bler_tables_needed(profile, schemes) -> tuple[str, ...]:
    if profile.get("separation")["mode"] != "abstraction":
        return ()
    folder = separation_paths(profile)["bler"]
    return tuple(f"{folder}/{mcs_tag(m)}.json" for m in schemes if m != CAPACITY)


def separation_stages(profile, profile_ref: str) -> list[Stage]:
    check_separation(profile)
    cfg = profile.get("separation")
    pdep = profile_dep(profile_ref)
    prof = f"--profile {profile_ref}"
    paths = separation_paths(profile)
    datasets = sorted({dataset_entry(sw["dataset"]) for sw in cfg["sweeps"].values()})
    stages = [fetch_stage(name) for name in datasets]

    mcs_all: list = list(AWGN_ENVELOPE)  # the benchmark's curve uses the envelope
    for sw in cfg["sweeps"].values():
        mcs_all += [m for m in sweep_schemes(sw) if m != CAPACITY and m not in mcs_all]
    if cfg["mode"] == "abstraction":
        for m in mcs_all:
            out = f"{paths['bler']}/{mcs_tag(m)}.json"
            stages.append(Stage(
                name=f"separation_bler_{mcs_tag(m)}", cmd=f"{MODULE} bler {prof} --mcs {mcs_short_name(m)} --out {out}",
                deps=(pdep, "pipelines/separation/run.py", "pipelines/separation/stages.py") + LINK_CODE,
                outs=(out,), runtime_min=cfg["bler"]["runtime_min"]))
    bler_args = f"--data {DATA_ROOT} --bler-dir {paths['bler']}"
    for name, sw in cfg["sweeps"].items():
        csv, meta = sweep_outputs(profile, name)
        stages.append(Stage(
            name=f"separation_{name}", cmd=f"{MODULE} sweep {prof} --sweep {name} {bler_args} --out {csv}",
            deps=(pdep, "pipelines/separation/stages.py") + SEPARATION_CODE + data_files(dataset_entry(sw["dataset"]))
            + bler_tables_needed(profile, sweep_schemes(sw)),
            outs=(csv, meta), threads=cfg["workers"], mem_mb=4000, runtime_min=sw["runtime_min"]))
    bench = cfg["sweeps"][cfg["benchmark"]["sweep"]]
    stages.append(Stage(
        name="separation_benchmark", cmd=f"{MODULE} benchmark {prof} {bler_args} --out reports/benchmarks/separation.json",
        deps=(pdep, "pipelines/separation/stages.py", f"{CORE}/digital/bench.py") + SEPARATION_CODE
        + data_files(dataset_entry(bench["dataset"])) + bler_tables_needed(profile, AWGN_ENVELOPE),
        outs=("reports/benchmarks/separation.json",), threads=max(2, cfg["workers"]), mem_mb=4000,
        runtime_min=bench["runtime_min"] + 10))
    return stages
