"""Algorithm 1 on the image NTSCC: interrupted training resumes exactly; a bad checkpoint is a clear error."""
import numpy as np
import pytest
import torch

from jscc_core.images import RandomCrops
from jscc_core.training import CheckpointError, TrainSchedule, load_checkpoint, train
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig
from ntscc.image.objectives import AUX_LEARNING_RATE, ntscc_objective, quantile_training

CONFIG = ImageNTSCCConfig(NTCConfig(c=16, embed_dims=(16, 16), depths=(1, 1), heads=2, window=4, hyper_channels=8),
                          JSCCConfig(c=16, d=16, n_e=1, n_d=1, heads=2, rate_values=(2, 4, 8, 16)))
SCHEDULE = TrainSchedule(steps=6, batch_size=2, learning_rate=1e-3, checkpoint_every=2, log_every=2)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def crops():
    rng = np.random.default_rng(0)
    return RandomCrops([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)], 32)


def _run(crops, ckpt, stop_after=None, seed=1):
    torch.manual_seed(seed)
    model = ImageNTSCC(CONFIG)
    loss = ntscc_objective(64.0, 10.0, (0.1, 0.3))
    calls = [0]

    def counted(m, x):
        calls[0] += 1
        if stop_after is not None and calls[0] > stop_after:
            raise KeyboardInterrupt
        return loss(m, x)

    train(model, counted, crops.sample, SCHEDULE, ckpt, "fp", aux=quantile_training(model))
    return model


def test_interrupted_ntscc_training_resumes_identically(crops, tmp_path):
    straight = _run(crops, tmp_path / "a.pt")
    with pytest.raises(KeyboardInterrupt):
        _run(crops, tmp_path / "b.pt", stop_after=5)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 4
    resumed = _run(crops, tmp_path / "b.pt", seed=7)  # weights, both Adams' states, crops and eta from the checkpoint
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_truncated_checkpoint_is_a_clear_error(crops, tmp_path):
    _run(crops, tmp_path / "c.pt")
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        _run(crops, tmp_path / "c.pt")


def test_quantiles_train_on_their_own_optimizer_outside_the_clip(crops, tmp_path):
    torch.manual_seed(1)
    model = ImageNTSCC(CONFIG)
    before = model.ntc.entropy_bottleneck.quantiles.detach().clone()
    clipped = TrainSchedule(steps=3, batch_size=2, learning_rate=1e-3, checkpoint_every=3, log_every=3, grad_clip=1e-9)
    train(model, ntscc_objective(64.0, 10.0, 0.2), crops.sample, clipped, tmp_path / "q.pt", "fp",
          aux=quantile_training(model))
    moved = (model.ntc.entropy_bottleneck.quantiles.detach() - before).abs()
    # Adam moves each quantile by about its rate per step whatever the main clip (1e-9 here)
    assert moved.max() > 2 * AUX_LEARNING_RATE and moved.max() < 4 * AUX_LEARNING_RATE
    state = torch.load(tmp_path / "q.pt", weights_only=True)
    main_ids = {i for group in state["optimizer"]["param_groups"] for i in group["params"]}
    assert len(main_ids) == len(list(model.parameters())) - len(model.aux_parameters())
    assert len(state["aux_optimizer"]["param_groups"][0]["params"]) == len(model.aux_parameters()) > 0
