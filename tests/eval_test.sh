#!/usr/bin/env bash
# qbench eval: the numbers against the fixture's reference and against the
# independent NumPy implementation (tools/eval_ref.py) on qbench's own
# detections; error handling. Needs QB_BINARY, QB_SOURCE_DIR and QB_DEMO_DIR
# (set by CTest). Cases whose data is absent are skipped with a message.
set -u
qb=${QB_BINARY:?}
src=${QB_SOURCE_DIR:?}
demo=${QB_DEMO_DIR:-$src/build/demo}
fixtures=$src/../shared/fixtures
py=python3
/usr/bin/python3 -c 'import numpy' 2>/dev/null && py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
json_near() { # file, key, want, tol
    $py -c 'import json,sys; j=json.load(open(sys.argv[1])); v=j[sys.argv[2]]
ok=abs(v-float(sys.argv[3]))<=float(sys.argv[4]); print(f"  {sys.argv[2]} = {v:.5f} (want {sys.argv[3]} +- {sys.argv[4]})")
sys.exit(0 if ok else 1)' "$@"
}
agrees() { # dump, qbench json: eval_ref.py recomputes every number from the dump
    $py "$src/tools/eval_ref.py" "$1" --compare "$2" --tol 1e-4 --quiet >"$tmp/ref" 2>&1 || { cat "$tmp/ref"; return 1; }
}
same_results() { # json, json: every key but the timings (and the pack's name) equal
    $py -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3])
for j in (a,b): j.pop("time",None); j.pop("pack",None)
ok=a==b; ok or print(f"  {a}\n  != {b}"); sys.exit(0 if ok else 1)' "$1" "$2"
}
qbgpu=$(dirname "$qb")/qbench-gpu # the OpenCV-free build of the same front end

tiny=$src/tests/data/yolo12n-tiny-b2-320.onnx
check "eval needs --data" expect_exit 2 "usage" "$qb" eval "$tiny"
check "missing data names the path" expect_exit 2 "$tmp/nope.yaml" "$qb" eval "$tiny" --data "$tmp/nope.yaml"
check "bad --images" expect_exit 2 "--images" "$qb" eval "$tiny" --data "$tmp" --images 0
mkdir -p "$tmp/empty"
check "empty folder names it" expect_exit 2 "$tmp/empty" "$qb" eval "$tiny" --data "$tmp/empty"

coco=$fixtures/coco128-val/data.yaml
y11=$fixtures/yolo11n/yolo11n-320.onnx
if [ -f "$coco" ] && [ -f "$y11" ]; then
    # the fixture README's reference: mAP50 0.4602, mAP50-95 0.3407 (within 0.001)
    check "eval yolo11n-320 on coco128-val" expect_exit 0 "" "$qb" eval "$y11" --data "$coco" --threads 2 \
        --json "$tmp/coco.json" --save-detections "$tmp/coco.dets.json"
    check "coco mAP50 matches the reference" json_near "$tmp/coco.json" map50 0.4602 0.001
    check "coco mAP50-95 matches the reference" json_near "$tmp/coco.json" map50_95 0.3407 0.001
    check "coco: 128 images, 898 instances" $py -c 'import json,sys; j=json.load(open(sys.argv[1]))
sys.exit(0 if (j["images"], j["instances"]) == (128, 898) else 1)' "$tmp/coco.json"
    check "coco: eval_ref.py agrees to 1e-4" agrees "$tmp/coco.dets.json" "$tmp/coco.json"
    check "the table has the all row" grep -q "^ *all *128 *898" "$tmp/out"
    # labels with classes the model lacks
    check "class ids beyond the model" expect_exit 2 "the model has 4 classes" "$qb" eval \
        "$src/tests/data/yolov8n-cones.onnx" --data "$coco" --images 2
    # a corrupt image is skipped and counted, not fatal
    mkdir -p "$tmp/c/images" "$tmp/c/labels"
    for f in 000000000139 000000000285; do cp "$fixtures/coco128-val/images/$f.jpg" "$tmp/c/images/"; done
    printf 'not a jpeg' >"$tmp/c/images/broken.jpg"
    check "corrupt image skipped" expect_exit 0 "broken.jpg" "$qb" eval "$y11" --data "$tmp/c/images" --json "$tmp/c.json"
    check "corrupt image counted" $py -c 'import json,sys; j=json.load(open(sys.argv[1]))
