#!/usr/bin/env bash
# deepvis atlas of a layer on a Slurm cluster: a job array makes N parts of the units in
# parallel (`--shard $SLURM_ARRAY_TASK_ID/N`, the split `topk` uses), and a job that depends on
# the whole array merges them into the site one run would give, file for file. The folder, the
# weights and OUT must be on a file system every node sees. Run from the login node:
#
#   deploy/slurm/atlas.sh FOLDER LAYER OUT [N]     (N = 8 by default)
#
# A part that failed is run again with the same command (`sbatch --array=I ...`): it goes on
# where it stopped. DEEPVIS names the program (default `deepvis`), DEEPVIS_BACKEND the backend
# (default auto: the node's GPU), ATLAS_ARGS more `atlas` options (`--units 0-127 --methods
# paper,fourier,maco --iters 256`). The site is OUT/site: open OUT/site/index.html.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 FOLDER LAYER OUT [N]" >&2
  exit 2
fi
folder=$1 layer=$2 out=$3 n=${4:-8}
deepvis=${DEEPVIS:-deepvis}
backend=${DEEPVIS_BACKEND:-auto}
extra=${ATLAS_ARGS:-}
mkdir -p "$out"
parts=$(sbatch --parsable --array="0-$((n - 1))" --job-name=deepvis-atlas \
  --gres=gpu:1 --output="$out/part-%a.log" \
  --wrap="$deepvis --backend $backend atlas --folder '$folder' --layer '$layer' $extra \
    --shard \$SLURM_ARRAY_TASK_ID/$n -o '$out/part-'\$SLURM_ARRAY_TASK_ID")
sites=$(seq -f "$out/part-%g" 0 $((n - 1)) | tr '\n' ' ')
merge=$(sbatch --parsable --dependency="afterok:$parts" --job-name=deepvis-atlas-merge \
  --output="$out/merge.log" \
  --wrap="$deepvis --backend $backend atlas merge -o '$out/site' $sites")
echo "parts: job array $parts ($n parts); merge: job $merge -> $out/site"
