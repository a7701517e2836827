#!/bin/sh
# FP32 CPU throughput of qbench's reference executor against onnxruntime-node,
# both with 2 threads, on the trained YOLO12n demo and YOLO11n test models (640x640,
# batch 2).
#
#   tools/bench_fp32.sh [-q QBENCH] [-r RUNS] [-k ROUNDS] [-t THREADS] [-o OUTDIR] [MODEL.onnx ...]
#
# QBENCH defaults to $QB_BINARY, else the newest build*/qbench. Each round runs,
# per model, onnxruntime then qbench (warm-up, then the median latency of RUNS);
# the table keeps each runtime's best round, since on a shared 2-core machine
# any other process stretches a run (onnxruntime's spinning thread pool suffers
# most). The JSON of every run is kept in OUTDIR (default: a temporary folder,
# removed).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
qbench=${QB_BINARY:-}
runs=20
rounds=3
threads=2
outdir=
while getopts q:r:k:t:o:h opt; do
    case $opt in
    q) qbench=$OPTARG ;;
    r) runs=$OPTARG ;;
    k) rounds=$OPTARG ;;
    t) threads=$OPTARG ;;
    o) outdir=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "$src/tests/data/yolo11n-cones.onnx" "$src/assets/yolo12n-cones.onnx"
if [ -z "$qbench" ]; then
    qbench=$(ls -t "$src"/build*/qbench 2>/dev/null | head -n 1 || true)
fi

. "$src/tools/ort/ensure_ort.sh"
qb_ensure_ort || exit 77
export QB_ORT_PREFIX

keep=1
if [ -z "$outdir" ]; then
    outdir=$(mktemp -d "${TMPDIR:-/tmp}/qb-bench.XXXXXX")
    keep=0
fi
mkdir -p "$outdir"

echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) cores online; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "qbench: ${qbench:-none found}; threads $threads; runs $runs; rounds $rounds"
round=1
while [ "$round" -le "$rounds" ]; do
    for m in "$@"; do
        name=$(basename "$m" .onnx)
        log="$outdir/$name.ort.$round.txt"
        if node "$src/tools/ort/ort_bench.js" "$m" --threads "$threads" --runs "$runs" \
            --json "$outdir/$name.ort.$round.json" >"$log" 2>&1; then
            echo "round $round $name onnxruntime: $(sed -n 2p "$log")"
        else
            echo "round $round $name onnxruntime failed: $(tail -n 1 "$log")"
        fi
        if [ -n "$qbench" ] && [ -x "$qbench" ]; then
            log="$outdir/$name.qbench.$round.txt"
            if "$qbench" bench "$m" --threads "$threads" --runs "$runs" \
                --json "$outdir/$name.qbench.$round.json" >"$log" 2>&1; then
                echo "round $round $name qbench:      $(sed -n 2p "$log")"
            else
                echo "round $round $name qbench failed: $(tail -n 1 "$log")"
            fi
        fi
    done
    round=$((round + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

node - "$outdir" "$@" <<'EOF'
const fs = require('fs');
const path = require('path');
const [dir, ...models] = process.argv.slice(2);
const read = (f) => { try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) { return null; } };
// the best round (highest images/s) of one runtime on one model
const best = (name, rt) => fs.readdirSync(dir)
  .filter((f) => f.startsWith(`${name}.${rt}.`) && f.endsWith('.json'))
  .map((f) => read(path.join(dir, f))).filter(Boolean)
  .reduce((b, j) => (!b || j.images_per_s > b.images_per_s ? j : b), null);
const rows = [['model', 'batch', 'ort img/s', 'qbench img/s', 'ratio', 'ort ms', 'qbench ms']];
for (const m of models) {
  const name = path.basename(m, '.onnx');
  const o = best(name, 'ort');
  const q = best(name, 'qbench');
  rows.push([name, String(o ? o.batch : q ? q.batch : '?'),
             o ? o.images_per_s.toFixed(2) : '-', q ? q.images_per_s.toFixed(2) : '-',
             o && q ? (q.images_per_s / o.images_per_s).toFixed(2) : '-',
             o ? o.latency_ms.toFixed(1) : '-', q ? q.latency_ms.toFixed(1) : '-']);
}
const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
console.log('');
const line = (r) => console.log('| ' + r.map((s, c) => (c ? s.padStart(w[c]) : s.padEnd(w[c]))).join(' | ') + ' |');
line(rows[0]);
console.log('|' + w.map((n, c) => (c ? '-'.repeat(n + 1) + ':' : '-'.repeat(n + 2))).join('|') + '|');
rows.slice(1).forEach(line);
EOF
[ "$keep" = 1 ] || rm -rf "$outdir"
