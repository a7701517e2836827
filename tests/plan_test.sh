#!/usr/bin/env bash
# qbench eval with precision plans on the demo: the FP32 baseline a plan runs
# beside is the plain evaluation to the last digit, the deltas are the
# differences of the reported numbers, FP16 stays close to FP32, INT8 moves the
# outputs measurably but keeps the model working, and the plan options refuse
# what does not fit (no calibration, another model's table, a name that matches
# nothing). Fidelity mAP (the plan scored against FP32's own detections) is near 1
# for FP16 and lower for INT8. Needs QB_BINARY, QB_SOURCE_DIR and QB_DEMO_DIR (set by CTest).
set -u
qb=${QB_BINARY:?}
src=${QB_SOURCE_DIR:?}
demo=${QB_DEMO_DIR:-$src/build/demo}
py=python3
. "$(dirname "$0")/lib.sh"
export QB_CACHE_DIR=$tmp/cache

jcheck() { # file, python expression over j (the JSON) that must hold
    $py -c 'import json,sys; j=json.load(open(sys.argv[1])); ok=eval(sys.argv[2])
ok or print("  does not hold:", sys.argv[2], "\n ", {k: j.get(k) for k in ("map50_95","baselines","delta_fp16","delta_fp32","sqnr_db","cosine","plan")})
sys.exit(0 if ok else 1)' "$1" "$2"
}

if [ ! -f "$demo/data.yaml" ]; then
    echo "SKIPPED: no $demo/data.yaml (configure with -DQB_DEMO_DATA=ON)"
    exit 0
fi
m=$src/assets/yolo12n-cones.onnx
d=$demo/data.yaml
head='re:/model\.21/cv[23]\.[0-9]/cv[23]\.[0-9]\.2/Conv'

check "INT8 needs a calibration" expect_exit 2 "--calib" "$qb" eval "$m" --data "$d" --images 2 --int8
check "a node name that matches nothing" expect_exit 2 "/model.99/nope" "$qb" eval "$m" --data "$d" --images 2 \
    --fp16 --fp16-node /model.99/nope
check "calibrate on 24 images" expect_exit 0 "" "$qb" calib "$m" --data "$d" --split calib --images-max 24 \
    --method percentile --out "$tmp/c.json" --quiet
check "another model's table is refused" expect_exit 2 "sha256" "$qb" eval "$src/tests/data/yolov8n-cones.onnx" \
    --data "$d" --images 2 --int8 --calib "$tmp/c.json"

check "FP32 eval on 16 images" expect_exit 0 "" "$qb" eval "$m" --data "$d" --images 16 --json "$tmp/fp32.json"
check "FP16 eval on 16 images" expect_exit 0 "" "$qb" eval "$m" --data "$d" --images 16 --fp16 --json "$tmp/fp16.json"
check "FP16: mode, no INT8 node, FP32 baseline only" jcheck "$tmp/fp16.json" \
    'j["precision_mode"] == "fp16" and j["plan"]["int8_nodes"] == 0 and list(j["baselines"]) == ["fp32"]'
check "FP16: the FP32 baseline is the plain evaluation" $py -c 'import json,sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
sys.exit(0 if all(a["baselines"]["fp32"][k] == b[k] for k in ("map50", "map50_95", "precision", "recall")) else 1)' \
    "$tmp/fp16.json" "$tmp/fp32.json"
check "FP16: within 0.01 mAP50-95 of FP32, SQNR above 40 dB" jcheck "$tmp/fp16.json" \
    'abs(j["delta_fp32"]["map50_95"]) < 0.01 and j["sqnr_db"] > 40 and j["cosine"] > 0.9999'

check "FP16: fidelity mAP50-95 against FP32's own detections above 0.95" jcheck "$tmp/fp16.json" \
    'j["fidelity"]["conf"] == 0.25 and 0.95 < j["fidelity"]["map50_95"] <= 1'
check "all-INT8 eval on 16 images" expect_exit 0 "" "$qb" eval "$m" --data "$d" --images 16 --int8 \
    --calib "$tmp/c.json" --json "$tmp/int8.json" --save-detections "$tmp/int8.dets.json"
check "INT8: 136 INT8 nodes (every Conv and MatMul), both baselines" jcheck "$tmp/int8.json" \
    'j["precision_mode"] == "int8" and j["plan"]["int8_nodes"] == 136 and sorted(j["baselines"]) == ["fp16", "fp32"]'
check "INT8: deltas are the differences of the reported numbers" jcheck "$tmp/int8.json" \
    'all(abs(j["delta_" + b][k] - (j[k] - j["baselines"][b][k])) < 1e-12 for b in ("fp16", "fp32") for k in ("map50", "map50_95"))'
check "INT8: outputs move (SQNR 10-40 dB) but the detector works (mAP50 > 0.4)" jcheck "$tmp/int8.json" \
    '10 < j["sqnr_db"] < 40 and j["map50"] > 0.4'
check "INT8: fidelity below FP16's" $py -c 'import json,sys
a, b = (json.load(open(f))["fidelity"]["map50_95"] for f in sys.argv[1:3]); sys.exit(0 if a < b else 1)' \
    "$tmp/int8.json" "$tmp/fp16.json"
check "INT8: the detections dumped are the plan's" $py "$src/tools/eval_ref.py" "$tmp/int8.dets.json" \
    --compare "$tmp/int8.json" --tol 1e-4 --quiet

check "head in FP16 eval" expect_exit 0 "" "$qb" eval "$m" --data "$d" --images 16 --int8 --calib "$tmp/c.json" \
    --fp16-node "$head" --no-baselines --json "$tmp/head.json"
check "head in FP16: 6 Conv fewer in INT8, a mixed plan, no baselines" jcheck "$tmp/head.json" \
    'j["precision_mode"] == "mixed" and j["plan"]["int8_nodes"] == 130 and "baselines" not in j'
check "head in FP16: another plan hash" $py -c 'import json,sys
a, b = (json.load(open(f))["plan"]["hash"] for f in sys.argv[1:3]); sys.exit(0 if a != b else 1)' \
    "$tmp/int8.json" "$tmp/head.json"

echo "plan_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
