"""Where NTSCC's stages write: model folders and tags, evaluation files.  Light (no model code),
so the stage list, the entry points and the figures name the same paths."""
from __future__ import annotations

from pipelines.paths import lambda_tag, results_dir


def banana_root(profile) -> str:
    """Folder of the banana-source models (``ntc/``, ``ntscc/``, ``deepjscc/``) and ``eval/``."""
    return f"{results_dir(profile)}/ntscc/banana"


def model_tag(variant: str, distortion: str = "mse", *, lmbda: float | None = None, c_out: int | None = None,
              cbr: float | None = None) -> str:
    """Folder name of a trained image model: ntscc_mse_lam64, deepjscc_mse_c3, comparison_ii_mse_cbr0.0625."""
    if lmbda is not None:
        return f"{variant}_{distortion}_{lambda_tag(lmbda)}"
    if c_out is not None:
        return f"{variant}_{distortion}_c{c_out}"
    return f"{variant}_{distortion}_cbr{cbr:g}"


def snr_tag(tag: str, snr_db: float) -> str:
    """Folder name of a model fine-tuned at ``snr_db`` from the model ``tag``: ntscc_mse_lam16_snr4."""
    return f"{tag}_snr{snr_db:g}"


def image_root(profile, block: str = "images") -> str:
    """Folder of the models of profile block ``ntscc.<block>`` (``images``: Kodak, ``cifar``: CIFAR-10)."""
    return f"{results_dir(profile)}/ntscc/{block}"


def eval_files(folder: str) -> tuple[str, str]:
    """(eval.csv, eval.json) of the model in ``folder``."""
    return f"{folder}/eval.csv", f"{folder}/eval.json"


def model_files(folder: str) -> tuple[str, str]:
    """(model.pt, run.json) of the model in ``folder``."""
    return f"{folder}/model.pt", f"{folder}/run.json"


class ModelPaths:
    """Folders of the Kodak models of a profile (block ``ntscc.images``), by role."""

    def __init__(self, profile):
        cfg = profile.get("ntscc.images")
        root = image_root(profile)
        self.ntc = {lam: f"{root}/{model_tag('ntc', lmbda=lam)}" for lam in cfg["lambdas"]}
        self.ntscc = {lam: f"{root}/{model_tag('ntscc', lmbda=lam)}" for lam in cfg["lambdas"]}
        lam = cfg["ablation"]["lmbda"]
        self.comparison_i = f"{root}/{model_tag('comparison_i', lmbda=lam)}"
        self.comparison_ii = {c: f"{root}/{model_tag('comparison_ii', cbr=c)}"
                              for c in cfg["ablation"]["comparison_ii_cbr"]}
        self.deepjscc = {c: f"{root}/{model_tag('deepjscc', c_out=c)}" for c in cfg["deepjscc"]["c_out"]}
        # MS-SSIM models: lambda -> (folder, the MSE model it is fine-tuned from)
        self.ntscc_ms_ssim = {lam: (f"{root}/{model_tag('ntscc', 'ms_ssim', lmbda=lam)}", self.ntscc[mse])
                              for lam, mse in zip(cfg["ms_ssim"]["lambdas"], cfg["lambdas"])}
        self.deepjscc_ms_ssim = {c: (f"{root}/{model_tag('deepjscc', 'ms_ssim', c_out=c)}", self.deepjscc[c])
                                 for c in cfg["deepjscc"]["c_out"]}
        # Fig. 12(a) fine-tunes (fig12_per_snr): SNR -> (folder, the train_snr_db model it starts from)
        per = cfg.get("fig12_per_snr") or {"snr_db": ()}
        self.ntscc_per_snr = {s: (f"{root}/{snr_tag(model_tag('ntscc', lmbda=per['lmbda']), s)}",
                                  self.ntscc[per["lmbda"]]) for s in per["snr_db"]}
        self.deepjscc_per_snr = {s: (f"{root}/{snr_tag(model_tag('deepjscc', c_out=per['c_out']), s)}",
                                     self.deepjscc[per["c_out"]]) for s in per["snr_db"]}
        # perceptual models (eq. 29, Figs. 14-16): lambda -> (folder, the MSE model of that lambda it starts from)
        self.ntscc_perceptual = {lam: (f"{root}/{model_tag('ntscc', 'perceptual', lmbda=lam)}", self.ntscc[lam])
                                 for lam in (cfg.get("perceptual") or {}).get("lambdas", ())}

    def evaluated(self) -> list[str]:
        """Every model folder that gets an evaluation stage."""
        return [*self.ntscc.values(), self.comparison_i, *self.comparison_ii.values(), *self.deepjscc.values(),
                *self.ms_ssim_models(), *(f for f, _ in self.ntscc_perceptual.values())]

    def ms_ssim_models(self) -> list[str]:
        return [f for f, _ in (*self.ntscc_ms_ssim.values(), *self.deepjscc_ms_ssim.values())]

    def fig12_evals(self) -> list[str]:
        """Evaluation CSVs Fig. 12 adds to the separation curves: every NTSCC model and deep JSCC."""
        return [eval_files(f)[0] for f in (*self.ntscc.values(), *self.deepjscc.values())]

    def fig12_per_snr_evals(self) -> list[str]:
        """Evaluation CSVs of the Fig. 12(a) fine-tunes, each tested at its own SNR (none when the
        profile has no ``fig12_per_snr``)."""
        return [eval_files(f)[0] for f, _ in (*self.ntscc_per_snr.values(), *self.deepjscc_per_snr.values())]


class CifarPaths:
    """Folders of the CIFAR-10 models (block ``ntscc.cifar``): NTC and NTSCC per λ, deep JSCC per c_out."""

    def __init__(self, profile):
        cfg = profile.get("ntscc.cifar")
        root = image_root(profile, "cifar")
        self.ntc = {lam: f"{root}/{model_tag('ntc', lmbda=lam)}" for lam in cfg["lambdas"]}
        self.ntscc = {lam: f"{root}/{model_tag('ntscc', lmbda=lam)}" for lam in cfg["lambdas"]}
        self.deepjscc = {c: f"{root}/{model_tag('deepjscc', c_out=c)}" for c in cfg["deepjscc"]["c_out"]}

    def evaluated(self) -> list[str]:
        return [*self.ntscc.values(), *self.deepjscc.values()]


def ntc_rd_files(folder: str) -> tuple[str, str]:
    """(ntc_rd.csv, ntc_rd.json): rate-distortion with no channel of the NTC of the model in ``folder``."""
    return f"{folder}/ntc_rd.csv", f"{folder}/ntc_rd.json"
