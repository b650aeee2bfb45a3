"""The profile keys each GJSCC stage reads (dotted, from the profile's root).

One list serves two purposes: the stage list declares them as the stage's parameters (DVC
``params:``, Snakemake ``params``), and a stage's checkpoint and run key are fingerprinted by
their values (:func:`key_fingerprint`), so editing a key no stage of a kind reads neither reruns
nor invalidates it.  An optional key the profile leaves out is not a parameter
(:func:`present`): DVC refuses a parameter missing from the file.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from jscc_core.profiles import canonical_json, thaw

RUN_KEYS = ("seed", "threads", "device")  # every stage seeds, sizes its thread pool and picks its device
#: Fingerprints hash the top-level ``device`` under ``gjscc.device``, the block key GJSCC read it from
#: before every pipeline shared one: moving it invalidates no checkpoint, run key or partial evaluation.
HASHED_AS = {"device": "gjscc.device"}
FACES_KEYS = ("gjscc.image_size", "gjscc.data.faces")  # the face set, read through split.json
NATURAL_KEYS = ("gjscc.image_size", "gjscc.data.natural", "gjscc.data.natural_crop", "gjscc.data.natural_limit",
                "gjscc.data.split")
SPLIT_KEYS = ("seed", "gjscc.data.faces", "gjscc.data.split")

#: Keys that rebuild G from its weights.
GENERATOR_KEYS = ("gjscc.generator.size", "gjscc.generator.style_dim", "gjscc.generator.n_mlp",
                  "gjscc.generator.channels", "gjscc.generator.lr_mlp")
#: Keys that rebuild a trained DeepJSCC (A) from its folder (c_out is the stage's own argument).
DEEPJSCC_MODEL_KEYS = ("gjscc.deepjscc.filters", "gjscc.deepjscc.af_bottleneck")
#: Keys that rebuild a trained GenerativeJSCC: A's encoder, the frozen G and the latent map.
GENERATIVE_MODEL_KEYS = DEEPJSCC_MODEL_KEYS + GENERATOR_KEYS + ("gjscc.generative.latent_map",)

_DEEPJSCC_TRAINING = RUN_KEYS + DEEPJSCC_MODEL_KEYS + ("gjscc.deepjscc.train_snr_db", "gjscc.deepjscc.loss",
                                                       "gjscc.deepjscc.schedule")
#: Keys of a DeepJSCC training run, by training domain.
DEEPJSCC_TRAINING_KEYS = {"faces": _DEEPJSCC_TRAINING + FACES_KEYS, "natural": _DEEPJSCC_TRAINING + NATURAL_KEYS}
#: Keys of GenerativeJSCC's training stages 1 and 2 (the SNRs are A's: "as before", Sec. V-C).
GENERATIVE_TRAINING_KEYS = {
    stage: RUN_KEYS + GENERATIVE_MODEL_KEYS + FACES_KEYS
    + ("gjscc.deepjscc.train_snr_db", "gjscc.generative.loss", f"gjscc.generative.stage{stage}")
    for stage in (1, 2)}
#: Keys of an evaluation of DeepJSCC or GenerativeJSCC on the test faces (and the out-of-distribution
#: faces); it keeps the reconstructions of the first fig09.images faces at every SNR for Fig. 9, so
#: the grid's SNRs and c_out are the figure's keys alone.
_EVAL = RUN_KEYS + FACES_KEYS + ("gjscc.data.test_limit", "gjscc.data.ood_faces", "gjscc.test_snr_db",
                                  "gjscc.ms_ssim_scales", "gjscc.fig09.images")
EVAL_KEYS = {"deepjscc": DEEPJSCC_MODEL_KEYS + _EVAL, "generative": GENERATIVE_MODEL_KEYS + _EVAL}
#: Keys of InverseJSCC through one A; it keeps the reconstructions of the first fig07.images faces
#: at every SNR for Fig. 7.
INVERSE_KEYS = (RUN_KEYS + DEEPJSCC_MODEL_KEYS + GENERATOR_KEYS + FACES_KEYS
                + ("gjscc.inverse", "gjscc.ms_ssim_scales", "gjscc.fig07.images"))
#: Keys of the figures: the seed on every page and the picture grids' settings.
FIGURE_KEYS = {"fig06": ("seed",), "fig07": ("seed", "gjscc.fig07"), "fig08": ("seed",),
               "fig09": ("seed", "gjscc.fig09")}


def present(profile, keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` the profile sets (an optional key left out is read as absent, not declared)."""
    return tuple(k for k in dict.fromkeys(keys) if profile.get(k) is not None)


def key_values(profile, keys: Iterable[str]) -> dict:
    """``{key: value}`` of the keys ``profile`` sets, as plain dicts and lists."""
    return {k: thaw(profile.get(k)) for k in present(profile, keys)}


def key_fingerprint(profile, keys: Iterable[str], **extra) -> str:
    """16 hex digits of a SHA-256 of the keys' values and ``extra`` (the stage's own arguments,
    digests of the weights it starts from): what a checkpoint or run key is valid for."""
    values = {HASHED_AS.get(k, k): v for k, v in key_values(profile, keys).items()}
    blob = canonical_json({"keys": values, **extra})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
