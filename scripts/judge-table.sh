#!/usr/bin/env bash
# The quality benchmark of issue 10: 12 ImageNet classes, each made by the three methods in
# one batch for a fixed number of steps, every picture judged by a second network
# (EfficientNet-Lite0); prints a markdown table (class, method, rank, probability) and a
# summary (pictures in the judge's top 1 / top 5, median rank).
#
#   scripts/judge-table.sh [ITERS] [EXTRA OPTIMIZE ARGS...]
# e.g. scripts/judge-table.sh 256 --pre-relu --decay-power 1.5
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DEEPVIS:-$here/target/release/deepvis}"
judge="${JUDGE:-$here/../shared/models/efficientnet_lite0/efficientnet_lite0.onnx}"
iters="${1:-256}"
shift || true
classes="1,9,107,130,207,323,417,779,949,951,963,980"
out="${OUT:-$(mktemp -d)}"
"$bin" --backend cpu -q optimize --layer pool10 --units "$classes" --all-methods \
    --iters "$iters" --judge "$judge" --json -o "$out/judge-table.png" "$@" > "$out/runs.jsonl"
python3 - "$out/runs.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| class | method | rank | probability | judge's top class |")
print("| --- | --- | --- | --- | --- |")
by = {}
for r in rows:
    v = r["judge"][0]
    print(f"| {r['unit']} {v['class']} | {r['method']} | {v['rank']} | {v['prob']:.4f} | {v['top']} ({v['top_prob']:.2f}) |")
    by.setdefault(r["method"], []).append(v["rank"])
print()
for m, ranks in by.items():
    print(f"{m}: top-1 {sum(r == 1 for r in ranks)}/{len(ranks)}, "
          f"top-5 {sum(r <= 5 for r in ranks)}/{len(ranks)}, median rank {statistics.median(ranks)}")
PY
echo "pictures: $out/judge-table.png"
