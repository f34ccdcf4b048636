#!/usr/bin/env bash
# deepvis topk over a large folder on a Slurm cluster: a job array scans N parts in parallel
# (`--shard $SLURM_ARRAY_TASK_ID/N`), and a job that depends on the whole array merges them
# into the index one run would give. The folder, the weights and OUT must be on a file system
# every node sees. Run from the login node:
#
#   deploy/slurm/topk.sh FOLDER LAYER OUT [N]      (N = 8 by default)
#
# A part that failed is run again with the same command (`sbatch --array=I ...`): it goes on
# where it stopped. DEEPVIS names the program (default `deepvis`), DEEPVIS_BACKEND the backend
# (default auto: the node's GPU), TOPK_ARGS more `topk` options (`--k 9 --video-step 10`).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 FOLDER LAYER OUT [N]" >&2
  exit 2
fi
folder=$1 layer=$2 out=$3 n=${4:-8}
deepvis=${DEEPVIS:-deepvis}
backend=${DEEPVIS_BACKEND:-auto}
extra=${TOPK_ARGS:-}
mkdir -p "$out"
scan=$(sbatch --parsable --array="0-$((n - 1))" --job-name=deepvis-topk \
  --gres=gpu:1 --output="$out/part-%a.log" \
  --wrap="$deepvis --backend $backend topk --folder '$folder' --layer '$layer' $extra \
    --shard \$SLURM_ARRAY_TASK_ID/$n -o '$out/part-'\$SLURM_ARRAY_TASK_ID")
parts=$(seq -f "$out/part-%g" 0 $((n - 1)) | tr '\n' ' ')
merge=$(sbatch --parsable --dependency="afterok:$scan" --job-name=deepvis-topk-merge \
  --output="$out/merge.log" \
  --wrap="$deepvis --backend $backend topk merge -o '$out/merged' $parts")
echo "scan: job array $scan ($n parts); merge: job $merge -> $out/merged"
