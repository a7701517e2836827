#!/bin/sh
# FP32 CPU throughput of qbench's reference executor against onnxruntime-node,
# both with 2 threads, on the YOLO11n benchmark models (640x640, batch 1 and 2).
#
#   tools/bench_fp32.sh [-q QBENCH] [-r RUNS] [-t THREADS] [-o OUTDIR] [MODEL.onnx ...]
#
# QBENCH defaults to $QB_BINARY, else the newest build*/qbench. Each model runs
# onnxruntime first, then qbench (warm-up, then the median of RUNS). The JSON
# of every run is kept in OUTDIR (default a temporary folder, removed).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
qbench=${QB_BINARY:-}
runs=20
threads=2
outdir=
while getopts q:r:t:o:h opt; do
    case $opt in
    q) qbench=$OPTARG ;;
    r) runs=$OPTARG ;;
    t) threads=$OPTARG ;;
    o) outdir=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "$src/tests/data/bench/yolo11n-640-b1.onnx" "$src/tests/data/bench/yolo11n-640-b2.onnx"
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

echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) cores online"
echo "qbench: ${qbench:-none found}; threads $threads; runs $runs"
for m in "$@"; do
    name=$(basename "$m" .onnx)
    node "$src/tools/ort/ort_bench.js" "$m" --threads "$threads" --runs "$runs" --json "$outdir/$name.ort.json"
    if [ -n "$qbench" ] && [ -x "$qbench" ]; then
        "$qbench" bench "$m" --threads "$threads" --runs "$runs" --json "$outdir/$name.qbench.json" ||
            echo "qbench bench failed on $m"
    fi
done

node - "$outdir" "$@" <<'EOF'
const fs = require('fs');
const path = require('path');
const [dir, ...models] = process.argv.slice(2);
const read = (f) => { try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) { return null; } };
const rows = [['model', 'batch', 'ort img/s', 'qbench img/s', 'ratio', 'ort ms', 'qbench ms']];
for (const m of models) {
  const name = path.basename(m, '.onnx');
  const o = read(path.join(dir, `${name}.ort.json`));
  const q = read(path.join(dir, `${name}.qbench.json`));
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
