#!/usr/bin/env bash
# --preset S on every command (issue 7): a preset written by hand stands for the
# options it records (eval, export, run, calib and sens give exactly what the
# equivalent explicit options give), options given win over it (a plan option
# replaces its plan, a rule adds to it), and a preset that does not fit is refused
# with exit 2 before anything is written: MODEL another model, a model file whose
# sha256 is not the recorded one, a file with an unknown key (named by its JSON path).
# Uses the shared fixture (yolo11n-320, coco128-val); skips without it.
set -u
src=${QB_SOURCE_DIR:-.}
q=${QB_BINARY:-$src/build/qbench}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
. "$src/tests/lib.sh"
fixtures=$(cd "$src/.." && pwd)/shared/fixtures
m=$fixtures/yolo11n/yolo11n-320.onnx
d=$fixtures/coco128-val/data.yaml
other=$(cd "$src" && pwd)/tests/data/yolov8n-tiny-b2-320.onnx
if [ ! -f "$m" ] || [ ! -f "$d" ]; then
    echo "SKIPPED: $fixtures absent"
    exit 0
fi
export QB_CACHE_DIR=$tmp/cache
sha=$(sha256sum "$m" | cut -d' ' -f1)

jcheck() { # file, python expression over j (the parsed file)
    $py -c 'import json,sys; j=json.load(open(sys.argv[1])); ok=eval(sys.argv[2])
sys.exit(0 if ok else (print("  false:", sys.argv[2]) or 1))' "$@"
}
same_keys() { # a.json b.json key... : equal values at those keys
    $py -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); d=[k for k in sys.argv[3:] if a.get(k)!=b.get(k)]
sys.exit(0 if not d else (print("  differ:", {k: (a.get(k), b.get(k)) for k in d}) or 1))' "$@"
}
preset() { # out, sha256, plan JSON, extra top-level JSON text
    cat >"$1" <<EOF
{"format": "qbench-preset", "version": 1,
 "model": {"path": "$m", "sha256": "$2"},
 "data": {"data": "$d", "split": "val", "images": null, "pack": null, "images_max": 4},
 "calibration": {"table": "$tmp/c.json", "data": "$d", "split": "val", "images": null,
                 "method": "max", "percentile": null, "images_max": 4},
 "eval_images": 0,
 "plan": $3,
 "builds": []$4}
EOF
}

# the explicit run everything is compared with: a table, a plan with one head node in FP16
check "calib" expect_exit 0 "" "$q" calib "$m" --data "$d" --split val --images-max 4 --method max --allow-overlap \
    --quiet --out "$tmp/c.json"
"$q" info "$m" --json >"$tmp/info.json"
node=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["quantizable_nodes"][-1]["name"])' "$tmp/info.json")
n_quant=$($py -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["quantizable_nodes"]))' "$tmp/info.json")
node2=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["quantizable_nodes"][-2]["name"])' "$tmp/info.json")
plan=(--int8 --fp16-node "$node")
preset "$tmp/p.json" "$sha" "{\"default\": \"int8\", \"op_set\": \"core\", \"fp16_op_types\": [],
 \"fp16_nodes\": [\"$node\"], \"int8_nodes\": []}" ""
preset "$tmp/stale.json" "$(printf '0%.0s' $(seq 64))" '{"default": "int8", "op_set": "core", "fp16_op_types": [],
 "fp16_nodes": [], "int8_nodes": []}' ""
preset "$tmp/broken.json" "$sha" '{"default": "int8", "op_set": "core", "fp16_op_types": [],
 "fp16_nodes": [], "int8_nodes": [], "fp8_nodes": []}' ""

# eval: the preset is the explicit options
check "eval explicit" expect_exit 0 "" "$q" eval "$m" --data "$d" --split val --images 4 --calib "$tmp/c.json" \
    "${plan[@]}" --no-baselines --quiet --json "$tmp/e1.json"
check "eval --preset" expect_exit 0 "" "$q" eval --preset "$tmp/p.json" --no-baselines --quiet --json "$tmp/e2.json"
check "eval --preset: the numbers of the explicit options" same_keys "$tmp/e1.json" "$tmp/e2.json" \
    model data split images instances map50 map50_95 precision recall plan precision_mode sqnr_db
check "eval --preset ran the preset's plan" jcheck "$tmp/e2.json" \
    'j["precision_mode"] == "mixed" and j["images"] == 4 and j["plan"]["int8_nodes"] == int(sys.argv[3]) - 1' "$n_quant"
check "eval --preset with the same MODEL" expect_exit 0 "" "$q" eval "$m" --preset "$tmp/p.json" --images 2 \
    --no-baselines --quiet --json "$tmp/e3.json"
check "--images wins over images_max" jcheck "$tmp/e3.json" 'j["images"] == 2'
check "eval --preset --fp16: the plan option wins" expect_exit 0 "" "$q" eval --preset "$tmp/p.json" --images 2 --fp16 \
    --no-baselines --quiet --json "$tmp/e4.json"
check "FP16 plan, no INT8 node" jcheck "$tmp/e4.json" 'j["precision_mode"] == "fp16" and j["plan"]["int8_nodes"] == 0'
check "eval --preset --fp16-node: a rule adds to the preset's plan" expect_exit 0 "" "$q" eval --preset "$tmp/p.json" \
    --images 2 --fp16-node "$node2" --no-baselines --quiet --json "$tmp/e5.json"
check "two nodes in FP16" jcheck "$tmp/e5.json" 'j["plan"]["int8_nodes"] == int(sys.argv[3]) - 2' "$n_quant"

