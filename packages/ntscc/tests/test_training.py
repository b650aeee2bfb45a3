"""Resumable training: the loss falls, a resumed run continues identically, bad checkpoints fail clearly."""
import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from jscc_core.training import CheckpointError, TrainSchedule, load_checkpoint, train
from ntscc.banana.models import NTC, NTSCC
from ntscc.banana.objectives import ntc_loss, ntscc_loss
from ntscc.banana.source import BananaSource

DATA = BananaSource().sample(20_000, seed=0)


def _run(tmp_path, steps, ckpt_name="ckpt.pt", fingerprint="fp", model=None, restart_foreign=False):
    torch.manual_seed(1)
    model = model or NTC(32)
    sched = TrainSchedule(steps=steps, batch_size=128, learning_rate=1e-3, checkpoint_every=10, log_every=10,
                          lr_final_ratio=0.1)
    logs = []
    train(model, ntc_loss(1 / 64), DATA, sched, tmp_path / ckpt_name, fingerprint,
          on_log=lambda step, m: logs.append(m["loss"]), restart_foreign=restart_foreign)
    return model, logs


def test_a_few_steps_lower_the_loss(tmp_path):
    _, logs = _run(tmp_path, 200)
    assert logs[-1] < 0.5 * logs[0]


def test_ntscc_algorithm1_step_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    model = NTSCC(list(range(1, 17)), hidden=32)
    sched = TrainSchedule(steps=150, batch_size=128, learning_rate=1e-3, checkpoint_every=150, log_every=25)
    logs = []
    train(model, ntscc_loss(1 / 256, 5.0, (0.1, 1.0)), DATA, sched, tmp_path / "c.pt", "fp",
          on_log=lambda step, m: logs.append(m["loss"]))
    assert logs[-1] < logs[0]


def test_resume_continues_identically(tmp_path):
    straight, _ = _run(tmp_path, 40, "a.pt")
    # stop after 20 steps, then start again from the checkpoint with a fresh model object
    torch.manual_seed(1)
    model = NTC(32)
    sched = TrainSchedule(steps=40, batch_size=128, learning_rate=1e-3, checkpoint_every=10, log_every=10,
                          lr_final_ratio=0.1)
    calls = 0

    def interrupted(m, x):
        nonlocal calls
        calls += 1
        if calls > 20:
            raise KeyboardInterrupt
        return ntc_loss(1 / 64)(m, x)

    with pytest.raises(KeyboardInterrupt):
        train(model, interrupted, DATA, sched, tmp_path / "b.pt", "fp")
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 20
    torch.manual_seed(999)  # a different global state must not matter: the checkpoint restores it
    sched = TrainSchedule(steps=40, batch_size=128, learning_rate=1e-3, checkpoint_every=10, log_every=10,
                          lr_final_ratio=0.1)
    resumed = NTC(32)
    train(resumed, ntc_loss(1 / 64), DATA, sched, tmp_path / "b.pt", "fp")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_finished_run_started_again_keeps_its_weights_and_returns_its_last_metrics(tmp_path):
    sched = TrainSchedule(steps=20, batch_size=128, learning_rate=1e-3, checkpoint_every=10, log_every=10)
    torch.manual_seed(1)
    first = NTC(32)
    final = train(first, ntc_loss(1 / 64), DATA, sched, tmp_path / "g.pt", "fp")
    again = NTC(32)  # fresh weights: the checkpoint must replace them all
    steps = []
    logs = train(again, ntc_loss(1 / 64), DATA, sched, tmp_path / "g.pt", "fp", on_log=lambda s, m: steps.append(s))
    assert steps == [] and logs == pytest.approx(final) and set(logs) == set(final) and "loss" in logs
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    _run(tmp_path, 10, "c.pt")
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        _run(tmp_path, 20, "c.pt")


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    _run(tmp_path, 10, "d.pt", fingerprint="one")
    with pytest.raises(CheckpointError, match="another configuration"):
        _run(tmp_path, 20, "d.pt", fingerprint="two")
    assert load_checkpoint(tmp_path / "d.pt")["step"] == 10


