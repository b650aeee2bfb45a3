"""The CIFAR-10 separation sweep (NTSCC Fig. 11(a), Table I): short-code BLER table, per-image rows, stages."""
import json
from pathlib import Path

import pytest

from jscc_core import registry
from jscc_core.digital.abstraction import BlerTable
from jscc_core.digital.separation import read_image_results_csv
from pipelines.separation.run import main
from pipelines.stages import all_stages

PROFILE = str(Path(__file__).parent / "profiles" / "separation_cifar_tiny.yaml")
SHORT = "16QAM 2/3 k=336"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    try:
        registry.fetch("cifar10_subset", root=root, progress=False)
    except registry.DataUnavailableError as exc:
        pytest.skip(f"data mirror lacks cifar10_subset: {exc}")
    return root


def test_short_code_bler_table_and_cifar_sweep(data_root, tmp_path):
    bler = tmp_path / "bler"
    main(["bler", "--profile", PROFILE, "--mcs", "16qam-2/3/k336", "--out", str(bler / "16qam-2_3_k336.json")])
    table = BlerTable.load(bler / "16qam-2_3_k336.json")
    assert (table.mcs.k, table.mcs.n) == (336, 504)
    assert table.snr_db.tolist() == [9.0, 9.5, 10.0]  # centred on the short code's threshold, not k = 4096's 8.93 dB

    out = tmp_path / "cifar_cbr.csv"
    main(["sweep", "--profile", PROFILE, "--sweep", "cifar_cbr", "--data", str(data_root), "--bler-dir", str(bler),
          "--out", str(out)])
    rows = read_image_results_csv(out)
    assert len(rows) == 4 * 2 * 2
    assert sorted({r.image_id for r in rows}) == [f"cifar10_test_{i:04d}" for i in range(4)]
    assert {r.mcs for r in rows} == {SHORT, "capacity"} and {r.mode for r in rows} == {"abstraction", "ideal"}
    at = {(r.mcs, r.bandwidth_ratio): [] for r in rows}
    for r in rows:
        at[r.mcs, r.bandwidth_ratio].append(r)
    # 1/16: 192 uses carry 664 bits at capacity, less than the HEVC parameter sets and one slice
    assert all(r.status == "no_fit" for r in at["capacity", 0.0625] + at[SHORT, 0.0625])
    # 1/4: 768 uses; every image gets through at capacity, the LDPC frame fits 6 codewords of 126 uses
    assert all(r.status == "ok" and r.psnr > 25 for r in at["capacity", 0.25])
    for r in at[SHORT, 0.25]:
        assert r.status in ("ok", "decode_failure") and 0 < r.codewords <= 6
        assert r.channel_uses_spent == 126 * r.codewords <= r.channel_uses_budget == 768
        assert r.stream_bits <= r.budget_bits == 6 * 336 - 24
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["count"] == "payload" and meta["images"] == 4
    assert meta["data_checksums"] == {f"cifar10_subset/{k}": v
                                      for k, v in registry.entry_checksums("cifar10_subset").items()}


def test_cifar_stages_in_the_mini_profile():
    stages = {st.name: st for st in all_stages("mini")}
    bler = stages["separation_bler_16qam_2_3_k336"]
    assert "--mcs 16qam-2/3/k336" in bler.cmd and bler.outs == ("results/mini/separation/bler/16qam-2_3_k336.json",)
    sweep = stages["separation_cifar_cbr"]
    assert "--sweep cifar_cbr" in sweep.cmd
    assert {"data/cifar10_subset", bler.outs[0]} <= set(sweep.deps)  # the data set is one folder dependency
    assert stages["data_cifar10_subset"].out_folders == ("data/cifar10_subset",)
    assert "separation.sweeps.cifar_cbr" in sweep.params and "seed" in sweep.params
    assert sweep.outs == ("results/mini/separation/cifar_cbr.csv", "results/mini/separation/cifar_cbr.json")
    assert "data_cifar10_subset" in stages and "separation_bler_16qam_2_3" in stages  # the Kodak tables stay
