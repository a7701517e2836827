#!/usr/bin/env node
'use strict';
// qbench's FP32 reference against onnxruntime on real YOLO models.
//
// Each case runs `qbench run MODEL --input ... --save-input IN.npy --output OUT.npy`,
// feeds IN.npy (the exact tensor qbench used, its own letterboxing included) to
// onnxruntime-node, and compares every output: relative L2 ||q - o|| / ||o|| must
// stay <= QB_ORT_TOL (1e-5). Detect outputs [B, 4+nc, N] also show the box rows
// and the score rows apart; as the box rows dominate the total, every class score
// must also be within QB_ORT_SCORE_ATOL (1e-4) of onnxruntime's.
//
// Environment: QB_BINARY (qbench), QB_SOURCE_DIR (repo root), QB_ORT_PREFIX
// (npm prefix holding onnxruntime-node), QB_ORT_IMAGES (real images for the
// yolo11n fixture, default 4), QB_ORT_THREADS (default 2), QB_ORT_TOL.
// Real images and the yolo11n fixture come from $QB_SOURCE_DIR/../shared/fixtures;
// without them those cases are skipped and the tiny models run on synthetic input.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const src = process.env.QB_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const lib = require(path.join(src, 'tools', 'ort', 'ort_lib.js'));

const TOL = Number(process.env.QB_ORT_TOL || 1e-5);
const SCORE_ATOL = Number(process.env.QB_ORT_SCORE_ATOL || 1e-4);
const THREADS = Math.max(1, parseInt(process.env.QB_ORT_THREADS || '2', 10));
const N_IMAGES = Math.max(0, parseInt(process.env.QB_ORT_IMAGES || '4', 10));

const stats = { passed: 0, failed: 0, skipped: 0 };

