"""NTSCC Fig. 15 (Sec. IV-C 3): Kodak crops over AWGN at 10 dB reconstructed by HEVC-intra + LDPC,
deep JSCC and NTSCC trained for PSNR (MSE) and NTSCC trained for eq. (29) ("Perceptual"), each with
its bandwidth cost against HEVC-intra + LDPC at equal LPIPS-Alex (``pipelines.ntscc.crops``).

    python -m pipelines.ntscc.fig15 --profile mini --crops results/mini/ntscc/images/fig15/crops.npz \\
        --out reports/ntscc/fig15.pdf

Writes fig15.pdf, fig15.csv (each crop's LPIPS, PSNR, CBR and cost) and fig15.json.
"""
from __future__ import annotations

from pipelines.ntscc.crops import crops_main


def main(argv: list[str] | None = None) -> None:
    crops_main("fig15", "mse", __doc__, argv)


if __name__ == "__main__":
    main()