def test_a_stage_rerun_after_a_configuration_change_keeps_the_old_checkpoint_and_restarts(tmp_path):
    _run(tmp_path, 10, "e.pt", fingerprint="one")
    _, logs = _run(tmp_path, 20, "e.pt", fingerprint="two", restart_foreign=True)
    assert len(logs) == 2  # steps 1..20 were run, not 11..20
    assert load_checkpoint(tmp_path / "e.pt", "two")["step"] == 20
    assert load_checkpoint(tmp_path / "e.one.pt", "one")["step"] == 10
    (tmp_path / "f.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):  # unreadable files are never moved
        _run(tmp_path, 10, "f.pt", restart_foreign=True)
    assert (tmp_path / "f.pt").read_bytes() == b"not a checkpoint"


def test_cosine_learning_rate_runs_from_the_rate_to_its_final_fraction():
    sched = TrainSchedule(steps=100, batch_size=8, learning_rate=1e-3, lr_final_ratio=0.05)
    assert sched.lr_at(0) == pytest.approx(1e-3)
    assert sched.lr_at(100) == pytest.approx(5e-5)
    assert TrainSchedule(steps=100, batch_size=8, learning_rate=1e-3).lr_at(70) == pytest.approx(1e-3)


def test_warmup_ramps_the_rate_linearly_then_follows_the_cosine():
    sched = TrainSchedule(steps=100, batch_size=8, learning_rate=1e-3, lr_final_ratio=0.05, warmup_steps=10)
    plain = TrainSchedule(steps=100, batch_size=8, learning_rate=1e-3, lr_final_ratio=0.05)
    assert sched.lr_at(0) == pytest.approx(plain.lr_at(0) / 10)
    assert sched.lr_at(4) == pytest.approx(plain.lr_at(4) / 2)
    assert sched.lr_at(9) == pytest.approx(plain.lr_at(9))
    assert sched.lr_at(50) == pytest.approx(plain.lr_at(50))


def test_gradient_clipping_bounds_the_update(tmp_path):
    # Adam steps are scale free, so check the gradient norm the optimiser sees
    model = torch.nn.Linear(4, 1)
    seen = []
    hook = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: seen.append(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())))
    try:
        def loss_fn(m, x):
            loss = 1e4 * m(x).square().mean()
            return loss, {"loss": loss.item()}
        train(model, loss_fn, torch.ones(8, 4), TrainSchedule(steps=2, batch_size=4, learning_rate=1e-3,
                                                              grad_clip=0.5), tmp_path / "c.pt", "clip")
    finally:
        hook.remove()
    assert seen and max(seen) <= 0.5 + 1e-6


def test_schedule_validation_names_the_key():
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainSchedule(steps=10, batch_size=8, learning_rate=1e-3, warmup_steps=10)
    with pytest.raises(ValueError, match="grad_clip"):
        TrainSchedule(steps=10, batch_size=8, learning_rate=1e-3, grad_clip=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainSchedule(steps=10, batch_size=0, learning_rate=1e-3)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainSchedule(steps=10, batch_size=8, learning_rate=float("nan"))


def test_loading_weights_of_another_model_is_a_clear_error(tmp_path):
    from jscc_core.training import load_weights
    from ntscc.banana.models import DeepJSCC

    torch.save(DeepJSCC(2, 8).state_dict(), tmp_path / "dj.pt")
    with pytest.raises(CheckpointError, match="does not hold weights of a NTC"):
        load_weights(NTC(8), tmp_path / "dj.pt")
    with pytest.raises(CheckpointError, match="do not exist"):
        load_weights(NTC(8), tmp_path / "missing.pt")


def test_resume_with_a_random_crop_sampler_continues_identically(tmp_path):
    from jscc_core.images import RandomCrops

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((20, 24), (17, 16), (32, 19))]
    sched = TrainSchedule(steps=8, batch_size=4, learning_rate=1e-2, checkpoint_every=3, log_every=4)

    def loss(m, x):
        mse = torch.mean((m(x) - x) ** 2)
        return mse, {"loss": mse.item()}

    def run(ckpt, stop_after=None, seed=1):
        torch.manual_seed(seed)
        model = torch.nn.Conv2d(3, 3, 3, padding=1)
        calls = [0]

        def counted(m, x):
            calls[0] += 1
            if stop_after is not None and calls[0] > stop_after:
                raise KeyboardInterrupt
            return loss(m, x)
        train(model, counted, RandomCrops(images, 12), sched, tmp_path / ckpt, "fp")
        return model

    straight = run("a.pt")
    with pytest.raises(KeyboardInterrupt):
        run("b.pt", stop_after=7)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 6
    resumed = run("b.pt", seed=999)  # the checkpoint restores weights and the generator state
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
