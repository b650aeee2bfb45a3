"""Switching a stage's configuration (its profile) away and back: the checkpoint set aside for the first
configuration is resumed when it comes back, not retrained from scratch."""
from __future__ import annotations

import torch
from torch import nn

from jscc_core.training import (
    TrainSchedule,
    checkpoint_train_seconds,
    load_checkpoint,
    restore_set_aside_checkpoint,
    save_checkpoint,
    train,
)

DATA = torch.randn(256, 4)


def _run(ckpt, fingerprint: str, steps: int = 10) -> tuple[nn.Module, int]:
    """Train a small linear map under ``fingerprint``; returns the model and the steps actually run."""
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        loss = ((m(batch) - batch.flip(1)) ** 2).mean()
        return loss, {"loss": loss.item()}

    sched = TrainSchedule(steps=steps, batch_size=16, learning_rate=1e-2, checkpoint_every=5, log_every=5)
    train(model, loss_fn, DATA, sched, ckpt, fingerprint, restart_foreign=True)
    return model, len(calls)


def test_a_set_aside_checkpoint_is_resumed_when_its_configuration_comes_back(tmp_path, capsys):
    ckpt = tmp_path / "checkpoint.pt"
    first, ran = _run(ckpt, "aaaa")
    assert ran == 10
    _, ran = _run(ckpt, "bbbb")  # another profile of the same name, or an edit: set aside, trained afresh
    assert ran == 10 and load_checkpoint(tmp_path / "checkpoint.aaaa.pt", "aaaa")["step"] == 10
    capsys.readouterr()

    again, ran = _run(ckpt, "aaaa")  # back: nothing left to train, the same weights
    assert ran == 0
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert load_checkpoint(ckpt, "aaaa")["step"] == 10 and not (tmp_path / "checkpoint.aaaa.pt").exists()
    assert load_checkpoint(tmp_path / "checkpoint.bbbb.pt", "bbbb")["step"] == 10  # the other one kept in turn
    out = capsys.readouterr().out
    assert "kept as" in out and "checkpoint.bbbb.pt" in out and "resuming" in out and "starting afresh" not in out


def test_an_unfinished_set_aside_checkpoint_resumes_where_it_stopped(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    _run(ckpt, "aaaa", steps=5)  # interrupted after 5 of 10 steps, as far as the checkpoint knows
    _run(ckpt, "bbbb")
    _, ran = _run(ckpt, "aaaa", steps=10)
    assert ran == 5 and load_checkpoint(ckpt, "aaaa")["step"] == 10


def test_only_a_readable_checkpoint_of_that_fingerprint_is_restored(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    model = nn.Linear(4, 4)
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "checkpoint.aaaa.pt", model, opt, 3, "cccc")  # renamed by hand: not aaaa's
    (tmp_path / "checkpoint.dddd.pt").write_bytes(b"truncated")
    assert restore_set_aside_checkpoint(ckpt, "aaaa") is None
    assert restore_set_aside_checkpoint(ckpt, "dddd") is None
    assert not ckpt.exists() and (tmp_path / "checkpoint.dddd.pt").read_bytes() == b"truncated"
    _, ran = _run(ckpt, "aaaa")
    assert ran == 10 and load_checkpoint(tmp_path / "checkpoint.aaaa.pt")["fingerprint"] == "cccc"


def test_training_seconds_survive_resuming_a_finished_checkpoint(tmp_path):
    """A stage rerun on a finished checkpoint runs no step but still reports what its model cost."""
    ckpt = tmp_path / "checkpoint.pt"
    _run(ckpt, "aaaa", steps=5)
    after_five = checkpoint_train_seconds(ckpt)
    assert after_five is not None and after_five > 0
    _run(ckpt, "aaaa", steps=10)  # resumed: the next 5 steps add to the first 5's seconds
    after_ten = checkpoint_train_seconds(ckpt)
    assert after_ten > after_five
    _, ran = _run(ckpt, "aaaa", steps=10)  # finished: nothing runs, nothing changes
    assert ran == 0 and checkpoint_train_seconds(ckpt) == after_ten


def test_a_checkpoint_without_training_seconds_reports_none_after_resuming(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    _run(ckpt, "aaaa", steps=5)
    state = torch.load(ckpt, weights_only=True)
    del state["train_seconds"]  # as written before the seconds were kept
    torch.save(state, ckpt)
    _run(ckpt, "aaaa", steps=10)
    assert load_checkpoint(ckpt, "aaaa")["step"] == 10 and checkpoint_train_seconds(ckpt) is None