function fmt(x) {
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

function check(ok, label, detail) {
  if (ok) stats.passed++;
  else stats.failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? '  ' + detail : ''}`);
}

function findQbench() {
  const b = process.env.QB_BINARY;
  if (b && fs.existsSync(b)) return b;
  throw new Error(`QB_BINARY is not set to a qbench binary (got '${b || ''}'); ` +
                  'run through ctest, or set it to build*/qbench');
}

// A deterministic tensor in [0, 1) (normalised pixels), as a Float32Array.
function syntheticInput(dims, seed) {
  const n = dims.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = (x >>> 8) / 16777216;
  }
  return a;
}

function sameArray(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function outputFile(base, name, count) {
  if (count === 1) return base;
  return `${base.slice(0, -4)}.${name.replace(/[^A-Za-z0-9_-]/g, '_')}.npy`;
}

const sessions = new Map();
async function session(ort, model) {
  if (!sessions.has(model)) sessions.set(model, await lib.createSession(ort, model, { threads: THREADS }));
  return sessions.get(model);
}

// One case: qbench and onnxruntime on the same input tensor.
async function runCase(ort, qbench, tmp, c) {
  const s = await session(ort, c.model);
  const label = `${path.basename(c.model, '.onnx')} [${c.what}]`;
  const out = path.join(tmp, 'out.npy');
  const saved = path.join(tmp, 'in.npy');
  for (const f of fs.readdirSync(tmp)) fs.unlinkSync(path.join(tmp, f));
  const args = ['run', c.model, ...(c.args || []), ...c.inputs.flatMap((i) => ['--input', i]),
                '--output', out, '--save-input', saved, '--threads', String(THREADS)];
  const t0 = Date.now();
  const r = spawnSync(qbench, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const qms = Date.now() - t0;
  if (r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').slice(-3).join(' | ');
    check(false, `${label} qbench run`, `exit ${r.status}: ${why}`);
    return;
  }
  let input;
  try {
    input = lib.readNpy(saved);
  } catch (e) {
    check(false, `${label} --save-input`, e.message);
    return;
  }
  const want = c.dims || s.inputMetadata?.[0]?.shape;
  if (want && want.join(',') !== input.dims.join(',')) {
    check(false, `${label} --save-input`, `shape [${input.dims}] but the model input is [${want}]`);
    return;
  }
  if (c.verify) {
    const msg = c.verify(input);
    check(!msg, `${label} input tensor`, msg || '');
  }
  const t1 = Date.now();
  const res = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) });
  const oms = Date.now() - t1;
  for (const name of s.outputNames) {
    const ref = res[name];
    const file = outputFile(out, name, s.outputNames.length);
    let q;
    try {
      q = lib.readNpy(file);
    } catch (e) {
      check(false, `${label} ${name}`, e.message);
      continue;
    }
    if (q.dims.join(',') !== ref.dims.join(',')) {
      check(false, `${label} ${name}`, `shape [${q.dims}] vs onnxruntime [${ref.dims}]`);
      continue;
    }
    const m = lib.compare(q.data, ref.data);
    let extra = '';
    let scoresOk = true;
    if (ref.dims.length === 3 && ref.dims[1] > 4 && ref.dims[2] > ref.dims[1]) {
      // detect head: the score rows are small next to the box rows, so a wrong
      // score hides in the total; they also must stay within SCORE_ATOL each
      const box = lib.compareRows(q.data, ref.data, ref.dims, 0, 4);
      const cls = lib.compareRows(q.data, ref.data, ref.dims, 4, ref.dims[1]);
      scoresOk = cls.maxAbs <= SCORE_ATOL;
      extra = ` (boxes ${fmt(box.rel)}, scores ${fmt(cls.rel)}, score max abs ${fmt(cls.maxAbs)})`;
    }
    check(m.rel <= TOL && scoresOk, `${label} ${name} [${ref.dims}]`,
          `rel L2 ${fmt(m.rel)}  max abs ${fmt(m.maxAbs)}${extra}` +
          (m.nonFinite ? `  ${m.nonFinite} non-finite mismatches` : '') +
          `  qbench ${qms} ms, onnxruntime ${oms} ms`);
  }
}

// Checks on the tensor qbench fed the model (images): pixels in [0, 1], slots as asked.
function imageCheck(slots) {
  return (t) => {
    const a = t.data;
    const per = a.length / t.dims[0];
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < a.length; i++) {
      if (a[i] < lo) lo = a[i];
      if (a[i] > hi) hi = a[i];
    }
    if (!(lo >= 0 && hi <= 1)) return `values in [${lo}, ${hi}], not [0, 1]`;
    if (hi - lo < 0.1) return `nearly constant input [${lo}, ${hi}]`;
    for (let b = 1; b < t.dims[0]; b++) {
      const same = sameArray(a.subarray(0, per), a.subarray(b * per, (b + 1) * per));
      if (same !== (slots[b] === slots[0])) return `batch slot ${b} ${same ? 'equals' : 'differs from'} slot 0`;
    }
    return null;
  };
}

function listCases(ort, tmp) {
  const cases = [];
  const fixtures = path.resolve(src, '..', 'shared', 'fixtures');
  const imgDir = path.join(fixtures, 'coco128-val', 'images');
  const images = fs.existsSync(imgDir)
    ? fs.readdirSync(imgDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().map((f) => path.join(imgDir, f))
    : [];
  if (!images.length) {
    console.log(`SKIPPED: real-image cases (no images in ${imgDir})`);
    stats.skipped++;
  }
  const fixture = path.join(fixtures, 'yolo11n', 'yolo11n-320.onnx');
  if (fs.existsSync(fixture) && images.length) {
    for (const img of images.slice(0, N_IMAGES))
      cases.push({ model: fixture, inputs: [img], what: path.basename(img), verify: imageCheck([0]) });
  } else {
    console.log(`SKIPPED: yolo11n-320 fixture cases (${fs.existsSync(fixture) ? 'no images' : fixture + ' absent'})`);
    stats.skipped++;
  }
  const dataDir = path.join(src, 'tests', 'data');
  const tiny = fs.readdirSync(dataDir).filter((f) => /-tiny-.*\.onnx$/.test(f) && !/-dyn\.onnx$/.test(f)).sort();
  if (!tiny.length) throw new Error(`no *-tiny-*.onnx models in ${dataDir}`);
  tiny.forEach((f, k) => {
    const model = path.join(dataDir, f);
    if (images.length) {
      const i0 = images[(2 * k + N_IMAGES) % images.length];
      const i1 = images[(2 * k + N_IMAGES + 1) % images.length];
      cases.push({ model, inputs: [i0, i1], what: `${path.basename(i0)} + ${path.basename(i1)}`,
                   verify: imageCheck([0, 1]) });
      if (k === 0)
        cases.push({ model, inputs: [i0], what: `${path.basename(i0)} in every slot`, verify: imageCheck([0, 0]) });
    }
    const npy = path.join(tmp, '..', `${path.basename(f, '.onnx')}.synthetic.npy`);
    cases.push({ model, inputs: [npy], what: 'synthetic .npy', synthetic: k + 1,
                 verify: (t) => (sameArray(t.data, lib.readNpy(npy).data) ? null : '--save-input differs from --input') });
  });
  // an Ultralytics dynamic=True export (symbolic batch, height, width): qbench
  // binds the shape (--shape, or the model's metadata) and folds the anchor graph
  for (const f of fs.readdirSync(dataDir).filter((f) => /-dyn\.onnx$/.test(f)).sort()) {
    const model = path.join(dataDir, f);
    for (const dims of [[2, 3, 320, 320], [1, 3, 256, 416]]) {
      const args = ['--shape', `images=${dims.join(',')}`];
      if (images.length) {
        const slots = images.slice(0, dims[0]);
        cases.push({ model, args, dims, inputs: slots, what: `--shape ${dims} ${slots.map((i) => path.basename(i)).join(' + ')}`,
                     verify: imageCheck(slots.map((_, k) => k)) });
      }
      const npy = path.join(tmp, '..', `${path.basename(f, '.onnx')}.${dims.join('x')}.synthetic.npy`);
      cases.push({ model, args, dims, inputs: [npy], what: `--shape ${dims} synthetic .npy`, synthetic: 100 + dims[3],
                   verify: (t) => (sameArray(t.data, lib.readNpy(npy).data) ? null : '--save-input differs from --input') });
    }
    if (images.length)
      cases.push({ model, args: [], dims: [2, 3, 320, 320], inputs: images.slice(0, 1),
                   what: 'shape from the metadata (batch 2, imgsz 320)', verify: imageCheck([0, 0]) });
  }
  // the trained cone detectors (demo and test models, 640, batch 2) on demo stereo
  // pairs (build/demo, rendered at build time), else on real images
  const demoDir = path.join(process.env.QB_DEMO_DIR || path.join(src, 'build', 'demo'), 'images', 'val');
  const demo = fs.existsSync(demoDir) ? fs.readdirSync(demoDir).filter((f) => /\.(png|jpg)$/.test(f)).sort()
    .map((f) => path.join(demoDir, f)) : [];
  const pairs = demo.length >= 4 ? [demo.slice(0, 2), demo.slice(2, 4)] : images.length >= 2 ? [images.slice(0, 2)] : [];
  if (!demo.length) console.log(`SKIPPED: demo stereo pairs (no images in ${demoDir}); cone models run on other images`);
  const cones = [path.join(src, 'assets', 'yolo12n-cones.onnx')]
    .concat(fs.readdirSync(dataDir).filter((f) => /-cones\.onnx$/.test(f)).sort().map((f) => path.join(dataDir, f)));
  for (const model of cones)
    for (const pair of pairs)
      cases.push({ model, inputs: pair, what: pair.map((i) => path.basename(i)).join(' + '), verify: imageCheck([0, 1]) });
  return cases;
}

async function main() {
  const ort = lib.loadOrt();
  const qbench = findQbench();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-ort-'));
  const tmp = path.join(root, 'case');
  fs.mkdirSync(tmp);
  console.log(`qbench ${qbench}; onnxruntime-node ${ort.env.versions?.common || '?'} ` +
              `(${THREADS} threads); tolerance rel L2 <= ${TOL}, class scores within ${SCORE_ATOL}`);
  try {
    for (const c of listCases(ort, tmp)) {
      if (c.synthetic) {
        const s = await session(ort, c.model);
        const dims = c.dims || s.inputMetadata[0].shape;
        lib.writeNpy(c.inputs[0], syntheticInput(dims, 1000 + c.synthetic), dims);
      }
      await runCase(ort, qbench, tmp, c);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`${stats.passed} passed, ${stats.failed} failed` + (stats.skipped ? `, ${stats.skipped} skipped` : ''));
  return stats.failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.log(`FAIL ${e.message}`);
  console.log(`${stats.passed} passed, ${stats.failed + 1} failed`);
  process.exit(1);
});
