"""GJSCC end to end through Snakemake: GJSCC Figs. 6-9 from a clean copy on the tiny profile (a 32-px
generator, tiny models at one c_out, four test faces), every stage declaring the profile keys it reads;
the pages of two rho drawn from the run's evaluations relabelled as a second c_out."""
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from jscc_core.profiles import ProfileError
from jscc_core.results import read_results_csv
from pipeline_helpers import has_git_checkout, project_copy, snakemake, undeclared_reads

PROFILE = "tests/profiles/gjscc_tiny.yaml"
ROOT = "results/gjscc_tiny/gjscc"
FIGURES = tuple(f"reports/gjscc/fig0{n}.pdf" for n in (6, 7, 8, 9))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    mirror = Path(os.environ["JSCC_DATA_MIRROR"])
    if not all((mirror / d).is_dir() for d in ("faces_more", "faces", "natural_train")):
        pytest.skip("needs the UTKFace and CelebA-HQ faces and the natural training images in the data mirror")
    project = project_copy(tmp_path_factory.mktemp("project"))
    snakemake(project, PROFILE, *FIGURES)
    return project


@pytest.mark.slow
def test_the_four_figures_from_a_clean_copy(built):
    for fig in FIGURES:
        assert (built / fig).read_bytes()[:4] == b"%PDF"
        prov = json.loads((built / fig).with_suffix(".json").read_text())
        assert prov["profile"]["name"] == "gjscc_tiny" and prov["mlflow_run_ids"]
        assert prov["extra"]["findings"] and all(f["holds"] in (True, False) for f in prov["extra"]["findings"])
    fig06 = read_results_csv(built / "reports/gjscc/fig06.csv")
    methods = {r.method.split(",")[0] for r in fig06}
    assert methods == {"DeepJSCC", "InverseJSCC"}
    assert {r.extra["domain"] for r in fig06} == {"faces", "natural"}
    assert {round(r.bandwidth_ratio, 4) for r in fig06} == {0.0013}  # rho = c_out / 1536, complex uses (c_out 2)
    assert {r.metric for r in fig06} == {"lpips_vgg", "lpips_alex"} and all(0 <= r.value < 2 for r in fig06)
    notes = " ".join(json.loads((built / "reports/gjscc/fig06.json").read_text())["extra"]["notes"])
    assert "stand in for ImageNet" in notes and "fresh channel-noise draw" in notes and "complex channel uses" in notes
    fig08 = read_results_csv(built / "reports/gjscc/fig08.csv")
    assert {r.panel for r in fig08} == {"a", "b", "c", "d"}
    assert {r.method.split(",")[0] for r in fig08} == {"DeepJSCC", "GenerativeJSCC"}
    assert any("out-of-distribution" in r.method for r in fig08)
    assert {r.metric for r in fig08 if r.panel == "d"} == {"fd_vgg16"}  # never called FID
    notes = " ".join(json.loads((built / "reports/gjscc/fig08.json").read_text())["extra"]["notes"])
    assert "FID: not available (" in notes and "MS-SSIM (2-scale)" in notes
    findings = json.loads((built / "reports/gjscc/fig08.json").read_text())["extra"]["findings"]
    assert any(not f["holds"] and "only c_out = 2 was evaluated" in f["detail"] for f in findings)
    for fig, shown in (("fig07", 2 * 2 * 2), ("fig09", 2 * 2)):  # SNRs x rows per SNR, LPIPS and PSNR per face
        rows = read_results_csv(built / f"reports/gjscc/{fig}.csv")
        assert len(rows) == shown * 2 * 2


@pytest.mark.slow
def test_evaluations_hold_every_point_per_image(built):
    from pipelines.gjscc.evals import EVAL_COLUMNS

    evaluation = (built / ROOT / "generative/c2/eval.csv").read_text().splitlines()
    assert tuple(evaluation[0].split(",")) == EVAL_COLUMNS
    rows = [dict(zip(EVAL_COLUMNS, line.split(","))) for line in evaluation[1:]]
    test = [r for r in rows if r["test_set"] == "test"]
    assert len(test) == 4 * 2 and {r["snr_db"] for r in test} == {"-5", "5"}  # 4 test faces at 2 SNRs
    assert {r["dataset"] for r in rows if r["test_set"] == "ood"} == {"faces"}  # the out-of-distribution faces
    inverse = (built / ROOT / "inverse/natural_c2/eval.csv").read_text().splitlines()[1:]
    assert {line.split(",")[0] for line in inverse} == {"DeepJSCC", "InverseJSCC"}
    with np.load(built / ROOT / "inverse/faces_c2/pictures.npz") as pics:
        assert pics["x"].shape == (2, 32, 32, 3) and pics["x_star_snr5"].dtype == np.uint8
    split = json.loads((built / ROOT / "split.json").read_text())
    assert split["sizes"] == {"train": 3998, "val": 500, "test": 499}  # UTKFace 8:1:1


