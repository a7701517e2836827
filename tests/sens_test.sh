# qbench sens and search from the command line, on the shared fixture (yolo11n-320,
# coco128-val; 2 images): usage errors, the JSON they write, the plan search writes
# being what eval --plan reads, and a second sens run coming from the cache.
set -u
src=${QB_SOURCE_DIR:-.}
q=${QB_BINARY:-$src/build/qbench}
. "$src/tests/lib.sh"
fixtures=$src/../shared/fixtures
m=$fixtures/yolo11n/yolo11n-320.onnx
d=$fixtures/coco128-val/data.yaml
if [ ! -f "$m" ] || [ ! -f "$d" ]; then
    echo "SKIPPED: $fixtures absent"
    exit 0
fi
export QB_CACHE_DIR=$tmp/cache

check "calib" expect_exit 0 "" "$q" calib "$m" --data "$d" --images-max 8 --allow-overlap --method max --quiet --out "$tmp/c.json"
check "no calibration" expect_exit 2 "--calib" "$q" sens "$m" --data "$d"
check "bad mode" expect_exit 2 "unknown --mode" "$q" sens "$m" --data "$d" --calib "$tmp/c.json" --mode int4
check "two sources" expect_exit 2 "one of --data" "$q" sens "$m" --data "$d" --pack x.qbpack --calib "$tmp/c.json"
check "local by module" expect_exit 2 "single nodes" "$q" sens "$m" --data "$d" --calib "$tmp/c.json" --mode local --by module
check "search without budget" expect_exit 2 "--budget" "$q" search "$m" --data "$d" --calib "$tmp/c.json"
mkdir -p "$tmp/unlabelled"
cp "$fixtures"/coco128-val/images/000000000139.jpg "$tmp/unlabelled/"
check "map without labels" expect_exit 2 "no labels" "$q" sens "$m" --images "$tmp/unlabelled" --calib "$tmp/c.json" --metric map

check "sens by op" expect_exit 0 "" "$q" sens "$m" --data "$d" --calib "$tmp/c.json" --images-max 2 --by op --json "$tmp/s.json"
check "sens json" /usr/bin/python3 -c "
import json, sys
s = json.load(open('$tmp/s.json'))
assert s['mode'] == 'int8-alone' and s['by'] == 'op' and s['images'] == 2, s
assert s['fp32']['fidelity_map50_95'] == 1.0, s['fp32']
ops = {u['name']: u for u in s['units']}
assert set(ops) == {'Conv', 'MatMul'}, ops.keys()
assert all(u['evaluated'] and not u['cached'] and 0 < u['gain'] < 1 for u in s['units'])
assert [u['rank'] for u in s['units']] == [1, 2]
assert s['units'][0]['cost'] >= s['units'][1]['cost']
"
check "sens again: cached" expect_exit 0 "" "$q" sens "$m" --data "$d" --calib "$tmp/c.json" --images-max 2 --by op --json "$tmp/s2.json"
check "cached numbers" /usr/bin/python3 -c "
import json
a, b = json.load(open('$tmp/s.json')), json.load(open('$tmp/s2.json'))
assert all(u['cached'] for u in b['units'])
for u, v in zip(a['units'], b['units']):
    assert {k: x for k, x in u.items() if k not in ('cached', 'seconds')} == {k: x for k, x in v.items() if k not in ('cached', 'seconds')}
"

check "search" expect_exit 0 "" "$q" search "$m" --data "$d" --calib "$tmp/c.json" --images-max 2 --budget 100 --out-plan "$tmp/p.json" --json "$tmp/r.json"
check "search chose all-INT8 for a budget of 100 points" /usr/bin/python3 -c "
import json
r = json.load(open('$tmp/r.json'))
c = r['plans'][r['chosen']]
assert c['what'] == 'all INT8' and c['fp16_nodes'] == [] and c['meets_budget'], c
assert r['plans'][0]['what'] == 'all FP16' and abs(r['plans'][0]['cost'] - 1) < 1e-12
"
check "search, budget 0" expect_exit 0 "" "$q" search "$m" --data "$d" --calib "$tmp/c.json" --images-max 2 --budget 0 --budget-metric map50 --max-returns 3 --json "$tmp/r0.json"
check "the chosen plan meets the budget and is the cheapest that does" /usr/bin/python3 -c "
import json
r = json.load(open('$tmp/r0.json'))
ok = [p for p in r['plans'] if p['meets_budget']]
c = r['plans'][r['chosen']]
assert r['budget_metric'] == 'map50' and c['meets_budget'] and c['map50'] >= r['target'], c
assert c['cost'] == min(p['cost'] for p in ok), (c['cost'], [p['cost'] for p in ok])
assert all(p['map50'] < r['target'] for p in r['plans'] if not p['meets_budget'])
assert len(r['plans']) > 3 and any(p['pareto'] for p in r['plans'])
"
check "eval reads the plan" expect_exit 0 "" "$q" eval "$m" --data "$d" --images 2 --plan "$tmp/p.json" --calib "$tmp/c.json" --no-baselines

echo "sens_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
