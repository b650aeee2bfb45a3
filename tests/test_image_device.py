"""The one top-level ``device`` setting of the NTSCC image, separation, GJSCC and Fig. 5 stages,
exercised on the CPU: the same code path as a GPU run (models and batches moved, generators made on
the device), a CUDA request on a machine without CUDA refused in one line before any work, GPUs
declared to schedulers."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jscc_core.training import TrainSchedule, device_gpus, resolve_device, train
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig
from ntscc.image.objectives import ntscc_objective, quantile_training
from pipelines.ntscc import images
from pipelines.stages import all_stages

REPO = Path(__file__).resolve().parent.parent
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_device_settings_resolve_and_bad_ones_name_the_key():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"device must be one of auto, cpu, cuda, cuda:N or mps, got 'gpu'"):
        resolve_device("gpu")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match=r"^device is 'mps' but this machine has no MPS device .*cpu or auto$"):
            resolve_device("mps")
    assert (device_gpus("cpu"), device_gpus(None), device_gpus("auto"), device_gpus("cuda:1"),
            device_gpus("mps")) == (0, 0, 1, 1, 0)


@NO_CUDA
def test_cuda_without_a_cuda_device_is_one_line_naming_the_key():
    with pytest.raises(ValueError, match=r"^device is 'cuda' but this machine has no CUDA device .*choose cpu or auto$"
                       ):
        resolve_device("cuda")


@NO_CUDA
def test_a_stage_asked_for_cuda_stops_before_any_work(tmp_path, capsys):
    profile = tmp_path / "cuda.yaml"
    base = (images.__file__.rsplit("/pipelines/", 1)[0]) + "/tests/profiles/images_tiny.yaml"
    profile.write_text(f"extends: {base}\ndevice: cuda\n")
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exc:
        images.main(["train-ntc", "--profile", str(profile), "--data", str(tmp_path / "no-data"), "--lmbda", "64",
                     "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "device is 'cuda' but this machine has no CUDA device" in err
    assert not out.exists()


@NO_CUDA
def test_a_gjscc_stage_asked_for_cuda_stops_before_any_work(tmp_path, capsys):
    from pipelines.gjscc import models

    profile = tmp_path / "cuda.yaml"
    profile.write_text(f"extends: {REPO}/pipelines/profiles/mini.yaml\ndevice: cuda\n")
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exc:
        models.main(["train-deepjscc", "--profile", str(profile), "--data", str(tmp_path / "no-data"), "--split",
                     str(tmp_path / "split.json"), "--domain", "natural", "--c-out", "2", "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "device is 'cuda' but this machine has no CUDA device" in err
    assert not out.exists()


def test_training_on_an_explicit_cpu_device_follows_the_same_path(tmp_path):
    config = ImageNTSCCConfig(NTCConfig(c=8, embed_dims=(8, 8), depths=(1, 1), heads=2, window=4, hyper_channels=4),
                              JSCCConfig(c=8, d=8, n_e=1, n_d=1, heads=2, rate_values=(2, 4, 8), window=2))
    schedule = TrainSchedule(steps=2, batch_size=2, learning_rate=1e-3, checkpoint_every=2, log_every=1)
    data = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    weights = []
    for i, device in enumerate((None, "cpu")):
        torch.manual_seed(0)
        model = ImageNTSCC(config)
        train(model, ntscc_objective(64.0, 10.0, 0.2), data, schedule, tmp_path / f"{i}.pt", "fp",
              aux=quantile_training(model), device=device)
        weights.append(model.state_dict())
    assert all(torch.equal(a, weights[1][k]) for k, a in weights[0].items())


def test_stages_declare_the_device_and_ask_for_gpus_only_when_they_may_use_one():
    mini = {s.name: s for s in all_stages("mini")}
    paper = {s.name: s for s in all_stages("paper")}
    for name in ("ntscc_images_train_ntc_mse_lam64", "ntscc_images_time_models", "separation_bler_16qam_2_3"):
        assert "device" in mini[name].params and mini[name].gpus == 0
    trained = [s for n, s in paper.items() if n.startswith("ntscc_images_train_")]
    assert trained and all(s.gpus == 1 and "device" in s.params for s in trained)
    assert paper["ntscc_images_time_models"].gpus == 1
    assert all(s.gpus == 0 for n, s in paper.items() if n.startswith(("ntscc_images_fig", "ntscc_images_table")))
    # GJSCC and the Fig. 5 stages on its models read the same top-level key (gjscc.device is gone)
    for name in ("gjscc_train_deepjscc_faces_c8", "gjscc_generator_train", "dgm_fig05_posterior"):
        assert "device" in mini[name].params and "gjscc.device" not in mini[name].params and mini[name].gpus == 0
    assert all(s.gpus == 1 and "device" in s.params for n, s in paper.items() if n.startswith("gjscc_train"))
