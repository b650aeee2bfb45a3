"""Fig. 5, scheme (iii): generative JSCC by posterior sampling of the StyleGAN-2 prior given the received
DeepJSCC symbols (:class:`generative_jscc.posterior.PosteriorJSCC`, unadjusted Langevin dynamics).

    python -m pipelines.dgm.fig05_posterior run --profile mini --data data --split results/mini/gjscc/split.json \\
        --generator results/mini/gjscc/generator --model results/mini/dgm/fig05/models/deepjscc_mse \\
        --out results/mini/dgm/fig05/posterior.npz

For every SNR of ``dgm.fig05.snr_db`` and every test face (:func:`pipelines.dgm.fig05_record.test_faces`)
the face goes through f_theta of the MSE-trained DeepJSCC (c_out ``dgm.fig05.deepjscc.c_out``) and one
seeded complex-AWGN draw; the receiver runs ``dgm.fig05.posterior.samples`` Langevin chains on G's latent
and noise maps given those symbols y, each started from its own CSGM estimate (InverseJSCC round 0 on the
sampler's energy, with ``gjscc.inverse``'s Adam ramp, noise layers and latent statistics).  Nothing but
the DeepJSCC's symbols is sent, so a face costs its complex channel uses.  The channel draw is the DeepJSCC-MSE
scheme's (:data:`CHANNEL_SEED`), so both decode the same y; the chains are seeded by this stage's seed, the SNR
and the face.  The record
(:func:`pipelines.dgm.fig05_record.write_record`) holds chain 0's image as the reconstruction and all
chains as ``samples``; its JSON adds the sampler's settings, the seconds per face and SNR and the
energies (random start, CSGM start, last state) with their data terms.  Finished (SNR, face) pairs are
kept under checkpoints/<profile>/dgm/fig05_posterior/ as they are made, so an interrupted stage resumes.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from generative_jscc.posterior import PosteriorJSCC
from jscc_core.determinism import seed_everything, stage_seed
from jscc_core.training import weights_digest
from pipelines.cli import run_stage, stage_cli
from pipelines.dgm.fig05_record import test_faces, write_record
from pipelines.dgm.keys import FIG05_POSTERIOR_KEYS, fingerprint
from pipelines.gjscc.common import as_tensor, as_uint8, check_image_size, check_snrs
from pipelines.gjscc.evaluate import USER_ERRORS, channel_generator, load_partial, progress_bar, save_partial
from pipelines.gjscc.generator import load_generator, stage_device
from pipelines.gjscc.models import load_model
from pipelines.profile import load

SCHEME = "posterior"
LABEL = "Generative JSCC (posterior sampling, Langevin)"
#: The channel draw of a face at an SNR is seeded by the profile's seed and f"{CHANNEL_SEED}/{snr:g}/{face}", not by
#: the stage, as in the DeepJSCC-MSE scheme's evaluation: both schemes decode the same received y
CHANNEL_SEED = "dgm/fig05/channel"
#: Per (SNR, face) diagnostics kept in the partial file and the record's JSON (seconds: wall clock, cpu_seconds:
#: this process's CPU time, the two differ when other processes share the cores)
DIAGNOSTICS = ("seconds", "cpu_seconds", "energy_start", "energy_init", "energy", "data_init", "data")


def load_measurement_model(profile, folder: str | Path, device: torch.device):
    """(DeepJSCC f_theta, run.json) of ``folder``; a model of another c_out than ``dgm.fig05.deepjscc.c_out``
    is a ValueError naming both."""
    model, meta = load_model(profile, folder, device)
    c_out = int(profile.get("dgm.fig05.deepjscc.c_out"))
    if meta["kind"] != "deepjscc" or model.c_out != c_out:
        raise ValueError(f"{folder} holds a {meta['kind']} model with c_out {meta.get('c_out')}; posterior sampling "
                         f"needs the DeepJSCC of dgm.fig05.deepjscc.c_out = {c_out} (its dgm_fig05 training stage)")
    return model, meta


def build_sampler(profile, G, A) -> PosteriorJSCC:
    """The sampler of ``dgm.fig05.posterior``, its CSGM start with ``gjscc.inverse``'s Adam ramp and statistics."""
    cfg, inv = profile.get("dgm.fig05.posterior"), profile.get("gjscc.inverse")
    if cfg["sampler"] != "langevin":
        raise ValueError(f"dgm.fig05.posterior.sampler = {cfg['sampler']!r}; only 'langevin' is implemented")
    return PosteriorJSCC(G, A, samples=int(cfg["samples"]), init_steps=int(cfg["init_steps"]),
                         init_learning_rate=float(inv["learning_rate"]), init_rampup=float(inv["lr_rampup"]),
                         init_rampdown=float(inv["lr_rampdown"]), init_noise_layers=int(inv["noise_layers"]),
                         steps=int(cfg["steps"]), step_size=float(cfg["step_size"]),
                         step_size_final_ratio=float(cfg["step_size_final_ratio"]),
                         temperature=float(cfg["temperature"]), latent_samples=int(inv["latent_samples"]),
                         stats_seed=int(inv["stats_seed"]), image_size=int(profile.get("gjscc.image_size")))


