"""The profile keys each dgm stage reads (dotted, from the profile's root): declared as the stage's
parameters, and the training keys fingerprint the checkpoint, so editing a key reruns exactly its
readers.  An optional key the profile leaves out is not a parameter (DVC refuses a missing one)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from jscc_core.profiles import canonical_json, thaw

RUN_KEYS = ("seed", "threads")
TEST_KEYS = ("dgm.test_set", "dgm.test_limit", "dgm.test_crop")
CODEC_KEYS = ("dgm.codec", "dgm.order")
TRAINING_KEYS = RUN_KEYS + CODEC_KEYS + ("dgm.train_set", "dgm.train_limit", "dgm.crop", "dgm.conceal_weight",
                                         "dgm.mask_share", "dgm.schedule")
CODING_KEYS = RUN_KEYS + CODEC_KEYS + TEST_KEYS + ("dgm.packets",)
RD_KEYS = CODING_KEYS + ("dgm.rd_steps",)
MODE_KEYS = ("dgm.layered_below", "dgm.multiple_description_from", "dgm.redundant_step")
TRACE_KEYS = CODING_KEYS + ("dgm.trace", "dgm.trace_step") + MODE_KEYS
BASELINE_KEYS = RUN_KEYS + TEST_KEYS + ("dgm.packets", "dgm.trace", "dgm.fec")
FIGURE_KEYS = ("seed", "dgm.test_set", "dgm.trace", "dgm.fec.provisioning") + MODE_KEYS
BENCHMARK_KEYS = CODING_KEYS + ("dgm.trace_step", "dgm.redundant_step", "dgm.fec.preset", "dgm.benchmark")

# Fig. 5: the test faces come from gjscc's split, the prior from its generator
FIG05_RUN_KEYS = RUN_KEYS + ("device",)
FIG05_FACE_KEYS = FIG05_RUN_KEYS + ("gjscc.data.faces", "gjscc.data.split", "gjscc.image_size", "dgm.fig05.images",
                                    "dgm.fig05.snr_db", "dgm.fig05.max_rho")
FIG05_SEPARATION_KEYS = FIG05_FACE_KEYS + ("dgm.fig05.separation",)
FIG05_DEEPJSCC_KEYS = FIG05_RUN_KEYS + ("gjscc.data.faces", "gjscc.data.split", "gjscc.image_size",
                                        "gjscc.deepjscc.filters", "gjscc.deepjscc.af_bottleneck", "dgm.fig05.deepjscc")
FIG05_POSTERIOR_KEYS = FIG05_FACE_KEYS + FIG05_DEEPJSCC_KEYS + ("gjscc.generator", "gjscc.inverse",
                                                                "dgm.fig05.posterior")
# NTSCC on the faces: the NTC's training, NTSCC's (from the NTC's weights, fingerprinted by value), the evaluation
_FIG05_NTSCC_DATA = RUN_KEYS + ("device", "gjscc.data.faces", "gjscc.data.split", "gjscc.image_size",
                                "dgm.fig05.ntscc.ntc", "dgm.fig05.ntscc.lmbda")
FIG05_NTSCC_NTC_KEYS = _FIG05_NTSCC_DATA + ("dgm.fig05.ntscc.schedules.ntc",)
FIG05_NTSCC_TRAIN_KEYS = _FIG05_NTSCC_DATA + ("dgm.fig05.ntscc.jscc", "dgm.fig05.ntscc.side_info",
                                              "dgm.fig05.ntscc.eta_train", "dgm.fig05.ntscc.train_snr_db",
                                              "dgm.fig05.ntscc.schedules.ntscc")
FIG05_NTSCC_KEYS = FIG05_FACE_KEYS + FIG05_NTSCC_TRAIN_KEYS + ("dgm.fig05.ntscc.eta", "dgm.fig05.ntscc.without_z")
FIG05_SCORE_KEYS = FIG05_FACE_KEYS + ("gjscc.ms_ssim_scales",)
FIG05_FIGURE_KEYS = ("seed", "dgm.fig05.snr_db", "dgm.fig05.max_rho", "dgm.fig05.picture",
                     "dgm.fig05.separation.stale_estimate_db", "dgm.fig05.separation.fixed_estimate_db")


def present(profile, keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` the profile sets."""
    return tuple(k for k in dict.fromkeys(keys) if profile.get(k) is not None)


def fingerprint(profile, keys: Iterable[str], *, device_as: tuple[str, ...] = ("gjscc.device",), **extra) -> str:
    """16 hex digits of a SHA-256 of the keys' values and ``extra``: what a checkpoint is valid for.
    The top-level ``device`` is hashed under each name of ``device_as``: ``gjscc.device`` (the stages on
    gjscc's models read it there before every pipeline shared one key), ``device`` (the NTSCC stages
    always read that), so the move invalidates no checkpoint or record."""
    values = {k: thaw(profile.get(k)) for k in present(profile, keys) if k != "device"}
    if "device" in present(profile, keys):
        values.update((name, thaw(profile.get("device"))) for name in device_as)
    return hashlib.sha256(canonical_json({"keys": values, **extra}).encode()).hexdigest()[:16]
