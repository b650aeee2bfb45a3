"""What a separation sweep sends and which BLER tables it reads: the MCS list of a profile sweep,
file tags of MCSs, and the Es/N0 grid of a BLER table.  Read by the separation stages, its
entry points and every figure that draws a separation curve."""
from __future__ import annotations

from pathlib import Path

from jscc_core.digital.abstraction import BlerTable
from jscc_core.digital.mcs import AWGN_ENVELOPE, MCS, snr_threshold_db
from jscc_core.digital.separation import CAPACITY, mcs_short_name, parse_mcs
from pipelines.paths import bler_dir


def mcs_tag(mcs: MCS) -> str:
    """A file-name tag: 16QAM 2/3 -> '16qam-2_3'; with k = 168 information bits -> '16qam-2_3_k168'."""
    return mcs_short_name(mcs).replace("/", "_")


def bler_grid(mcs: MCS, cfg: dict) -> list[float]:
    """Es/N0 grid (dB) of a BLER table: the MCS's BLER-0.1 threshold - below_db ... + above_db
    (``cfg`` is the profile block ``separation.bler``)."""
    centre = round(snr_threshold_db(mcs, 0.1) / cfg["step_db"]) * cfg["step_db"]
    n_below, n_above = (round(cfg[k] / cfg["step_db"]) for k in ("below_db", "above_db"))
    return [round(float(centre + i * cfg["step_db"]), 4) for i in range(-n_below, n_above + 1)]


def sweep_schemes(sweep: dict) -> list:
    """The MCSs (and 'capacity') of a sweep's ``mcs`` list (``sweep`` is one entry of
    ``separation.sweeps``); 'envelope' is the AWGN envelope."""
    out: list = []
    for name in sweep["mcs"]:
        key = name.lower()
        items = list(AWGN_ENVELOPE) if key == "envelope" else [CAPACITY] if key == CAPACITY else [parse_mcs(name)]
        out += [m for m in items if m not in out]
    return out


def load_tables(folder: Path, schemes: list) -> list[BlerTable]:
    """The measured BLER tables in ``folder`` of every MCS of ``schemes`` ('capacity' needs none); a
    missing one is a FileNotFoundError naming the stage that writes it."""
    tables = []
    for m in schemes:
        if m == CAPACITY:
            continue
        path = folder / f"{mcs_tag(m)}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no BLER table for {m.name}: {path} (stage separation_bler_{mcs_tag(m)})")
        tables.append(BlerTable.load(path))
    return tables


def bler_table_path(profile, mcs: MCS) -> str:
    """The BLER table of ``mcs`` measured for ``profile``."""
    return f"{bler_dir(profile)}/{mcs_tag(mcs)}.json"


def bler_tables_needed(profile, schemes) -> tuple[str, ...]:
    """The BLER tables a sweep of ``schemes`` reads: none in exact mode, one per MCS in abstraction mode."""
    if profile.get("separation")["mode"] != "abstraction":
        return ()
    return tuple(bler_table_path(profile, m) for m in schemes if m != CAPACITY)
