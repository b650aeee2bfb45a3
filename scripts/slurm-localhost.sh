#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying the workflow's SLURM profile for real.
#
#   scripts/slurm-localhost.sh start    install slurm + munge if missing (apt, root), write a
#                                       slurm.conf for this host, start munged, slurmctld and
#                                       slurmd, wait until the node is idle
#   scripts/slurm-localhost.sh install  only the install step of start
#   scripts/slurm-localhost.sh stop     stop the daemons started by `start`
#   scripts/slurm-localhost.sh status   sinfo of the running cluster
#
# Everything lives in $JSCC_SLURM_DIR (default /tmp/jscc-slurm): slurm.conf, spool and state
# folders, pid and log files.  /etc/slurm/slurm.conf becomes a symlink to that slurm.conf while
# the cluster runs: the job steps that Snakemake's SLURM plugin starts inside a job run srun
# with every SLURM_* variable (SLURM_CONF too) removed, so only the default path reaches them.
# A slurm.conf there that is not this script's link is never replaced: start refuses instead.
# One node (this host, all its CPUs and memory) in one partition, $JSCC_SLURM_PARTITION
# (default "local").  No accounting database: AccountingStorageType=accounting_storage/none, so
# sacct/sacctmgr have nothing to report and job state comes from squeue (MinJobAge keeps
# finished jobs visible there for 10 minutes).  A munged that already answers is used and left
# running; one started here is stopped by `stop`.
set -euo pipefail

dir=${JSCC_SLURM_DIR:-/tmp/jscc-slurm}
partition=${JSCC_SLURM_PARTITION:-local}
ctld_port=${JSCC_SLURMCTLD_PORT:-6817}
slurmd_port=${JSCC_SLURMD_PORT:-6818}
overtime=${JSCC_SLURM_OVERTIME_MIN:-10}
conf=$dir/slurm.conf
etc_conf=/etc/slurm/slurm.conf

say() { echo "slurm-localhost: $*"; }
die() { echo "slurm-localhost: $*" >&2; exit 1; }

install_missing() {
  local missing=()
  for cmd in slurmctld slurmd sinfo sbatch squeue scontrol; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  command -v munged >/dev/null || missing+=(munged)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "not installed: ${missing[*]}; installing Debian's slurm-wlm and munge"
  [ "$(id -u)" -eq 0 ] || die "installing slurm-wlm and munge needs root (not installed: ${missing[*]})"
  command -v apt-get >/dev/null || die "no apt-get to install slurm-wlm and munge (not installed: ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
}

munge_works() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_works; then
    say "munged already running; using it"
    return 0
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 0700 /etc/munge
    mungekey --create --keyfile /etc/munge/munge.key || die "could not create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged || die "munged did not start; see /var/log/munge/munged.log"
  touch "$dir/munged.started-here"
  for _ in $(seq 50); do munge_works && return 0; sleep 0.1; done
  die "munged started but does not answer (munge -n | unmunge); see /var/log/munge/munged.log"
}

write_conf() {
  local host node_line mem cpus
  host=$(hostname -s)
  # slurmd -C prints this host's NodeName=... CPUs=... RealMemory=... line.
  node_line=$(slurmd -C | head -n1) || die "slurmd -C could not describe this host"
  case $node_line in NodeName=*) ;; *) die "unexpected slurmd -C output: $node_line" ;; esac
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")
  { [ -n "$mem" ] && [ -n "$cpus" ]; } || die "slurmd -C gave no RealMemory or CPUs: $node_line"
  mkdir -p "$dir/ctld" "$dir/slurmd"
  cat >"$conf" <<EOF
# Written by scripts/slurm-localhost.sh: one node (this host) in one partition, no accounting.
ClusterName=localhost
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# No cgroups: the daemons run as plain processes, jobs are tracked by their process tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Finished jobs stay visible to squeue for 10 minutes (the job status source without accounting).
MinJobAge=600
# Jobs may run $overtime minutes past their time limit before they are killed: on a shared
# machine of 2 cores a tiny profile's 1-minute stages can take longer than on an idle one.
OverTimeLimit=$overtime
SlurmdTimeout=60
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
# A job that asks for no memory gets its CPUs' share of the node's (not all of it).
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=$((mem / cpus))
EOF
}

link_conf() {
  if [ -e "$etc_conf" ] || [ -L "$etc_conf" ]; then
    [ "$(readlink "$etc_conf" || true)" = "$conf" ] && return 0
    die "$etc_conf exists and is not a link to $conf: SLURM is configured on this machine already; not replacing it"
  fi
  mkdir -p "$(dirname "$etc_conf")"
  ln -s "$conf" "$etc_conf"
}

unlink_conf() {
  if [ -L "$etc_conf" ] && [ "$(readlink "$etc_conf")" = "$conf" ]; then rm -f "$etc_conf"; fi
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -N -n "$(hostname -s)" -o %t 2>/dev/null | head -n1; }

start() {
  install_missing
  mkdir -p "$dir"
  if pid_alive "$dir/slurmctld.pid" || pid_alive "$dir/slurmd.pid"; then
    die "already running from $dir (scripts/slurm-localhost.sh stop first)"
  fi
  write_conf
  link_conf
  start_munge
  # -c: start from a clean job state (the cluster is throw-away)
  slurmctld -c || die "slurmctld did not start; see $dir/slurmctld.log"
  slurmd || die "slurmd did not start; see $dir/slurmd.log"
  local state=""
  for _ in $(seq 120); do
    state=$(node_state)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    sinfo -R >&2 || true
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
    die "node $(hostname -s) is '${state:-not listed}' after 60 s, not idle"
  fi
  say "node $(hostname -s) idle in partition '$partition' ($etc_conf -> $conf)"
}

stop_pidfile() {
  local name=$1 pidfile=$2 pid
  pid_alive "$pidfile" || return 0
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { say "stopped $name ($pid)"; return 0; }; sleep 0.1; done
  die "$name ($pid) still running 10 s after SIGTERM"
}

stop() {
  # jobs left behind (an interrupted workflow) are cancelled first: their processes would
  # outlive slurmd
  local jobs
  if pid_alive "$dir/slurmctld.pid"; then
    jobs=$(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %A 2>/dev/null | xargs || true)
    if [ -n "$jobs" ]; then
      say "cancelling jobs $jobs"
      # shellcheck disable=SC2086  # one argument per job id
      scancel $jobs || true
      for _ in $(seq 100); do
        [ -z "$(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %A 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
  fi
  stop_pidfile slurmd "$dir/slurmd.pid"
  stop_pidfile slurmctld "$dir/slurmctld.pid"
  if [ -e "$dir/munged.started-here" ]; then
    munged -s >/dev/null 2>&1 || true
    rm -f "$dir/munged.started-here"
    say "stopped munged"
  fi
  unlink_conf
}

case ${1:-} in
  install) install_missing ;;
  start) start ;;
  stop) stop ;;
  status) [ -f "$conf" ] || die "no cluster configured in $dir"; sinfo ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
