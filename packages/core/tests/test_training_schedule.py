"""Training-loop extensions: Adam betas, per-group rate scales, the plateau rule and its exact resumption."""
import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from jscc_core.training import TrainSchedule, load_checkpoint, plateau_update, train

DATA = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
TARGET = DATA @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


class Two(nn.Module):
    """Two small layers, to give each its own parameter group."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 1)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def _loss(model, rows):
    x = DATA[rows]
    loss = (model(x) - TARGET[rows]).square().mean()
    return loss, {"loss": loss.item()}


def _index_batch(n):
    return torch.randint(len(DATA), (n,))


def _val(model):
    # draws from the global generator on purpose: train() must keep that from the training path
    noise = 0.0 * torch.randn(())
    return float((model(DATA) - TARGET).square().mean() + noise)


class _Rates:
    """Records the rate of every group at every optimiser step."""

    def __enter__(self):
        self.seen = []
        self.hook = register_optimizer_step_pre_hook(
            lambda opt, args, kwargs: self.seen.append([g["lr"] for g in opt.param_groups]))
        return self

    def __exit__(self, *exc):
        self.hook.remove()


def test_betas_reach_adam_and_a_profile_list_becomes_a_tuple(tmp_path):
    sched = TrainSchedule.from_mapping({"steps": 2, "batch_size": 4, "learning_rate": 1e-3, "betas": [0.9, 0.99],
                                        "runtime_min": 5, "backbone_lr_ratio": 0.01})
    assert sched.betas == (0.9, 0.99)
    assert TrainSchedule(steps=2, batch_size=4, learning_rate=1e-3).betas == (0.9, 0.999)
    seen = []
    hook = register_optimizer_step_pre_hook(lambda opt, a, k: seen.append(opt.param_groups[0]["betas"]))
    try:
        train(Two(), _loss, _index_batch, sched, tmp_path / "c.pt", "fp")
    finally:
        hook.remove()
    assert seen == [(0.9, 0.99)] * 2


def test_schedule_validation_names_the_plateau_keys():
    base = {"steps": 10, "batch_size": 4, "learning_rate": 1e-3}
    with pytest.raises(ValueError, match="betas"):
        TrainSchedule(**base, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas"):
        TrainSchedule(**base, betas=(0.9,))
    with pytest.raises(ValueError, match="plateau_factor"):
        TrainSchedule(**base, plateau_factor=1.2, plateau_patience=2, epoch_steps=2)
    with pytest.raises(ValueError, match="epoch_steps is required"):
        TrainSchedule(**base, plateau_factor=0.8, plateau_patience=2)
    with pytest.raises(ValueError, match="plateau_patience is required"):
        TrainSchedule(**base, plateau_factor=0.8, epoch_steps=2)
    with pytest.raises(ValueError, match="epoch_steps"):
        TrainSchedule(**base, epoch_steps=0)


def test_plateau_rule_cuts_the_scale_after_patience_epochs_without_a_new_best():
    state = {"scale": 1.0, "best": math.inf, "bad_epochs": 0}
    scales = []
    for value in [5.0, 4.0, 4.0, 4.5, 4.2, 4.1, 3.9, 4.0, 4.0, 4.0]:
        state = plateau_update(state, value, 0.8, 3)
        scales.append(state["scale"])
    # 4.0 -> three epochs without a new best (4.0, 4.5, 4.2) -> x0.8; counting starts again;
    # 3.9 is a new best; 4.0 three times -> x0.8 again
    assert scales == pytest.approx([1, 1, 1, 1, 0.8, 0.8, 0.8, 0.8, 0.8, 0.64])
    assert state["best"] == 3.9


def test_group_rate_scales_and_parameters_left_out_stay_fixed(tmp_path):
    model = Two()
    start_a = {k: v.clone() for k, v in model.a.state_dict().items()}
    sched = TrainSchedule(steps=4, batch_size=8, learning_rate=1e-2, lr_final_ratio=0.5)
    with _Rates() as rates:
        train(model, _loss, _index_batch, sched, tmp_path / "c.pt", "fp",
              optimizer_groups=[{"params": model.b.parameters(), "lr_scale": 0.01}])
    assert [r[0] for r in rates.seen] == pytest.approx([0.01 * sched.lr_at(s) for s in range(4)])
    for key, value in model.a.state_dict().items():
        assert torch.equal(value, start_a[key]), key
    model = Two()
    with _Rates() as rates:
        train(model, _loss, _index_batch, sched, tmp_path / "d.pt", "fp",
              optimizer_groups=[{"params": model.a.parameters()}, {"params": model.b.parameters(), "lr_scale": 0.1}])
    assert [r[1] / r[0] for r in rates.seen] == pytest.approx([0.1] * 4)


def test_bad_optimizer_groups_are_named(tmp_path):
    model, other = Two(), Two()
    sched = TrainSchedule(steps=1, batch_size=4, learning_rate=1e-3)

    def run(groups):
        train(model, _loss, _index_batch, sched, tmp_path / "c.pt", "fp", optimizer_groups=groups)
    with pytest.raises(ValueError, match="not a parameter of the Two"):
        run([{"params": other.parameters()}])
    model.a.weight.requires_grad_(False)
    with pytest.raises(ValueError, match="frozen parameter"):
        run([{"params": model.a.parameters()}])
    model.a.weight.requires_grad_(True)
    with pytest.raises(ValueError, match="lr_scale"):
        run([{"params": model.a.parameters(), "lr_scale": 0.0}])
    with pytest.raises(ValueError, match="unknown keys"):
        run([{"params": model.a.parameters(), "lr": 0.1}])
    with pytest.raises(ValueError, match="no parameters"):
        run([{"params": []}])
    assert not (tmp_path / "c.pt").exists()


def test_a_plateau_schedule_needs_a_validate_callback(tmp_path):
    sched = TrainSchedule(steps=4, batch_size=4, learning_rate=1e-3, plateau_factor=0.5, plateau_patience=1,
                          epoch_steps=2)
    with pytest.raises(ValueError, match="no validate callback"):
        train(Two(), _loss, _index_batch, sched, tmp_path / "c.pt", "fp")


def test_plateau_rule_in_training_lowers_the_rate_and_is_saved(tmp_path):
    sched = TrainSchedule(steps=12, batch_size=4, learning_rate=1e-2, plateau_factor=0.5, plateau_patience=2,
                          epoch_steps=2, checkpoint_every=4)
    with _Rates() as rates:  # a validation value that never improves: x0.5 after epochs 3 and 5
        train(Two(), _loss, _index_batch, sched, tmp_path / "c.pt", "fp", validate=lambda m: 1.0)
    assert [r[0] for r in rates.seen] == pytest.approx([1e-2] * 6 + [5e-3] * 4 + [2.5e-3] * 2)
    state = load_checkpoint(tmp_path / "c.pt", "fp")["plateau"]
    assert state == {"scale": 0.25, "best": 1.0, "bad_epochs": 1}


def test_validation_does_not_change_the_training_path(tmp_path):
    def run(ckpt, **kwargs):
        torch.manual_seed(3)
        model = Two()
        train(model, _loss, _index_batch, TrainSchedule(steps=6, batch_size=4, learning_rate=1e-2, epoch_steps=2),
              tmp_path / ckpt, "fp", **kwargs)
        return model
    plain, validated = run("a.pt"), run("b.pt", validate=_val)
    for (name, a), b in zip(plain.state_dict().items(), validated.state_dict().values()):
        assert torch.equal(a, b), name


def test_interrupted_plateau_run_with_two_groups_resumes_identically(tmp_path):
    sched = TrainSchedule(steps=30, batch_size=8, learning_rate=3e-2, betas=(0.9, 0.99), plateau_factor=0.8,
                          plateau_patience=2, epoch_steps=3, checkpoint_every=5)

    def run(ckpt, stop_after=None, seed=1):
        torch.manual_seed(seed)
        model = Two()
        calls = [0]

        def counted(m, rows):
            calls[0] += 1
            if stop_after is not None and calls[0] > stop_after:
                raise KeyboardInterrupt
            return _loss(m, rows)
        # a validation value that falls, then stalls at a floor, so the plateau rule fires after the interruption
        with _Rates() as rates:
            train(model, counted, _index_batch, sched, tmp_path / ckpt, "fp", validate=lambda m: max(_val(m), 12.5),
                  optimizer_groups=[{"params": model.a.parameters(), "lr_scale": 0.5},
                                    {"params": model.b.parameters()}])
        return model, rates.seen

    straight, rates = run("a.pt")
    assert [r[1] for r in rates][19:22] == pytest.approx([3e-2, 3e-2, 2.4e-2])  # fired at step 21
    with pytest.raises(KeyboardInterrupt):
        run("b.pt", stop_after=23)
    state = load_checkpoint(tmp_path / "b.pt")
    assert state["step"] == 20 and state["plateau"] == {"scale": 1.0, "best": 12.5, "bad_epochs": 1}
    resumed, resumed_rates = run("b.pt", seed=99)
    assert resumed_rates == rates[20:]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
