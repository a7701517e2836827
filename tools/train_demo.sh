#!/bin/sh
# Retrain the demo detectors from scratch: render the cone data, train YOLO12n
# (the demo), YOLO11n and YOLOv8n side by side on one CUDA GPU, export each to
# ONNX (opset 17, static batch 2, 640). See docs/TRAINING.md.
#
#   tools/train_demo.sh [OUT]          OUT defaults to runs/demo
#
# Environment: QBENCH (the qbench binary, default build/qbench), TIME_LIMIT
# (seconds per call: every run checkpoints and stops before it; the same command
# resumes), ARCHS (default "yolo12:40 yolo11:30 yolov8:20", arch:epochs),
# THREADS (torch CPU threads per run, default 4).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-runs/demo}
qbench=${QBENCH:-build/qbench}
archs=${ARCHS:-"yolo12:40 yolo11:30 yolov8:20"}
limit=${TIME_LIMIT:-0}
threads=${THREADS:-4}
data=$out/data
mkdir -p "$out"

# the data: 5000 scenes, seed 1 (8000 train and 1000 val images); rendered
# again when missing, which is cheaper than carrying 7 GB around
if [ ! -f "$data/raw.json" ]; then
    $qbench demo-data --format raw --out "$data" --count 5000 --seed 1
fi

pids=""
for spec in $archs; do
    arch=${spec%%:*}
    epochs=${spec#*:}
    run=$out/$arch
    mkdir -p "$run"
    python3 "$here/train.py" --arch "$arch" --data "$data" --epochs "$epochs" --imgsz 640 --batch 64 \
        --seed 0 --out "$run" --resume --portable-ckpt --threads "$threads" --time-limit "$limit" \
        --export "$run/${arch}n-cones.onnx" >>"$run/train.log" 2>&1 &
    pids="$pids $!"
done
status=0
for pid in $pids; do
    wait "$pid" || status=1
done
for spec in $archs; do
    arch=${spec%%:*}
    echo "== $arch"
    grep -E '^(epoch|  val|DONE|STOPPED|exported|  onnxruntime|resum|Traceback|[A-Za-z]*Error)' \
        "$out/$arch/train.log" | tail -n 6
done
exit $status
