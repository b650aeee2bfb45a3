"""GJSCC's face split and the generator stage (train + report) on the tiny profile."""
import json
import os
from pathlib import Path

import pytest

from pipelines.profile import load

REPO = Path(__file__).resolve().parent.parent
TINY = str(REPO / "tests" / "profiles" / "gjscc_tiny.yaml")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from jscc_core.registry import RegistryError, fetch

    root = tmp_path_factory.mktemp("data")
    try:
        fetch("faces_more", root=root, progress=False)
    except RegistryError:
        pytest.skip("needs faces_more in the data mirror (JSCC_DATA_MIRROR)")
    return root


def test_split_is_8_1_1_seeded_and_recorded(data_root, tmp_path):
    from pipelines.gjscc.data import face_split, write_split

    profile = load("mini")
    split = face_split(profile, data_root)
    assert {k: v.shape for k, v in split.items()} == {
        "train": (3998, 64, 64, 3), "val": (500, 64, 64, 3), "test": (499, 64, 64, 3)}
    info = write_split(profile, tmp_path / "split.json", data_root)
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved == json.loads(json.dumps(info))
    assert saved["sha256"] == "7976f4005c639ef5b89d603e38f130434ec502bf0bbd85bca581ff93df20bbd6"
    every = sum(saved["indices"].values(), [])
    assert sorted(every) == list(range(4997))  # disjoint and complete
    assert face_split(profile, data_root)["val"].tobytes() == split["val"].tobytes()  # the same on every call


def test_missing_faces_name_the_entry_and_the_fetch_command(tmp_path):
    from pipelines.gjscc.data import face_split

    with pytest.raises(FileNotFoundError, match=r"faces_more.*jscc_core.registry fetch faces_more"):
        face_split(load("mini"), tmp_path)


def test_the_paper_generator_is_converted_not_trained(tmp_path, capsys):
    from pipelines.gjscc import generator

    with pytest.raises(SystemExit) as exc:
        generator.main(["train", "--profile", "paper", "--out", str(tmp_path / "g")])
    assert exc.value.code == 2
    assert "source: ffhq" in capsys.readouterr().err


@pytest.mark.slow
def test_generator_train_resume_and_report_on_the_tiny_profile(data_root, tmp_path, monkeypatch):
    import torch

    from pipelines.gjscc import generator

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("JSCC_PROGRESS", "0")
    out = tmp_path / "gen"
    generator.main(["train", "--profile", TINY, "--out", str(out), "--data", str(data_root)])
    meta = json.loads((out / "run.json").read_text())
    assert meta["steps"] == meta["steps_this_run"] == 4 and meta["train_images"] == 3998
    state = torch.load(out / "generator.pt", weights_only=True)
    G = generator.load_generator(load(TINY), out / "generator.pt")
    assert set(state) == set(G.state_dict()) and G.size == 32
    mtime = os.path.getmtime(out / "generator.pt")
    generator.main(["train", "--profile", TINY, "--out", str(out), "--data", str(data_root)])  # nothing left to do
    assert json.loads((out / "run.json").read_text()) == meta
    assert os.path.getmtime(out / "generator.pt") == mtime
    (out / "run.json").unlink()  # weights without their record: the finished checkpoint rewrites both
    generator.main(["train", "--profile", TINY, "--out", str(out), "--data", str(data_root)])
    assert json.loads((out / "run.json").read_text())["steps_this_run"] == 0
    meta = json.loads((out / "run.json").read_text())
    pdf = tmp_path / "reports" / "generator.pdf"
    generator.main(["report", "--profile", TINY, "--generator", str(out / "generator.pt"), "--out", str(pdf),
                    "--data", str(data_root)])
    numbers = json.loads(pdf.with_suffix(".json").read_text())
    assert pdf.stat().st_size > 0 and (tmp_path / "reports" / "generator_samples.png").exists()
    assert len(numbers["projection"]["psnr_db"]) == 2 and numbers["generator_run_id"] == meta["run_id"]
