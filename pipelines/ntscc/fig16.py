"""NTSCC Fig. 16 (Sec. IV-C 3): Kodak crops over AWGN at 10 dB reconstructed by HEVC-intra + LDPC,
deep JSCC and NTSCC trained for MS-SSIM and NTSCC trained for eq. (29) ("Perceptual"), each with
its bandwidth cost against HEVC-intra + LDPC at equal LPIPS-Alex (``pipelines.ntscc.crops``).

    python -m pipelines.ntscc.fig16 --profile mini --crops results/mini/ntscc/images/fig15/crops.npz \\
        --out reports/ntscc/fig16.pdf

Writes fig16.pdf, fig16.csv and fig16.json; the same crops as Fig. 15 (one crop stage).
"""
from __future__ import annotations

from pipelines.ntscc.crops import crops_main


def main(argv: list[str] | None = None) -> None:
    crops_main("fig16", "ms_ssim", __doc__, argv)


if __name__ == "__main__":
    main()
