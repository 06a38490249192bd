#!/bin/bash
# A real run of the scheduler (issue 18; not part of the fast suite): installs
# Debian's slurm-wlm and munge, starts a one-node cluster on localhost
# (slurmctld + slurmd, munge auth), submits eval.sbatch as an array job of 4
# shards of a demo evaluation, waits, merges with merge.sh and compares the
# merged metric run with the unsharded run's (exactly). Needs root (apt,
# daemons) and a built build/app/kme. Leaves the daemons it started stopped.
#   scripts/slurm/integration.sh [WORKDIR]     (default /tmp/kme-slurm)
set -euo pipefail
t0=$(date +%s)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kme=${KME:-$repo/build/app/kme}
work=${1:-/tmp/kme-slurm}
[ -x "$kme" ] || { echo "integration: no kme at $kme (build it first)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "integration: needs root (apt-get, slurm and munge daemons)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
echo "integration: packages ready after $(( $(date +%s) - t0 )) s"

rm -rf "$work"; mkdir -p "$work"/{spool,state,log,shards}
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
conf=$work/slurm.conf
cat > "$conf" <<CONF
ClusterName=kme
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf

# munge: a key, then the daemon (its own socket folder).
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
pids=()
cleanup() {
  for f in "$work/slurmd.pid" "$work/slurmctld.pid"; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  [ -s /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
}
trap cleanup EXIT
if ! pgrep -x munged >/dev/null; then
  if id munge >/dev/null 2>&1; then su -s /bin/sh munge -c "munged" || munged --force; else munged --force; fi
fi
munge -n | unmunge >/dev/null
slurmctld -f "$conf"
slurmd -f "$conf"
for i in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed" && break
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
sinfo
echo "integration: cluster up after $(( $(date +%s) - t0 )) s"

# The demo evaluation: unsharded, then 4 shards through Slurm.
args=(--dataset "$repo/projects/demo/facts.json" --method rome --limit 20 --select spread --no-generation)
t1=$(date +%s)
"$kme" eval "${args[@]}" --threads 1 --session "$work/unsharded.kmes" > "$work/unsharded.txt"
echo "integration: unsharded run $(( $(date +%s) - t1 )) s"
t1=$(date +%s)
cd "$work"
jid=$(KME=$kme sbatch --parsable --array=0-3 --cpus-per-task=1 --output="$work/log/shard-%a.log" \
      "$repo/scripts/slurm/eval.sbatch" "$work/shards" "${args[@]}")
echo "integration: submitted array job $jid"
for i in $(seq 600); do
  [ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] && break
  sleep 1
done
echo "integration: array job done after $(( $(date +%s) - t1 )) s"
cat "$work"/log/shard-*.log | grep -E "shard|error|kme:" || true
KME=$kme "$repo/scripts/slurm/merge.sh" "$work/shards" "$work/merged.kmes"
"$kme" session show "$work/merged.kmes" | tail -2
python3 - "$work/unsharded.kmes" "$work/merged.kmes" <<'PY'
import json, sqlite3, sys
def last_run(f):
    return json.loads(sqlite3.connect(f).execute("SELECT results_json FROM metric_runs ORDER BY id").fetchall()[-1][0])
a, b = last_run(sys.argv[1]), last_run(sys.argv[2])
def diff(x, y):
    if isinstance(x, bool) or isinstance(y, bool): return 0.0 if x == y else float("inf")
    if isinstance(x, (int, float)) and isinstance(y, (int, float)): return abs(x - y)
    if isinstance(x, dict) and isinstance(y, dict): return max([diff(v, y.get(k)) for k, v in x.items()] or [0.0])
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y): return max([diff(u, v) for u, v in zip(x, y)] or [0.0])
    return 0.0 if x == y else float("inf")
worst = 0.0
for k in ["records", "metrics", "metrics_ci95", "metrics_count", "baseline", "baseline_ci95"]:
    d = diff(a[k], b[k]); worst = max(worst, d)
    print(f"  {k:15s} equal={a[k] == b[k]} max|diff|={d:g}")
for m in ["efficacy_score", "paraphrase_score", "neighborhood_score"]:
    print(f"  {m}: unsharded {a['metrics'][m]:.6f} ± {a['metrics_ci95'][m]:.6f}, merged {b['metrics'][m]:.6f} ± {b['metrics_ci95'][m]:.6f}")
sys.exit(0 if worst == 0 else 1)
PY
echo "integration: merged run equals the unsharded run; total $(( $(date +%s) - t0 )) s"