sys.exit(0 if (j["images"], j["skipped"]) == (2, 1) else 1)' "$tmp/c.json"

    # packs: the same numbers and detections as from the images, without reading them
    check "pack coco128-val" expect_exit 0 "" "$qb" pack "$y11" --data "$coco" --out "$tmp/coco.qbpack" --quiet
    check "eval --pack coco" expect_exit 0 "" "$qb" eval "$y11" --pack "$tmp/coco.qbpack" --threads 2 \
        --json "$tmp/coco.pack.json" --save-detections "$tmp/coco.pack.dets.json"
    check "coco: pack gives the same results" same_results "$tmp/coco.json" "$tmp/coco.pack.json"
    check "coco: pack gives the same detections" cmp "$tmp/coco.dets.json" "$tmp/coco.pack.dets.json"
    check "pack --compress deflate, --images 16" expect_exit 0 "" "$qb" pack "$y11" --data "$coco" --images 16 \
        --compress deflate --out "$tmp/coco16z.qbpack" --quiet
    check "eval from images, 16" expect_exit 0 "" "$qb" eval "$y11" --data "$coco" --images 16 --json "$tmp/c16.json" --quiet
    check "eval from the deflated pack, 16" expect_exit 0 "" "$qb" eval "$y11" --pack "$tmp/coco16z.qbpack" \
        --json "$tmp/c16p.json" --quiet
    check "deflated pack gives the same results" same_results "$tmp/c16.json" "$tmp/c16p.json"
    check "pack with a corrupt image" expect_exit 0 "broken.jpg" "$qb" pack "$y11" --data "$tmp/c/images" \
        --out "$tmp/c.qbpack"
    check "eval --pack counts the skipped image" expect_exit 0 "broken.jpg" "$qb" eval "$y11" --pack "$tmp/c.qbpack" \
        --json "$tmp/c.pack.json"
    check "skipped as from the images" same_results "$tmp/c.json" "$tmp/c.pack.json"
    if [ -x "$qbgpu" ]; then
        check "qbench-gpu eval --pack" expect_exit 0 "" "$qbgpu" eval "$y11" --pack "$tmp/c.qbpack" \
            --json "$tmp/c.gpu.json"
        check "qbench-gpu: the same results" same_results "$tmp/c.json" "$tmp/c.gpu.json"
        check "qbench-gpu eval --data says to pack" expect_exit 2 "--pack" "$qbgpu" eval "$y11" --data "$coco"
    else
        echo "SKIPPED: qbench-gpu cases ($qbgpu absent)"
    fi
    check "a pack for another input size is refused" expect_exit 2 "320x320" "$qb" eval \
        "$src/assets/yolo12n-cones.onnx" --pack "$tmp/c.qbpack"
    grep -qF "640x640" "$tmp/err" || { echo "  the error lacks the model's size"; cat "$tmp/err"; fail=$((fail + 1)); }
    check "--letterbox other than the pack's" expect_exit 2 "--letterbox predict" "$qb" eval "$y11" \
        --pack "$tmp/c.qbpack" --letterbox val
    check "--data and --pack together" expect_exit 2 "exclude" "$qb" eval "$y11" --data "$coco" --pack "$tmp/c.qbpack"
    head -c 5000 "$tmp/coco.qbpack" >"$tmp/cut.qbpack"
    check "a truncated pack" expect_exit 2 "truncated" "$qb" eval "$y11" --pack "$tmp/cut.qbpack"
    check "not a pack" expect_exit 2 "not a qbench pack" "$qb" eval "$y11" --pack "$coco"
    $py -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[5000]^=1; open(sys.argv[2],"wb").write(b)' \
        "$tmp/coco.qbpack" "$tmp/flip.qbpack"
    check "a damaged image in a pack stops the run" expect_exit 2 "pixel CRC" "$qb" eval "$y11" --pack "$tmp/flip.qbpack"
    $py -c 'import sys,zlib; b=bytearray(open(sys.argv[1],"rb").read()); b[8]=9; b[92:96]=zlib.crc32(bytes(b[:92])).to_bytes(4,"little")
open(sys.argv[2],"wb").write(b)' "$tmp/c.qbpack" "$tmp/v9.qbpack"
    check "a pack of an unknown version is refused" expect_exit 2 "version 9" "$qb" eval "$y11" --pack "$tmp/v9.qbpack"
else
    echo "SKIPPED: coco128-val / yolo11n fixture cases ($fixtures absent)"
fi

if [ -f "$demo/data.yaml" ]; then
    for m in "$src/assets/yolo12n-cones.onnx" "$src/tests/data/yolo11n-cones.onnx" "$src/tests/data/yolov8n-cones.onnx"; do
        n=$(basename "$m" .onnx)
        check "eval $n on 64 demo images" expect_exit 0 "" "$qb" eval "$m" --data "$demo/data.yaml" --images 64 \
            --json "$tmp/$n.json" --save-detections "$tmp/$n.dets.json"
        check "$n: eval_ref.py agrees to 1e-4" agrees "$tmp/$n.dets.json" "$tmp/$n.json"
        check "$n: a trained model finds cones (mAP50 > 0.5)" json_near "$tmp/$n.json" map50 0.75 0.25
    done
    check "pack 64 demo images" expect_exit 0 "" "$qb" pack "$src/assets/yolo12n-cones.onnx" --data "$demo/data.yaml" \
        --images 64 --out "$tmp/demo.qbpack" --quiet
    check "eval --pack on the demo" expect_exit 0 "" "$qb" eval "$src/assets/yolo12n-cones.onnx" \
        --pack "$tmp/demo.qbpack" --json "$tmp/demo.pack.json" --save-detections "$tmp/demo.pack.dets.json"
    check "demo: pack gives the same results" same_results "$tmp/yolo12n-cones.json" "$tmp/demo.pack.json"
    check "demo: pack gives the same detections" cmp "$tmp/yolo12n-cones.dets.json" "$tmp/demo.pack.dets.json"
    check "--images limits the count" $py -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["images"] == 64 else 1)' \
        "$tmp/yolov8n-cones.json"
else
    echo "SKIPPED: demo cases (no $demo/data.yaml; configure with -DQB_DEMO_DATA=ON)"
fi

echo "eval_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
