#!/bin/bash
# Merges the shard sessions that eval.sbatch wrote into one session (issue 18):
#   scripts/slurm/merge.sh OUTDIR run.kmes
# or, after the array job, as a dependent job:
#   sbatch --dependency=afterok:JOBID --wrap "scripts/slurm/merge.sh OUTDIR run.kmes"
# Refuses (exit 1, naming them) missing, duplicated or mismatched shards.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 OUTDIR OUT.kmes" >&2; exit 2; fi
out=$1; merged=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kme=${KME:-$here/../../build/app/kme}
shopt -s nullglob
shards=("$out"/shard-*.kmes)
if [ ${#shards[@]} -eq 0 ]; then echo "$0: no shard-*.kmes in $out" >&2; exit 1; fi
exec "$kme" session merge "$merged" "${shards[@]}"
