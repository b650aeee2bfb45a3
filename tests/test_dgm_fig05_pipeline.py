"""Fig. 5 of the 2024 magazine end to end through Snakemake on the tiny profile (gjscc's 32-px generator,
two test faces at two SNRs, models of a few steps): every scheme's record within the bandwidth ratio with
its side information counted, the scores and the page, and every stage declaring the profile keys it reads."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from jscc_core.results import read_results_csv
from pipeline_helpers import has_git_checkout, project_copy, snakemake, undeclared_reads

PROFILE = "tests/profiles/dgm_fig05_tiny.yaml"
ROOT = "results/dgm_fig05_tiny/dgm/fig05"
FIGURE = "reports/dgm/fig05.pdf"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    mirror = Path(os.environ["JSCC_DATA_MIRROR"])
    if not all((mirror / d).is_dir() for d in ("faces_more", "natural_train")):
        pytest.skip("needs the UTKFace faces and the natural training images in the data mirror")
    project = project_copy(tmp_path_factory.mktemp("project"))
    snakemake(project, PROFILE, FIGURE)
    return project


def _records(built: Path) -> dict[str, tuple[dict, dict]]:
    from pipelines.dgm.fig05_record import read_record

    out = {}
    for npz in sorted((built / ROOT).glob("*.npz")):
        info, arrays = read_record(npz)
        out[info["scheme"]] = (info, arrays)
    return out


@pytest.mark.slow
def test_fig05_from_a_clean_copy(built):
    pdf = built / FIGURE
    assert pdf.read_bytes()[:4] == b"%PDF"
    prov = json.loads(pdf.with_suffix(".json").read_text())
    assert prov["profile"]["name"] == "dgm_fig05_tiny"
    findings = prov["extra"]["findings"]
    assert findings and all(f["holds"] in (True, False) for f in findings)
    rows = read_results_csv(pdf.with_suffix(".csv"))
    assert {r.panel for r in rows} == {"a", "b", "c", "d"}
    assert {r.metric for r in rows if r.panel == "c"} == {"fd_vgg16"}  # realism is never called FID
    assert {r.snr_db for r in rows} == {6.0, 0.0}
    notes = " ".join(prov["extra"]["notes"])
    assert "FID: not available (" in notes and "FFHQ 69037" in notes


@pytest.mark.slow
def test_every_scheme_spends_at_most_the_bandwidth_ratio(built):
    """rho <= 0.02 per face and SNR with every side bit counted, and the DeepJSCC's count is c_out / 2 complex
    symbols per 16 x 16 block, recomputed here."""
    from pipelines.dgm.paths import FIG05_SCHEMES

    records = _records(built)
    assert set(records) == set(FIG05_SCHEMES)
    for scheme, (info, arrays) in records.items():
        uses = np.asarray(info["channel_uses"])
        assert uses.shape == (2, 2) and arrays["images"].shape == (2, 2, 32, 32, 3), scheme
        assert info["source_dims"] == 3 * 32 * 32
        assert (uses / info["source_dims"]).max() <= 0.02, scheme
    deepjscc = np.asarray(records["deepjscc_mse"][0]["channel_uses"])
    assert (deepjscc == 30 // 2 * (32 // 16) ** 2).all()  # 60 complex uses: rho = 30 / 1536
    post_info, post = records["posterior"]
    assert post["samples"].shape[:3] == (2, 2, 2) and (np.asarray(post_info["channel_uses"]) == deepjscc).all()


@pytest.mark.slow
def test_every_fig05_stage_declares_the_profile_keys_it_reads(built):
    assert undeclared_reads(built, PROFILE) == {}
