"""Throughput of the exact LDPC link: FastLDPCDecoder vs Sionna's LDPC5GDecoder.

``python -m jscc_core.digital.bench`` prints JSON with information bits per second of BP
decoding for NTSCC's BPG+LDPC setting (k=4096, n=6144 5G LDPC, 16-QAM, at most 20 iterations)
at a good SNR (BLER < 1e-2) and in the waterfall, for the fast decoder and for Sionna's own
decoder on the same LLRs, with the speed-ups, BLERs, mean iterations and the end-to-end link
rate (encoding, mapping, channel, demapping and decoding). Runs in well under 2 minutes on
2 CPU cores; ``--threads`` sets torch's intra-op threads for both decoders (default 1: the
BP kernels are short memory-bound ops, and on shared cores OpenMP threads mostly wait).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch


def _rate(bits: int, seconds: float) -> float:
    return bits / seconds if seconds > 0 else float("inf")


def _timed(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - w0, time.process_time() - c0


def run(good_snr_db: float = 10.0, waterfall_snr_db: float = 9.0, n_fast: int = 512, n_sionna: int = 32,
        num_iter: int = 20, seed: int = 0) -> dict:
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    from ..channels import snr_db_to_noise_var
    from .ldpc import FastLDPCDecoder, link_for
    from .mcs import NTSCC_BPG_LDPC

    k, n = NTSCC_BPG_LDPC.k, NTSCC_BPG_LDPC.n
    link = link_for(NTSCC_BPG_LDPC, num_iter)
    fast = FastLDPCDecoder(link.encoder, num_iter=num_iter)
    sionna = LDPC5GDecoder(link.encoder, num_iter=num_iter)  # Sionna defaults: flooding boxplus-phi
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n_fast, k), generator=g)
    codewords = link.encode(bits)
    fast(torch.zeros(4, n))  # warm-up (workspace allocation)
    sionna(torch.zeros(1, n))

    out = {}
    for label, snr in (("", good_snr_db), ("_waterfall", waterfall_snr_db)):
        y = link.channel(link.mapper(codewords), snr_db=snr, generator=g)
        llr = link.demapper(y, torch.tensor(snr_db_to_noise_var(snr)))

        (res, t_fast, c_fast) = _timed(fast.decode, llr)
        ok_fast = (res.bits == bits).all(1)
        (ref, t_sionna, c_sionna) = _timed(sionna, llr[:n_sionna])
        ok_ref = (ref == bits[:n_sionna]).all(1)
        (link_res, t_link, c_link) = _timed(link, bits, snr, generator=g)

        r_fast, r_sionna = _rate(n_fast * k, t_fast), _rate(n_sionna * k, t_sionna)
        out.update({
            f"snr_db{label}": snr,
            f"ldpc_exact_info_bits_per_s{label}": round(r_fast),
            f"sionna_info_bits_per_s{label}": round(r_sionna),
            f"speedup{label}": round(r_fast / r_sionna, 1),
            f"link_exact_info_bits_per_s{label}": round(_rate(n_fast * k, t_link)),
            f"ldpc_exact_info_bits_per_cpu_s{label}": round(_rate(n_fast * k, c_fast)),
            f"sionna_info_bits_per_cpu_s{label}": round(_rate(n_sionna * k, c_sionna)),
            f"link_exact_info_bits_per_cpu_s{label}": round(_rate(n_fast * k, c_link)),
            f"bler_fast{label}": round(1 - ok_fast.float().mean().item(), 4),
            f"bler_sionna{label}": round(1 - ok_ref.float().mean().item(), 4),
            f"bler_link{label}": round(1 - link_res.success.float().mean().item(), 4),
            f"mean_iterations_fast{label}": round(res.num_iter.float().mean().item(), 2),
            f"same_decisions_as_sionna{label}": round(
                (fast(llr[:n_sionna]) == ref).all(1).float().mean().item(), 4),
        })
    out["setting"] = {
        "code": "5G NR LDPC (Sionna LDPC5GEncoder) k=4096 n=6144 rate 2/3, 16-QAM Gray, complex AWGN, "
                "app demapping; SNR = Es/N0 per complex channel use",
        "num_iter_max": num_iter, "codewords_fast": n_fast, "codewords_sionna": n_sionna,
        "compared": "both decoders get the same LLRs; Sionna (and bler_sionna, same_decisions_as_sionna) "
                    "on the first codewords_sionna of them",
        "fast_decoder": "FastLDPCDecoder: flooding boxplus BP, early stop, continuous batching",
        "sionna_decoder": "sionna.phy.fec.ldpc.LDPC5GDecoder defaults (boxplus-phi, 20 iterations, no early stop)",
        "link_rate_includes": "encode + map + channel + demap + decode",
        "rates": "*_per_s: wall clock; *_per_cpu_s: CPU time of this process (robust to other jobs "
                 "sharing the cores; equals wall clock on an idle core with --threads 1)",
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--good-snr", type=float, default=10.0, help="Es/N0 (dB) with BLER < 1e-2")
    p.add_argument("--waterfall-snr", type=float, default=9.0, help="Es/N0 (dB) in the waterfall")
    p.add_argument("--n-fast", type=int, default=512, help="codewords for the fast decoder")
    p.add_argument("--n-sionna", type=int, default=32, help="codewords for Sionna's decoder")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: leave as is)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    result = run(args.good_snr, args.waterfall_snr, args.n_fast, args.n_sionna, seed=args.seed)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