def cmd_run(args) -> None:
    started = time.perf_counter()
    profile = load(args.profile)
    device = stage_device(profile)
    seed = stage_seed(int(profile["seed"]), "dgm/fig05_posterior")
    seed_everything(seed, threads=int(profile["threads"]))
    snrs = check_snrs(profile.get("dgm.fig05.snr_db"), profile.get("dgm.fig05.deepjscc.train_snr_db"),
                      "dgm.fig05.snr_db")
    A, meta = load_measurement_model(profile, args.model, device)
    weights = Path(args.generator) / "generator.pt"
    G = load_generator(profile, weights, device)
    ids, faces = test_faces(profile, args.split, args.data)
    size = int(profile.get("gjscc.image_size"))
    x_all = check_image_size(as_tensor(faces), size, f"{profile.get('gjscc.data.faces')} faces")
    sampler = build_sampler(profile, G, A)
    generator = {"path": str(weights), "weights_sha256": weights_digest(weights)}
    fp = fingerprint(profile, FIG05_POSTERIOR_KEYS, model=meta["run_key"], generator=generator["weights_sha256"])
    partial = Path("checkpoints") / profile.name / "dgm" / "fig05_posterior" / "partial.pt"
    rows, samples = load_partial(partial, fp)
    done = {(float(r["snr_db"]), r["image_id"]) for r in rows}
    bar = progress_bar(len(snrs) * len(ids), "posterior sampling")
    bar.update(len(done))
    for snr in snrs:
        for image_id, x in zip(ids, x_all):
            if (snr, image_id) in done:
                continue
            x = x[None].to(device)
            with torch.no_grad():  # the transmitter: f_theta and one seeded channel draw
                y = A.channel(A.f_theta(x, snr), snr, generator=channel_generator(
                    int(profile["seed"]), f"{CHANNEL_SEED}/{snr:g}/{image_id}", device))
            t0, c0 = time.perf_counter(), time.process_time()
            result = sampler.sample(y, snr, generator=channel_generator(seed, f"chains/{snr}/{image_id}", device))
            seconds = time.perf_counter() - t0
            rows.append({"snr_db": snr, "image_id": image_id, "seconds": seconds,
                         "cpu_seconds": time.process_time() - c0,
                         **{k: getattr(result, k)[0].tolist() for k in DIAGNOSTICS[2:]}})
            samples[f"{snr}/{image_id}"] = torch.from_numpy(as_uint8(result.x[0]))
            save_partial(partial, fp, rows, samples)
            bar.update(1)
            bar.set_postfix_str(f"{seconds:.1f} s/face")
    bar.close()
    stack = np.stack([np.stack([samples[f"{snr}/{i}"].numpy() for i in ids]) for snr in snrs])  # (S, N, K, H, W, 3)
    by_key = {(float(r["snr_db"]), r["image_id"]): r for r in rows}
    table = {k: [[by_key[snr, i][k] for i in ids] for snr in snrs] for k in DIAGNOSTICS}
    seconds, cpu = np.asarray(table["seconds"]), np.asarray(table["cpu_seconds"])
    uses = A.channel_uses(size, size)
    cfg = profile.get("dgm.fig05.posterior")
    info = write_record(
        args.out, Path(args.out).with_suffix(".json"), ids=ids, snr_db=snrs,
        images=np.ascontiguousarray(stack[:, :, 0]),
        channel_uses=[[uses] * len(ids) for _ in snrs], max_rho=float(profile.get("dgm.fig05.max_rho")),
        samples=stack, meta={
            "scheme": SCHEME, "label": LABEL, "fingerprint": fp,
            "sampler": {"method": "unadjusted Langevin dynamics on G's Gaussianised latent and noise maps",
                        "energy": "||y - f_theta(G(v, n))||^2 / sigma^2 + ||v||^2 / 2 + sum ||n_l||^2 / 2",
                        "start": "CSGM: InverseJSCC round 0 (Adam, spherical projection) on the same energy",
                        "samples": sampler.samples, "init_steps": sampler.init_steps,
                        "init_learning_rate": sampler.init_learning_rate,
                        "init_noise_layers": sampler.init_noise_layers,
                        "steps": sampler.steps, "step_size": sampler.step_size,
                        "step_size_final_ratio": sampler.step_size_final_ratio, "temperature": sampler.temperature,
                        "profile_block": {k: cfg[k] for k in cfg}},
            "model": {k: meta.get(k) for k in ("name", "run_id", "run_key", "c_out", "rho")}, "generator": generator,
            "seconds_per_face_snr": {"mean": float(seconds.mean()), "max": float(seconds.max()),
                                     "cpu_mean": float(cpu.mean()), "cpu_max": float(cpu.max()),
                                     "values": table["seconds"], "cpu_values": table["cpu_seconds"]},
            "energies": {k: table[k] for k in DIAGNOSTICS[2:]}, "channel_symbols_k": uses,
            "threads": torch.get_num_threads(), "device": str(device),
            "wall_time_s": round(time.perf_counter() - started, 3),
            "compute_seconds": round(float(seconds.sum()), 3),  # every face and SNR, resumed ones included
            "notes": [f"{sampler.samples} Langevin chains per face and SNR; images are chain 0, samples all chains",
                      f"channel uses: the DeepJSCC's k = {uses} complex symbols per face, nothing else is sent",
                      "energies per chain: random start, CSGM start (Langevin's first state), last state; "
                      f"data = the likelihood term, about k = {uses} for a face consistent with y"]})
    tqdm.write(f"posterior: {len(ids)} faces x {len(snrs)} SNRs, {seconds.mean():.1f} s per face and SNR "
               f"(max {seconds.max():.1f}; CPU {cpu.mean():.1f} s, max {cpu.max():.1f}), rho {info['rho_max']:.4f} "
               f"-> {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser, add = stage_cli("python -m pipelines.dgm.fig05_posterior", __doc__)
    p = add("run", cmd_run, data=True)
    p.add_argument("--split", required=True, help="gjscc's split.json (the test faces)")
    p.add_argument("--generator", required=True, help="gjscc's generator folder (generator.pt): the prior G")
    p.add_argument("--model", required=True, help="the MSE-trained DeepJSCC folder (model.pt, run.json): f_theta")
    run_stage(parser, argv, USER_ERRORS)


if __name__ == "__main__":
    main()
