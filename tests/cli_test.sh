#!/usr/bin/env bash
# The command line as scripts use it: exit codes, messages that name what is wrong,
# JSON output, .npy round trips. Needs QB_BINARY and QB_SOURCE_DIR (set by CTest).
set -u
qb=${QB_BINARY:?}
src=${QB_SOURCE_DIR:?}
model=$src/tests/data/yolo12n-tiny-b2-320.onnx
. "$(dirname "$0")/lib.sh"

check "no arguments without a terminal: the workbench says it needs one" expect_exit 2 "needs a terminal" "$qb" </dev/null
check "unknown command" expect_exit 2 "unknown command 'frobnicate'" "$qb" frobnicate
check "missing model names the file" expect_exit 2 "$tmp/nope.onnx" "$qb" info "$tmp/nope.onnx"
check "info needs a model" expect_exit 2 "usage" "$qb" info

if [ -f "$model" ]; then
    check "info works" expect_exit 0 "" "$qb" info "$model"
    check "info lists quantizable nodes" grep -q "quantizable nodes" "$tmp/out"
    check "info shows metadata" grep -q "stride" "$tmp/out"
    check "info --json" expect_exit 0 "" "$qb" info "$model" --json
    check "json is parseable and has the keys" node -e '
        const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        for (const k of ["inputs","outputs","op_counts","parameters","flops","quantizable_nodes","metadata"])
            if (!(k in j)) throw new Error("missing " + k);
        if (j.inputs[0].shape.join(",") !== "2,3,320,320") throw new Error("input shape " + j.inputs[0].shape);
        if (!(j.quantizable_nodes.length > 10)) throw new Error("few quantizable nodes");
        if (!(j.flops > 0 && j.parameters > 0)) throw new Error("no flops/params");' "$tmp/out"

    head -c 20000 "$model" > "$tmp/trunc.onnx"
    check "truncated model is refused with its name" expect_exit 2 "$tmp/trunc.onnx" "$qb" info "$tmp/trunc.onnx"
    printf 'not an image' > "$tmp/bad.jpg"
    check "corrupt image is refused with its name" \
        expect_exit 2 "$tmp/bad.jpg" "$qb" run "$model" --input "$tmp/bad.jpg" --output "$tmp/y.npy"
    check "no half-written output after a failure" test ! -e "$tmp/y.npy"

    img=$(ls "$src"/../shared/fixtures/coco128-val/images/*.jpg 2>/dev/null | head -n 1)
    if [ -n "$img" ]; then
        check "run on an image" expect_exit 0 "" "$qb" run "$model" --input "$img" --output "$tmp/y.npy" \
            --save-input "$tmp/x.npy"
        check "output written" test -s "$tmp/y.npy"
        check "run on the saved tensor" expect_exit 0 "" "$qb" run "$model" --input "$tmp/x.npy" --output "$tmp/y2.npy"
        check "image and its tensor give the same output" cmp -s "$tmp/y.npy" "$tmp/y2.npy"
        check "too many inputs for the batch" expect_exit 2 "batch" \
            "$qb" run "$model" --input "$img" --input "$img" --input "$img" --output "$tmp/y3.npy"
        head -c 1000 "$tmp/x.npy" > "$tmp/short.npy"
        check "truncated npy names the file" \
            expect_exit 2 "$tmp/short.npy" "$qb" run "$model" --input "$tmp/short.npy" --output "$tmp/y4.npy"
    else
        echo "note: ../shared/fixtures absent; image cases skipped"
    fi
    check "bench --json" expect_exit 0 "" "$qb" bench "$model" --runs 2 --warmup 1 --threads 2 --json "$tmp/b.json"
    check "bench json has latency" grep -q '"latency_ms"' "$tmp/b.json"
else
    echo "note: $model absent; model cases skipped"
fi

# constant subgraphs too heavy to fold at load (77 GFLOP of Conv, a 3.9 GB ConvTranspose)
# are left to run time: loading stays fast and small
for m in "$src"/tests/data/heavy/*.onnx; do
    check "$(basename "$m") loads quickly" expect_exit 0 "" timeout 20 "$qb" info "$m"
    check "$(basename "$m") keeps the heavy node at run time" grep -q "1 at run time after folding" "$tmp/out"
done

# demo-data: --splits renders only the listed splits, byte for byte as a full run
# writes them; --image-format png stores exactly the rendered pixels (the raw bytes)
dd=$tmp/demo
check "demo-data full run" expect_exit 0 "" "$qb" demo-data --out "$dd/full" --count 20 --size 160x96 --threads 2
check "demo-data --splits val,calib" \
    expect_exit 0 "" "$qb" demo-data --out "$dd/sub" --count 20 --size 160x96 --threads 2 --splits val,calib
check "--splits reports only what it rendered" grep -q "4 scenes of 20 (8 stereo images: val 4, calib 4)" "$tmp/out"
(cd "$dd/full" && find images labels -type f | grep -v '/train/' | sort) > "$tmp/full.ls"
(cd "$dd/sub" && find images labels -type f | sort) > "$tmp/sub.ls"
check "--splits writes the val and calib files of a full run" cmp -s "$tmp/full.ls" "$tmp/sub.ls"
check "... and there are some (2 val and 2 calib pairs, val labels)" test "$(wc -l < "$tmp/sub.ls")" -eq 12
same_files() { while read -r f; do cmp -s "$dd/full/$f" "$dd/sub/$f" || { echo "  differs: $f"; return 1; }; done < "$tmp/sub.ls"; }
check "--splits output is byte-identical to the full run's" same_files
check "no train folder without train" test ! -e "$dd/sub/images/train" -a ! -e "$dd/sub/labels/train"
check "data.yaml keeps train: without a folder" grep -qx "train: *# not rendered (--splits)" "$dd/sub/data.yaml"
check "data.yaml names the splits written" grep -qx "val: images/val" "$dd/sub/data.yaml"
check "data.yaml of a full run names train" grep -qx "train: images/train" "$dd/full/data.yaml"
check "--splits with an unknown split" expect_exit 2 "bad value for --splits: 'val,test'" \
    "$qb" demo-data --out "$dd/bad" --count 20 --splits val,test
check "--splits with an empty entry" expect_exit 2 "--splits" "$qb" demo-data --out "$dd/bad" --splits val,
check "--image-format names the formats" expect_exit 2 "bad value for --image-format: 'bmp'" \
    "$qb" demo-data --out "$dd/bad" --image-format bmp
check "--image-format is for --format images" expect_exit 2 "--image-format is for --format images" \
    "$qb" demo-data --out "$dd/bad" --format raw --image-format png
check "nothing written for a usage error" test ! -e "$dd/bad"

check "demo-data png" expect_exit 0 "" \
    "$qb" demo-data --out "$dd/png" --count 10 --size 96x64 --splits val --image-format png --threads 1
check "demo-data raw" expect_exit 0 "" "$qb" demo-data --out "$dd/raw" --count 10 --size 96x64 --splits val --format raw
check "png files only, in val" test "$(cd "$dd/png/images" && ls */)" = "s000008_l.png
s000008_r.png"
check "raw --splits writes only the listed split" test ! -e "$dd/raw/train.rgb" -a ! -e "$dd/raw/calib.rgb" \
    -a "$(wc -c < "$dd/raw/val.rgb")" -eq $((2 * 96 * 64 * 3))
check "raw.json lists the split written" grep -q '"splits":[[:space:]]*\["val"\]' "$dd/raw/raw.json"
if command -v python3 >/dev/null 2>&1; then
    # an independent PNG decoder (zlib and the five PNG filters), so OpenCV does not check itself
    check "png pixels equal the raw bytes" python3 - "$dd/png/images/val/s000008_l.png" \
        "$dd/png/images/val/s000008_r.png" "$dd/raw/val.rgb" <<'PY'
import struct, sys, zlib
def decode(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) == (8, 2, 0), (path, depth, colour, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, bpp, stride = zlib.decompress(idat), 3, w * 3
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else: assert f == 0, f
        out += line
        prev = line
    return bytes(out)
rgb = open(sys.argv[3], "rb").read()
assert decode(sys.argv[1]) + decode(sys.argv[2]) == rgb, "png pixels differ from the raw bytes"
PY
else
    echo "note: python3 absent; png pixel check skipped"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
