#!/usr/bin/env bash
# qbench calib: a table from the tiny test model on demo images, the histogram
# cache (a second run with any method does no inference; a damaged entry is
# rebuilt), the leakage guard and its override, the test split refused, corrupt
# images skipped and counted, bad paths and options (exit 2, naming the problem).
# Needs QB_BINARY and QB_SOURCE_DIR; QB_DEMO_DIR (set by CTest) holds the demo
# images, else they are rendered here (a few, small).
set -u
qb=${QB_BINARY:?}
src=${QB_SOURCE_DIR:?}
demo=${QB_DEMO_DIR:-$src/build/demo}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
export QB_CACHE_DIR=$tmp/cache
model=$src/tests/data/yolov8n-tiny-b2-320.onnx

json_check() { # file, python expression over j (the parsed file)
    $py -c 'import json,sys; j=json.load(open(sys.argv[1])); ok=eval("(" + sys.argv[2] + ")")
sys.exit(0 if ok else (print("  false: " + sys.argv[2]) or 1))' "$1" "$2"
}

lacks() { ! grep -q "$1" "$2"; }

# usage and bad input
check "calib needs a model" expect_exit 2 "usage" "$qb" calib
check "calib needs --out" expect_exit 2 "--out" "$qb" calib "$model" --images "$tmp"
check "one image source" expect_exit 2 "one image source" "$qb" calib "$model" --images "$tmp" --data "$tmp/d.yaml" \
    --out "$tmp/c.json"
check "unknown method" expect_exit 2 "unknown calibration method 'kl'" "$qb" calib "$model" --images "$tmp" \
    --method kl --out "$tmp/c.json"
check "--percentile wants the method" expect_exit 2 "--method percentile" "$qb" calib "$model" --images "$tmp" \
    --percentile 99 --out "$tmp/c.json"
check "bad --percentile" expect_exit 2 "--percentile" "$qb" calib "$model" --images "$tmp" --method percentile \
    --percentile 101 --out "$tmp/c.json"
check "missing image folder names it" expect_exit 2 "$tmp/nope" "$qb" calib "$model" --images "$tmp/nope" \
    --out "$tmp/c.json"
check "missing data.yaml names it" expect_exit 2 "$tmp/nope.yaml" "$qb" calib "$model" --data "$tmp/nope.yaml" \
    --split train --out "$tmp/c.json"
check "the test split is refused" expect_exit 2 "split named 'test'" "$qb" calib "$model" --data "$tmp/nope.yaml" \
    --split test --out "$tmp/c.json"
check "unwritable --out fails first" expect_exit 2 "cannot write into $tmp/nodir" "$qb" calib "$model" \
    --images "$tmp/nope" --out "$tmp/nodir/c.json"
check "--help" expect_exit 0 "" "$qb" calib --help
check "nothing written on failure" test ! -e "$tmp/c.json"

# images: the demo's, else a few rendered here
if [ ! -f "$demo/data.yaml" ]; then
    echo "note: no demo at $demo; rendering a small one"
    demo=$tmp/demo
    "$qb" demo-data --out "$demo" --count 40 --seed 3 --size 320x192 --splits val,calib >/dev/null 2>&1 ||
        { echo "FAIL: demo-data"; exit 1; }
fi
mkdir -p "$tmp/imgs"
for f in $(ls "$demo/images/calib" | head -4); do cp "$demo/images/calib/$f" "$tmp/imgs/"; done
check "missing model names it" expect_exit 2 "$tmp/nope.onnx" "$qb" calib "$tmp/nope.onnx" --images "$tmp/imgs" \
    --out "$tmp/c.json"

# a table; 4 images: a warning
check "calib on 4 images" expect_exit 0 "only 4 calibration images" "$qb" calib "$model" --images "$tmp/imgs" \
    --threads 2 --out "$tmp/e.json" --trt-cache "$tmp/e.cache"
check "prints the table and the time" grep -q "images .* amax\|entropy" "$tmp/out"
check "the time line" grep -q "^time: .*inference" "$tmp/out"
check "table: method, images, tensors" json_check "$tmp/e.json" \
    'j["format"] == "qbench-calib" and j["method"] == "entropy" and j["images"]["count"] == 4 and
     len(j["tensors"]) > 100 and 0.5 < j["tensors"]["images"] <= 1.0 and j["preprocess"]["input"] == [2, 3, 320, 320]'
check "TensorRT cache header" grep -q "^TRT-8601-EntropyCalibration2$" <(head -1 "$tmp/e.cache")
check "TensorRT cache lines" grep -Eq "^images: [0-9a-f]{8}$" "$tmp/e.cache"