def _as_c_out(src: Path, dest: Path, c_out: int) -> Path:
    """``src``'s eval.csv and eval.json copied into ``dest`` (under ``src``'s own kind and name) as
    if its A had ``c_out`` channels (rho = c_out / 1536)."""
    with open(src / "eval.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        columns, rows = reader.fieldnames, list(reader)
    for r in rows:
        r["c_out"], r["rho"] = str(c_out), repr(c_out / 1536)
    dest = dest / src.parent.name / src.name
    dest.mkdir(parents=True)
    with open(dest / "eval.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(src / "eval.json", dest)  # its set measures take rho from the rows
    return dest / "eval.csv"


@pytest.mark.slow
def test_pages_of_two_rho(built, tmp_path):
    """The tiny profile trains one c_out; Figs. 6 and 8 of two (a panel per rho, the larger-rho
    findings) from its evaluations, relabelled as c_out = 8."""
    from pipelines.gjscc import fig06, fig08
    from pipelines.profile import load

    profile, root = load(str(built / PROFILE)), built / ROOT
    inverse = [root / f"inverse/{d}_c2" for d in ("faces", "natural")]
    evals = [f / "eval.csv" for f in inverse] + [_as_c_out(f, tmp_path, 8) for f in inverse]
    fig06.render(profile, evals, tmp_path / "fig06.pdf", root / "generator/report.json")
    rows = read_results_csv(tmp_path / "fig06.csv")
    assert {(r.panel, r.extra["domain"]) for r in rows} == {(f"rho{p}", d) for p in ("0.0013", "0.0052")
                                                            for d in ("faces", "natural")}
    claims = [f["claim"] for f in json.loads((tmp_path / "fig06.json").read_text())["extra"]["findings"]]
    assert all(any(f"(c_out = {c})" in claim for claim in claims) for c in (2, 8))
    models = [root / "deepjscc/faces_c2", root / "generative/c2"]
    evals = [f / "eval.csv" for f in models] + [_as_c_out(f, tmp_path, 8) for f in models]
    fig08.render(profile, evals, tmp_path / "fig08.pdf")
    rows = read_results_csv(tmp_path / "fig08.csv")
    assert {round(r.bandwidth_ratio, 4) for r in rows if r.panel == "d"} == {0.0013, 0.0052}
    findings = json.loads((tmp_path / "fig08.json").read_text())["extra"]["findings"]
    high = [f for f in findings if "larger BCR" in f["claim"]]
    assert len(high) == 2 and not any("only c_out" in f["detail"] for f in findings)


@pytest.mark.slow
def test_every_gjscc_stage_declares_the_profile_keys_it_reads(built):
    assert undeclared_reads(built, PROFILE) == {}


def test_wrong_size_faces_are_a_named_error():
    from pipelines.gjscc.common import ImageSizeError, to_image_size

    faces = np.zeros((2, 64, 64, 3), np.uint8)
    assert to_image_size(faces, 32, "faces").shape == (2, 32, 32, 3)  # area-averaged by 2
    with pytest.raises(ImageSizeError, match="expected 48 x 48 images"):
        to_image_size(faces, 48, "faces")
    with pytest.raises(ImageSizeError, match="expected 64 x 64 images"):
        to_image_size(np.zeros((1, 64, 48, 3), np.uint8), 64, "faces")


@pytest.mark.parametrize("override, key", [
    ({"gjscc.fig07.snr_db": [2.0]}, "gjscc.fig07.snr_db"),
    ({"gjscc.fig09.c_out": 4}, "gjscc.fig09.c_out"),
    ({"gjscc.test_snr_db": [-5.0, 9.0]}, "gjscc.test_snr_db"),  # outside the SNRs A is trained on
])
def test_the_stage_list_refuses_figures_the_stages_do_not_make(override, key):
    from pipelines.gjscc.stages import stages
    from pipelines.profile import load

    with pytest.raises(ProfileError, match=key.replace(".", r"\.")):
        stages(load("mini", overrides=override), "mini")
