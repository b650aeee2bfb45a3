"""The figure toolkit every paper's figures and tables draw on; it belongs to no paper.

| module | job |
| --- | --- |
| `evals` | reading evaluation outputs: needed files, JSON records, per-image CSVs grouped by operating point |
| `curves` | a method's rate-quality points (`Series`), their upper envelope, the gap between two curves |
| `bd_compare` | BD metrics of a curve against a baseline where the two overlap enough (`jscc_core.bd`) |
| `findings` | a paper's claim checked on our points (`Finding`), the generic checks, their page notes and JSON |
| `tables` | a table of ours beside the paper's printed values |
| `page` | the page: a figure, its footer, and the one writer of PDF + CSV + provenance JSON |
| `paper_values` | loading a paper's printed values from its data file, each with its source |
| `cli` | the command line of a figure module: --profile, --out, user mistakes exit 2 |

Paper folders (`pipelines/ntscc`, ...) import from here; nothing here imports a paper folder.
"""
