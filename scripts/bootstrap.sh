#!/usr/bin/env bash
# Build the project's virtual environment (.venv) from the pinned versions in requirements/.
# Needs Python 3.11 (the torch wheels of lock.txt are cp311).  Safe to rerun: a stamp of the
# pins skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${JSCC_VENV:-.venv}
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "bootstrap: Python 3.11 is required, $python is $("$python" -V 2>&1); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
stamp="$venv/.bootstrap-$(cat requirements/*.txt packages/*/pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0

start=$(date +%s)
"$python" -m venv "$venv"
# --no-compile: pip byte-compiles one file at a time; compileall below does the same files on every core
# (measured on 2 cores: 115 s for the whole bootstrap against 156 s).
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile)
"${pip[@]}" pip==26.3
"${pip[@]}" -r requirements/lock.txt
# compressai pins numpy<2, which would break sionna-no-rt; see requirements/lock.txt.
"${pip[@]}" --no-deps -r requirements/no-deps.txt
"${pip[@]}" --no-deps --no-build-isolation -e packages/core -e packages/ntscc -e packages/generative_jscc \
  -e packages/resilient_transport
# Like pip, a file that does not compile (a package's Python-2 test data) is skipped, not an error.
"$venv/bin/python" -m compileall -q -j 0 "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
  >/dev/null || true
"$venv/bin/python" -c 'import torch, compressai, constriction, jscc_core, ntscc, generative_jscc, resilient_transport, snakemake, dvc, mlflow' 2>/dev/null
rm -f "$venv"/.bootstrap-*
touch "$stamp"
echo "bootstrap: $venv ready in $(( $(date +%s) - start )) s"
