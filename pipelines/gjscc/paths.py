"""Where GJSCC's stages write: the split, the generator, model folders, evaluations and pictures.

Light (no model code), so the stage list, the entry points and the figures name the same paths.
Every folder is under results/<profile>/gjscc/."""
from __future__ import annotations

from pipelines.paths import results_dir

DOMAINS = ("faces", "natural")  # training domain of DeepJSCC's A: the face set, or natural images (ImageNet)
BANDWIDTH_DIVISOR = 1536  # rho = c_out / 1536 complex channel uses per source dimension (downsampling by 16)


def rho(c_out: int) -> float:
    """Bandwidth ratio of a DeepJSCC / GenerativeJSCC with ``c_out`` real channels per latent position:
    (H/16)(W/16) c_out / 2 complex symbols for 3HW source dimensions, c_out / 1536."""
    return c_out / BANDWIDTH_DIVISOR


def root(profile) -> str:
    """Folder of every GJSCC result of ``profile``."""
    return f"{results_dir(profile)}/gjscc"


def split_file(profile) -> str:
    """The recorded train / val / test split of the face set (split.json)."""
    return f"{root(profile)}/split.json"


def generator_dir(profile) -> str:
    """Folder of the StyleGAN-2 prior G: generator.pt (a state dict) and, when trained, run.json."""
    return f"{root(profile)}/generator"


def generator_weights(profile) -> str:
    return f"{generator_dir(profile)}/generator.pt"


def deepjscc_dir(profile, domain: str, c_out: int) -> str:
    """DeepJSCC (the forward operator A) trained on ``domain`` with ``c_out`` channels."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    return f"{root(profile)}/deepjscc/{domain}_c{c_out}"


def generative_dir(profile, c_out: int, stage: int = 2) -> str:
    """GenerativeJSCC with ``c_out`` channels after training stage 1 (P_n off) or 2 (the final model)."""
    if stage not in (1, 2):
        raise ValueError(f"GenerativeJSCC has training stages 1 and 2, got {stage!r}")
    return f"{root(profile)}/generative/c{c_out}" + ("_stage1" if stage == 1 else "")


def inverse_dir(profile, domain: str, c_out: int) -> str:
    """InverseJSCC through the DeepJSCC trained on ``domain`` with ``c_out`` channels."""
    return f"{root(profile)}/inverse/{domain}_c{c_out}"


def model_files(folder: str) -> tuple[str, str]:
    """(model.pt, run.json) of a trained model folder."""
    return f"{folder}/model.pt", f"{folder}/run.json"


def eval_files(folder: str) -> tuple[str, str, str]:
    """(eval.csv, eval.json, pictures.npz) of an evaluated model folder or an InverseJSCC folder."""
    return f"{folder}/eval.csv", f"{folder}/eval.json", f"{folder}/pictures.npz"
