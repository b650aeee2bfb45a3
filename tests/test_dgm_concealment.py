"""Concealment by the regression head beats zero-filling on held-out images: a tiny codec trained
for a few seconds on crops of some natural images, tested on crops of others with a share of the
tokens lost, through the real packets (lost packets dropped, the rest decoded)."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from jscc_core.images import RandomCrops, load_dataset, to_tensor
from jscc_core.training import TrainSchedule, train
from resilient_transport import ResilientCodec
from resilient_transport.objective import rd_loss

MIRROR = Path(os.environ.get("JSCC_DATA_MIRROR", "/nonexistent"))


@pytest.mark.skipif(not (MIRROR / "natural_train").is_dir(), reason="needs the natural training images")
def test_concealment_beats_zero_filling_on_held_out_images(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gain = _gains(tmp_path)
    finally:
        torch.set_num_threads(threads)
    # MSE of the zero-filled minus the concealed reconstruction, per held-out image and loss pattern
    assert np.mean(gain) > 0 and np.mean(np.array(gain) > 0) >= 2 / 3, gain


def _gains(tmp_path) -> list[float]:
    torch.manual_seed(0)
    images = [im for im in load_dataset("natural_train", MIRROR, limit=12).values() if min(im.shape[:2]) >= 96]
    train_set, held_out = images[:8], images[8:]
    codec = ResilientCodec(n=16, m=8, units=1, dim=16, depth=2, heads=2, window=4)
    schedule = TrainSchedule(steps=100, batch_size=4, learning_rate=3e-3, checkpoint_every=100, log_every=100)
    train(codec, lambda model, x: rd_loss(model, x, 0.013), RandomCrops(train_set, 64).sample, schedule,
          tmp_path / "ckpt.pt", "concealment-test")
    codec.eval()
    gain = []
    for im in held_out:
        x = to_tensor(im[:96, :96])
        packets = codec.compress(x, n_packets=10)
        for lost in ([0, 1, 2], [3, 5, 7, 9], [1, 4, 6, 8]):
            received = [None if i in lost else p for i, p in enumerate(packets)]
            y, decoded, report, _ = codec.decode_latent(received)
            assert report.concealed_tokens > 0
            with torch.no_grad():
                concealed = codec.g_s(y[None]).clamp(0, 1)
                zero = codec.g_s(torch.where(decoded, y, torch.zeros_like(y))[None]).clamp(0, 1)
            gain.append(float(((zero - x) ** 2).mean() - ((concealed - x) ** 2).mean()))
    return gain
