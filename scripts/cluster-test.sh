#!/usr/bin/env bash
# The workflow on real scale-out engines, on this machine (`make cluster-test`):
#
#   scripts/cluster-test.sh slurm    NTSCC Fig. 10 of the tiny test profile run twice, by Snakemake
#                                    locally and through --workflow-profile profiles/slurm on a
#                                    one-node SLURM cluster (scripts/slurm-localhost.sh); the two
#                                    reports/ntscc/fig10.csv must hold the same rows (run ids aside)
#   scripts/cluster-test.sh mlflow   one training stage of that figure tracked to an `mlflow server`
#                                    on 127.0.0.1; its run, params and metrics are read back from
#                                    the server with the MLflow client
#   scripts/cluster-test.sh [all]    both
#
# Each run works in its own copy of the project under a temporary folder, so outputs and
# tracking stores of the checkout are never touched.  The copy holds the checkout's tracked and
# not ignored files as they are in the working tree, or, with CLUSTER_TEST_REF=<commit>, the
# files of that commit; its packages/ are imported ahead of the installed ones.  Installs
# slurm-wlm and munge with apt-get when missing (needs root).  Prints wall times; exits non-zero
# on any failure or mismatch.  The copies are removed on success and kept on failure
# (CLUSTER_TEST_KEEP=1 keeps them always).  Daemons started here are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=$repo/${JSCC_VENV:-.venv}/bin
what=${1:-all}
profile=tests/profiles/smoke.yaml   # the tiny banana profile
target=reports/ntscc/fig10.csv
partition=${JSCC_SLURM_PARTITION:-local}
export JSCC_SLURM_PARTITION=$partition

case $what in slurm | mlflow | all) ;; *) echo "usage: $0 [slurm|mlflow|all]" >&2; exit 2 ;; esac
[ -x "$bin/snakemake" ] || { echo "cluster-test: $bin/snakemake missing; run make setup" >&2; exit 2; }
if [ -z "${JSCC_DATA_MIRROR:-}" ] && [ -d "$repo/../shared/data" ]; then
  export JSCC_DATA_MIRROR=$repo/../shared/data
fi
export JSCC_PROGRESS=0 JSCC_OFFLINE=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
unset JSCC_REPO_ROOT JSCC_PROFILE MLFLOW_TRACKING_URI

