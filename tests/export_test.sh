# qbench export: the ModelOpt and trtexec flags parse as their documented syntax
# (shell words; ModelOpt's --nodes_to_exclude as Python regexes matched with re.match,
# its quantize(...) call as Python; trtexec's --layerPrecisions=name:fp16,...), and
# the names in them are exactly the model's own FP16 nodes of the plan.
set -u
src=${QB_SOURCE_DIR:-.}
q=${QB_BINARY:-$src/build/qbench}
. "$src/tests/lib.sh"
m=$src/tests/data/yolo12n-tiny-b2-320.onnx
plan=(--int8 --fp16-node 're:/model\.2[01]/.*' --fp16-op MatMul)

"$q" info "$m" --json >"$tmp/info.json"
for f in modelopt trtexec json txt; do
    check "export $f" expect_exit 0 "" "$q" export --model "$m" "${plan[@]}" --format "$f" -o "$tmp/out.$f"
done
check "the exports agree with the plan and the model" /usr/bin/python3 - "$tmp" <<'PY'
import ast, json, re, shlex, sys
tmp = sys.argv[1]
names = [n['name'] for n in json.load(open(f'{tmp}/info.json'))['quantizable_nodes']]
ops = {n['name']: n['op'] for n in json.load(open(f'{tmp}/info.json'))['quantizable_nodes']}
j = json.load(open(f'{tmp}/out.json'))
fp16 = j['fp16_nodes']
assert j['format'] == 'qbench-export' and j['op_set'] == 'core', j
assert set(fp16) <= set(names) and set(j['int8_nodes']) <= set(names), 'names not the model own'
assert set(fp16) | set(j['int8_nodes']) == set(names) and not set(fp16) & set(j['int8_nodes'])
assert any(n.startswith('/model.20/') for n in fp16) and any(ops[n] == 'MatMul' for n in fp16)
assert j['fp16_op_types'] == ['MatMul'], j['fp16_op_types']

# ModelOpt: one shell command, then the Python call
text = open(f'{tmp}/out.modelopt').read()
cmd, py = text.split('# The same as a Python call:')
cmd = ''.join(l for l in cmd.splitlines(True) if not l.startswith('#')).replace('\\\n', ' ')
argv = shlex.split(cmd)
assert argv[:3] == ['python', '-m', 'modelopt.onnx.quantization'], argv[:3]
def values(flag):
    i = argv.index(flag)
    out = []
    for a in argv[i + 1:]:
        if a.startswith('--'):
            break
        out.append(a)
    return out
assert f'--onnx_path={sys.argv[1]}' != '' and any(a.startswith('--onnx_path=') for a in argv)
assert '--quantize_mode=int8' in argv and '--calibration_method=entropy' in argv
assert values('--op_types_to_quantize') == ['Conv', 'ConvTranspose', 'Gemm', 'MatMul']
assert values('--op_types_to_exclude') == ['MatMul']
pats = values('--nodes_to_exclude')
excluded = {n for n in names if any(re.match(p, n) for p in pats)}
want = {n for n in fp16 if ops[n] != 'MatMul'}
assert excluded == want, (sorted(excluded ^ want))[:5]
for p in pats:  # each pattern names exactly one node
    assert sum(1 for n in names if re.match(p, n)) == 1, p
tree = ast.parse(py)
call = [n for n in ast.walk(tree) if isinstance(n, ast.Call)][0]
kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
assert kw['nodes_to_exclude'] == pats and kw['op_types_to_exclude'] == ['MatMul'], kw.keys()
assert kw['quantize_mode'] == 'int8' and kw['op_types_to_quantize'] == values('--op_types_to_quantize')

# trtexec
text = open(f'{tmp}/out.trtexec').read()
argv = shlex.split(''.join(l for l in text.splitlines(True) if not l.startswith('#')))
assert argv[0] == 'trtexec' and '--int8' in argv and '--fp16' in argv and '--precisionConstraints=obey' in argv
lp = [a for a in argv if a.startswith('--layerPrecisions=')][0][len('--layerPrecisions='):]
pairs = [x.rsplit(':', 1) for x in lp.split(',')]
assert all(p == 'fp16' for _, p in pairs) and [n for n, _ in pairs] == fp16

# txt
lines = [l for l in open(f'{tmp}/out.txt').read().splitlines() if not l.startswith('#')]
assert lines == fp16
PY
check "unknown format" expect_exit 2 "unknown --format" "$q" export --model "$m" --int8 --format onnx
check "no plan" expect_exit 2 "needs --model" "$q" export --model "$m" --format txt
check "a rule matching nothing" expect_exit 2 "has no node of that name" "$q" export --model "$m" --int8 --fp16-node /no/such/Conv --format txt
check "not a calibration table" expect_exit 2 "" "$q" export --model "$m" --int8 --calib "$tmp/out.json" --format txt
check "a failed export writes nothing" expect_exit 2 "" "$q" export --model "$m" --int8 --fp16-node /no/such/Conv --format txt -o "$tmp/fail.txt"
check "nothing half-written" test ! -e "$tmp/fail.txt"

coco=$src/../shared/fixtures/coco128-val/images
if [ -d "$coco" ]; then
    "$q" calib "$m" --images "$coco" --images-max 4 --method max --quiet --out "$tmp/c.json" >/dev/null 2>&1
    check "trt-calib-cache" expect_exit 0 "" "$q" export --model "$m" --calib "$tmp/c.json" --format trt-calib-cache -o "$tmp/c.cache"
    check "the cache: header, then a scale per tensor" /usr/bin/python3 - "$tmp" <<'PY'
import json, struct, sys
tmp = sys.argv[1]
lines = open(f'{tmp}/c.cache').read().splitlines()
t = json.load(open(f'{tmp}/c.json'))
assert lines[0].startswith('TRT-') and lines[0].endswith('EntropyCalibration2'), lines[0]
assert len(lines) - 1 == len(t['tensors']), (len(lines), len(t['tensors']))
name, hexs = lines[1].rsplit(': ', 1)
scale = struct.unpack('>f', bytes.fromhex(hexs))[0]
amax = t['tensors'][name]
assert abs(scale - amax / 127) <= 1e-6 * amax, (scale, amax)
PY
    check "trt-calib-cache needs -o" expect_exit 2 "-o FILE" "$q" export --model "$m" --calib "$tmp/c.json" --format trt-calib-cache
fi

echo "export_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