# refusals: exit 2, nothing written
check "MODEL another model" expect_exit 2 "another model" "$q" eval "$other" --preset "$tmp/p.json" --json "$tmp/x.json"
check "the message names the preset" grep -qF "$tmp/p.json" "$tmp/err"
check "a preset for another model file" expect_exit 2 "another model" "$q" export --preset "$tmp/stale.json" \
    --format txt -o "$tmp/x.txt"
check "calib from a preset for another model file" expect_exit 2 "another model" "$q" calib --preset "$tmp/stale.json" \
    --out "$tmp/x.json"
check "nothing written" test ! -e "$tmp/x.txt" -a ! -e "$tmp/x.json"
check "a broken preset names the JSON path" expect_exit 2 "$.plan.fp8_nodes" "$q" info --preset "$tmp/broken.json"
check "... and the file" grep -qF "$tmp/broken.json" "$tmp/err"
check "a missing preset" expect_exit 2 "$tmp/nope.json" "$q" bench --preset "$tmp/nope.json"
check "--preset once" expect_exit 2 "once" "$q" info --preset "$tmp/p.json" --preset "$tmp/p.json"
check "demo-data has no model" expect_exit 2 "does not apply" "$q" demo-data --preset "$tmp/p.json" --out "$tmp/dd"

# export: byte for byte what the explicit options give
for f in modelopt trtexec json txt; do
    check "export $f" expect_exit 0 "" "$q" export --model "$m" --calib "$tmp/c.json" "${plan[@]}" --format $f \
        -o "$tmp/x1.$f"
    check "export --preset $f" expect_exit 0 "" "$q" export --preset "$tmp/p.json" --format $f -o "$tmp/x2.$f"
    check "export --preset $f: the same output" cmp "$tmp/x1.$f" "$tmp/x2.$f"
done
check "export --preset --model another model" expect_exit 2 "another model" "$q" export --preset "$tmp/p.json" \
    --model "$other" --format txt

# info, bench, run
check "info --preset" expect_exit 0 "" "$q" info --preset "$tmp/p.json" --json
check "info --preset is info MODEL" cmp "$tmp/out" "$tmp/info.json"
check "bench --preset" expect_exit 0 "" "$q" bench --preset "$tmp/p.json" --runs 1 --warmup 0 --json "$tmp/b.json"
check "bench ran the preset's plan" grep -q "INT8" "$tmp/out"
check "bench json" jcheck "$tmp/b.json" 'j["model"] == sys.argv[3] and j["runs"] == 1' "$m"
img=$fixtures/coco128-val/images/000000000139.jpg
check "run explicit" expect_exit 0 "" "$q" run "$m" --calib "$tmp/c.json" "${plan[@]}" --input "$img" --output "$tmp/y1.npy"
check "run --preset" expect_exit 0 "" "$q" run --preset "$tmp/p.json" --input "$img" --output "$tmp/y2.npy"
check "run FP32" expect_exit 0 "" "$q" run "$m" --input "$img" --output "$tmp/y0.npy"
check "run --preset: the plan's output" cmp "$tmp/y1.npy" "$tmp/y2.npy"
check "... which is not FP32's" sh -c "! cmp -s '$tmp/y0.npy' '$tmp/y2.npy'"

# calib: the preset's source, count and method make the same table
check "calib --preset needs --out" expect_exit 2 "--out" "$q" calib --preset "$tmp/p.json"
check "calib --preset: the leakage guard checks its evaluation data" expect_exit 2 "evaluation set" \
    "$q" calib --preset "$tmp/p.json" --quiet --out "$tmp/c2.json"
check "calib --preset" expect_exit 0 "" "$q" calib --preset "$tmp/p.json" --allow-overlap --quiet --out "$tmp/c2.json"
check "calib --preset: the same table" $py -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3])
sys.exit(0 if a["tensors"] == b["tensors"] and a["images"] == b["images"] and a["images"]["count"] == 4 and a["method"] == b["method"] == "max" else 1)' \
    "$tmp/c.json" "$tmp/c2.json"

# pack: the model and the preset's images
check "pack --preset" expect_exit 0 "" "$q" pack --preset "$tmp/p.json" --quiet --out "$tmp/p.qbpack"
check "pack --preset packed images_max images" grep -q "packed 4 images" "$tmp/out"

# sens and search: the same plans on the same images (the explicit run's results come from the cache)
check "sens explicit" expect_exit 0 "" "$q" sens "$m" --data "$d" --split val --calib "$tmp/c.json" --images-max 2 \
    --by op --quiet --json "$tmp/s1.json"
check "sens --preset" expect_exit 0 "" "$q" sens --preset "$tmp/p.json" --images-max 2 --by op --quiet \
    --json "$tmp/s2.json"
check "sens --preset: the same results, from the cache" $py -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3])
strip = lambda u: {k: x for k, x in u.items() if k not in ("cached", "seconds")}
assert b["images"] == 2 and all(u["cached"] for u in b["units"]), b
assert [strip(u) for u in a["units"]] == [strip(u) for u in b["units"]]' "$tmp/s1.json" "$tmp/s2.json"
check "search --preset" expect_exit 0 "" "$q" search --preset "$tmp/p.json" --images-max 1 --budget 100 --quiet \
    --json "$tmp/r.json"
check "search --preset: all INT8 within 100 points" jcheck "$tmp/r.json" \
    'j["images"] == 1 and j["plans"][j["chosen"]]["what"] == "all INT8"'

echo "preset_cli_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