# the cache: any method, no inference
check "second run (max) hits the cache" expect_exit 0 "cached histograms" "$qb" calib "$model" --images "$tmp/imgs" \
    --threads 2 --method max --out "$tmp/m.json"
check "cache hit: no inference" grep -q "^time: .*no inference" "$tmp/out"
check "max >= entropy per tensor" $py -c 'import json,sys
m=json.load(open(sys.argv[1]))["tensors"]; e=json.load(open(sys.argv[2]))["tensors"]
sys.exit(0 if m.keys() == e.keys() and all(e[k] <= m[k] * (1 + 1e-6) for k in m) else 1)' "$tmp/m.json" "$tmp/e.json"
check "percentile from the cache, --json" expect_exit 0 "cached" "$qb" calib "$model" --images "$tmp/imgs" \
    --method percentile --percentile 99.9 --out "$tmp/p.json" --json
check "--json says cached" json_check "$tmp/out" 'j["cached"] is True and j["method"] == "percentile" and
    len(j["tensors"]) > 100 and j["time"]["inference_s"] == 0'
check "percentile in the table" json_check "$tmp/p.json" 'j["percentile"] == 99.9'
check "--no-cache runs inference" expect_exit 0 "" "$qb" calib "$model" --images "$tmp/imgs" --no-cache \
    --method max --out "$tmp/m2.json"
check "--no-cache: not cached" lacks "cached" "$tmp/err"
check "same max table with and without the cache" cmp -s "$tmp/m.json" "$tmp/m2.json"
for f in "$QB_CACHE_DIR"/calib-*.qbh; do head -c 1000 "$f" >"$f.cut" && mv "$f.cut" "$f"; done
check "damaged cache entry: warned and rebuilt" expect_exit 0 "damaged calibration cache" "$qb" calib "$model" \
    --images "$tmp/imgs" --method max --out "$tmp/m3.json"
check "rebuilt table is the same" cmp -s "$tmp/m.json" "$tmp/m3.json"
check "then cached again" expect_exit 0 "cached" "$qb" calib "$model" --images "$tmp/imgs" --method max \
    --out "$tmp/m3.json"

a_file=$(ls "$tmp/imgs" | head -1) b_file=$(ls "$tmp/imgs" | tail -1)
cp "$tmp/imgs/$b_file" "$tmp/imgs/$a_file"
check "changed image content: a new image list, inference again" expect_exit 0 "" "$qb" calib "$model" \
    --images "$tmp/imgs" --method max --out "$tmp/m4.json"
check "changed image content: not cached" lacks "cached" "$tmp/err"
check "changed image content: another list hash" $py -c 'import json,sys
a=json.load(open(sys.argv[1]))["images"]["list_sha256"]; b=json.load(open(sys.argv[2]))["images"]["list_sha256"]
sys.exit(0 if a != b else 1)' "$tmp/m.json" "$tmp/m4.json"

# corrupt images are skipped and counted
cp -r "$tmp/imgs" "$tmp/bad"
printf 'not a png' >"$tmp/bad/broken.png"
check "corrupt image skipped" expect_exit 0 "broken.png" "$qb" calib "$model" --images "$tmp/bad" --out "$tmp/b.json"
check "corrupt image counted" json_check "$tmp/b.json" 'j["images"]["count"] == 4 and j["images"]["skipped"] == 1'

# the leakage guard: the val split against itself, and copies of val images
val=$(ls "$demo/images/val" | head -1)
cp "$demo/images/val/$val" "$tmp/imgs/zz_copy_$val"
check "guard: images also in --eval-data" expect_exit 2 "1 of the 5 calibration images are also in the evaluation set" \
    "$qb" calib "$model" --images "$tmp/imgs" --eval-data "$demo/data.yaml" --out "$tmp/g.json"
check "guard names an example" grep -q "zz_copy_$val" "$tmp/err"
check "guard: the val split vs the same yaml's val" expect_exit 2 "also in the evaluation set" "$qb" calib "$model" \
    --data "$demo/data.yaml" --split val --images-max 4 --out "$tmp/g.json"
check "guard: nothing written" test ! -e "$tmp/g.json"
check "--allow-overlap passes, with a warning" expect_exit 0 "allowed by --allow-overlap" "$qb" calib "$model" \
    --data "$demo/data.yaml" --split val --images-max 2 --allow-overlap --method max --out "$tmp/g.json"
check "calib split passes the guard" expect_exit 0 "" "$qb" calib "$model" --data "$demo/data.yaml" --split calib \
    --images-max 2 --method max --out "$tmp/k.json"

echo "calib_test: $((pass + fail)) checks, $pass passed, $fail failed"
[ "$fail" -eq 0 ]