work=$(mktemp -d "${TMPDIR:-/tmp}/jscc-cluster-test.XXXXXX")
slurm_started="" mlflow_pid="" ok=""
cleanup() {
  if [ -n "$mlflow_pid" ] && kill -0 "$mlflow_pid" 2>/dev/null; then
    kill -- "-$mlflow_pid" 2>/dev/null || kill "$mlflow_pid" 2>/dev/null || true
    wait "$mlflow_pid" 2>/dev/null || true
  fi
  if [ -n "$slurm_started" ]; then scripts/slurm-localhost.sh stop >/dev/null || true; fi
  if [ -n "$ok" ] && [ "${CLUSTER_TEST_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "cluster-test: work folders kept in $work" >&2
  fi
}
trap cleanup EXIT

fail() { echo "cluster-test: FAILED: $*" >&2; exit 1; }
now() { date +%s%3N; }  # milliseconds
secs() { local ms=$(($2 - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
times=()
timed() {  # timed LABEL CMD...: run CMD, remember its wall time under LABEL
  local label=$1 t0 t1
  shift
  t0=$(now)
  "$@"
  t1=$(now)
  times+=("$(printf '%-44s %7s s' "$label" "$(secs "$t0" "$t1")")")
  echo "cluster-test: $label: $(secs "$t0" "$t1") s"
}

copy_project() {  # copy_project DEST
  mkdir -p "$1"
  if [ -n "${CLUSTER_TEST_REF:-}" ]; then
    git -C "$repo" archive "$CLUSTER_TEST_REF" | tar -x -C "$1" || fail "could not export $CLUSTER_TEST_REF"
  else
    git -C "$repo" ls-files -z --cached --others --exclude-standard \
      | tar -c --null --ignore-failed-read -T - -f - 2>/dev/null | tar -x -C "$1" \
      || fail "could not copy the checkout's files to $1"
  fi
}

# snake DIR LOG ARGS...: Snakemake in project copy DIR with its own packages and MLflow store
# (MLFLOW_TRACKING_URI of the caller wins), output to LOG; fails naming the log.
snake() {
  local dir=$1 log=$2
  shift 2
  if ! (cd "$dir" && PYTHONPATH="$dir/packages/core/src:$dir/packages/ntscc/src${PYTHONPATH:+:$PYTHONPATH}" \
        MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-sqlite:///$dir/mlruns/mlflow.db} \
        "$bin/snakemake" "$@" >"$log" 2>&1); then
    tail -n 40 "$log" >&2
    fail "snakemake $* in $dir (log: $log)"
  fi
}

run_slurm() {
  timed "SLURM: install slurm-wlm, munge if missing" scripts/slurm-localhost.sh install
  slurm_started=1  # before start: a start that fails half-way is stopped too
  timed "SLURM: start one-node cluster" scripts/slurm-localhost.sh start
  copy_project "$work/local"
  copy_project "$work/slurm"
  timed "Fig. 10 (smoke), local --cores 2" snake "$work/local" "$work/local.log" \
    "$target" --cores 2 --config "profile=$profile"
  # profiles/slurm as a real cluster would use it; only the site-specific values are replaced:
  # the local partition, an account name (no accounting here, so any name is accepted), and
  # status from squeue after 2 s instead of sacct after 40 s (sacct needs slurmdbd).
  timed "Fig. 10 (smoke), SLURM via profiles/slurm" snake "$work/slurm" "$work/slurm.log" \
    "$target" --workflow-profile profiles/slurm \
    --slurm-status-command squeue --slurm-init-seconds-before-status-checks 2 \
    --default-resources "slurm_partition=$partition" slurm_account=localhost \
    --config "profile=$profile"
  # what SLURM itself ran (finished jobs stay in squeue for MinJobAge, 10 min here)
  local states
  states=$(squeue --states=all --noheader --format=%T | sort | uniq -c | xargs)
  echo "cluster-test: SLURM jobs of the run: ${states:-none}"
  case $states in *COMPLETED*) ;; *) fail "no SLURM job completed (log: $work/slurm.log)" ;; esac
  "$bin/python" scripts/scale_out_checks.py compare-csv "$work/local/$target" "$work/slurm/$target" \
    || fail "$target from SLURM differs from the local run's"
  scripts/slurm-localhost.sh stop
  slurm_started=""
}

start_mlflow() {
  local port
  port=$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/mlflow-server"
  # its own process group, so that cleanup stops the server's workers too
  setsid "$bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
    --backend-store-uri "sqlite:///$work/mlflow-server/mlflow.db" \
    --artifacts-destination "$work/mlflow-server/artifacts" >"$work/mlflow-server.log" 2>&1 &
  mlflow_pid=$!
  mlflow_uri=http://127.0.0.1:$port
  for _ in $(seq 240); do
    kill -0 "$mlflow_pid" 2>/dev/null || { tail -n 20 "$work/mlflow-server.log" >&2; fail "mlflow server exited"; }
    if "$bin/python" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$mlflow_uri/health', timeout=2).status != 200)" 2>/dev/null; then
      echo "cluster-test: mlflow server at $mlflow_uri"
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$work/mlflow-server.log" >&2
  fail "mlflow server at $mlflow_uri not healthy after 120 s"
}

run_mlflow() {
  timed "MLflow: start server on 127.0.0.1" start_mlflow
  copy_project "$work/mlflow"
  # the first job of Fig. 10's DAG that needs no other job: one training stage
  (cd "$work/mlflow" && "$bin/snakemake" "$target" --d3dag --config "profile=$profile" \
     >"$work/mlflow-dag.json" 2>"$work/mlflow-dag.log") \
    || { tail -n 20 "$work/mlflow-dag.log" >&2; fail "snakemake --d3dag of $target in $work/mlflow"; }
  local rule
  rule=$("$bin/python" scripts/scale_out_checks.py first-leaf "$work/mlflow-dag.json") \
    || fail "no stage to run in Fig. 10's DAG"
  echo "cluster-test: stage $rule, tracked to $mlflow_uri"
  MLFLOW_TRACKING_URI=$mlflow_uri timed "stage $rule tracked to the server" \
    snake "$work/mlflow" "$work/mlflow.log" "$rule" --cores 2 --config "profile=$profile"
  if [ -e "$work/mlflow/mlruns/mlflow.db" ]; then
    fail "the stage wrote a local MLflow store ($work/mlflow/mlruns/mlflow.db) instead of using the server"
  fi
  "$bin/python" scripts/scale_out_checks.py check-mlflow "$mlflow_uri" --expect-runs 1 \
    || fail "the stage's run is not on the server as expected"
}

t_start=$(now)
if [ "$what" = slurm ] || [ "$what" = all ]; then run_slurm; fi
if [ "$what" = mlflow ] || [ "$what" = all ]; then run_mlflow; fi
times+=("$(printf '%-44s %7s s' "total" "$(secs "$t_start" "$(now)")")")
echo "cluster-test: passed (${CLUSTER_TEST_REF:-working tree}); wall times:"
printf '  %s\n' "${times[@]}"
ok=1
