"""The profile keys each NTSCC image stage reads, relative to its block ``ntscc.<block>``.

One list serves two purposes: the stage list declares them as the stage's parameters (DVC
``params:``, Snakemake ``params``), and a training checkpoint is keyed by their values
(``training_fingerprint`` in ``pipelines/ntscc/images.py``), so a key outside a list can be
edited without retraining or re-evaluating anything that does not read it.
"""
from __future__ import annotations

RUN_KEYS = ("seed", "threads")  # every stage seeds and sizes its thread pool from these

#: Keys a training run of each model kind reads, besides its schedule ``schedules.<kind>``
#: (the NTSCC variants also read their eta range, see :func:`eta_train_key`).
_NTSCC_TRAINING = ("train_set", "crop", "ntc", "jscc", "side_info", "train_snr_db")
TRAINING_KEYS = {
    "ntc": ("train_set", "crop", "ntc"),
    "ntscc": _NTSCC_TRAINING, "comparison_i": _NTSCC_TRAINING, "comparison_ii": _NTSCC_TRAINING,
    "deepjscc": ("train_set", "crop", "train_snr_db", "deepjscc.filters", "deepjscc.gdn"),
    # eq. (29): the NTSCC's keys, the loss weights, the discriminator and the eta range (not the lambda list)
    "perceptual": _NTSCC_TRAINING + ("perceptual.beta_m", "perceptual.beta_l", "perceptual.beta_d",
                                     "perceptual.discriminator", "perceptual.eta_train"),
}
#: Keys that rebuild a trained model of any kind from its folder.
MODEL_KEYS = ("ntc", "jscc", "side_info", "deepjscc.filters", "deepjscc.gdn")
#: Keys of an evaluation: the models, the test set and every operating point (eta, SNR); the
#: training set too, whose checksums its provenance records.
EVAL_KEYS = MODEL_KEYS + ("train_set", "test_set", "test_limit", "train_snr_db", "fig11_snr_db", "test_snr_db",
                          "eta_test", "eta_fig12", "ms_ssim.eta_test", "ms_ssim.eta_fig13")
RATE_MAP_KEYS = MODEL_KEYS + ("test_set", "fig08")
TIMING_KEYS = MODEL_KEYS + ("test_set", "test_limit", "fig11_snr_db", "eta_fig12")
#: Figs. 15-16: the crops and the operating point each scheme is shown at.
CROP_KEYS = MODEL_KEYS + ("test_set", "test_limit", "fig11_snr_db", "perceptual.crops", "perceptual.crop_size",
                          "perceptual.crop_cbr")


def eta_train_key(distortion: str) -> str:
    """The eta range an NTSCC model of ``distortion`` ('mse' or 'ms_ssim') is trained on."""
    return "eta_train" if distortion == "mse" else "ms_ssim.eta_train"


def block_keys(profile, block: str, keys) -> tuple[str, ...]:
    """``ntscc.<block>.<key>`` for each of ``keys`` that ``profile`` sets (an optional key left
    out is not a parameter: DVC refuses a parameter missing from the file)."""
    full = (f"ntscc.{block}.{k}" for k in keys)
    return tuple(k for k in full if profile.get(k) is not None)
