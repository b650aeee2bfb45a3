"""``python -m pipelines.ntscc.import_official``: a released-layout checkpoint becomes a model folder
that ``load_model`` takes; bad files stop it with one line naming the file and the problem."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from ntscc.image.import_official import to_official
from ntscc.image.model import ImageNTSCC
from pipelines.ntscc.images import images_cfg, load_model, ntscc_config
from pipelines.ntscc.import_official import main
from pipelines.profile import load

REPO = Path(__file__).resolve().parent.parent
# the official profile's layout options on tiny transforms
TINY = f"""extends: {REPO / "pipelines" / "profiles" / "official.yaml"}
ntscc:
  images:
    ntc: {{c: 16, embed_dims: [8, 8, 8, 16], depths: [1, 1, 1, 1], heads: 2, window: 2, hyper_channels: 8}}
    jscc: {{d: 16, n_e: 1, n_d: 1, heads: 2, rate_values: [4, 8, 16, 32], window: 2, likelihood_refine_hidden: 32}}
"""


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """(profile file, the model, its state dict in the released layout saved as a .pth)."""
    root = tmp_path_factory.mktemp("official")
    (root / "official_tiny.yaml").write_text(TINY)
    profile = load(str(root / "official_tiny.yaml"))
    torch.manual_seed(1)
    model = ImageNTSCC(ntscc_config(images_cfg(profile), "comparison_i")).eval()
    state = to_official(model.state_dict())
    state["fe.rate_choice_tensor"] = torch.tensor([4, 8, 16, 32])  # buffers it carries besides the weights
    state["ga.layers.2.blocks.1.attn_mask"] = torch.zeros(4, 4, 4)
    torch.save(state, root / "released.pth")
    return root / "official_tiny.yaml", model, root / "released.pth"


def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1, err
    return err


def test_checkpoint_becomes_a_model_folder_that_load_model_takes(released, tmp_path, monkeypatch, one_thread):
    yaml, model, ckpt = released
    monkeypatch.chdir(tmp_path)
    main([str(ckpt), "--out", "model", "--profile", str(yaml), "--lmbda", "64"])
    loaded, meta = load_model(load(str(yaml)), Path("model"))
    assert meta["kind"] == "comparison_i" and meta["name"] == "official_comparison_i_mse_lam64"
    assert meta["params"]["source"]["checkpoint"] == "released.pth" and meta["run_id"]
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x, 10.0, 0.02, generator=3)["x_hat"]
        got = loaded(x, 10.0, 0.02, generator=3)["x_hat"]
    assert torch.equal(got, expected)


def test_bad_checkpoints_stop_with_one_line(released, tmp_path, capsys, monkeypatch):
    yaml, _, ckpt = released
    monkeypatch.chdir(tmp_path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(os.urandom(256))
    assert "garbage.pth is not a weights-only PyTorch checkpoint" in _fails([str(garbage), "--out", "m"], capsys)

    class Payload:  # a pickle that would run code when unpickled
        def __reduce__(self):
            return os.mkdir, (str(tmp_path / "pwned"),)

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"ga.norm.weight": Payload()}))
    assert "evil.pth is not a weights-only PyTorch checkpoint" in _fails([str(evil), "--out", "m"], capsys)
    assert not (tmp_path / "pwned").exists()

    state = torch.load(ckpt, weights_only=True)
    del state["fd.rate_token"]
    state["ga.norm.weight"] = torch.zeros(3)
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    err = _fails([str(broken), "--out", "m", "--profile", str(yaml)], capsys)
    assert "broken.pth: does not fit" in err and "missing keys (fd.rate_token)" in err
    assert "does not exist" in _fails([str(tmp_path / "nothing.pth"), "--out", "m"], capsys)
    assert not Path("m").exists()
