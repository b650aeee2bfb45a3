"""``ntscc.images.ntc.aux_learning_rate``: the entropy bottleneck's quantiles train at the profile's
rate, a key of the NTC's (and NTSCC's) training, not of deep JSCC's."""
from __future__ import annotations

from pathlib import Path

import pytest

from ntscc.image.ntc import ImageNTC, NTCConfig
from ntscc.image.objectives import AUX_LEARNING_RATE, quantile_training
from pipelines.ntscc.images import aux_learning_rate, images_cfg, training_fingerprint
from pipelines.profile import load

TINY = Path(__file__).parent / "profiles" / "images_tiny.yaml"


def test_the_profile_rate_reaches_the_quantiles_and_keys_only_the_models_that_have_them(tmp_path):
    fast = tmp_path / "fast.yaml"
    fast.write_text(f"extends: {TINY}\nntscc:\n  images:\n    ntc: {{aux_learning_rate: 0.01}}\n")
    base, other = load(str(TINY)), load(str(fast))
    assert aux_learning_rate(images_cfg(base), "ntc") == AUX_LEARNING_RATE
    assert aux_learning_rate(images_cfg(other), "ntscc") == 0.01
    assert aux_learning_rate(images_cfg(other), "deepjscc") == AUX_LEARNING_RATE  # no quantiles to train
    params = {"lmbda": 64.0, "distortion": "mse"}
    for kind, sched, changes in (("ntc", "ntc", True), ("ntscc", "ntscc", True), ("deepjscc", "deepjscc", False)):
        fps = {training_fingerprint(p, kind, "images", sched, params) for p in (base, other)}
        assert (len(fps) == 2) is changes, kind
    model = ImageNTC(NTCConfig(c=8, embed_dims=(8, 8), depths=(1, 1), heads=2, window=4, hyper_channels=4))
    assert quantile_training(model, 0.01).learning_rate == 0.01
    with pytest.raises(ValueError, match="learning_rate must be > 0, got 0"):
        quantile_training(model, 0)
