#!/usr/bin/env node
'use strict';
// Runs an ONNX model with onnxruntime-node on .npy inputs and writes its outputs
// as .npy, named as `qbench run` names them.
//
//   node tools/ort/ort_run.js MODEL --input X.npy [--input NAME=X.npy ...]
//        --output Y.npy [--threads N] [--opt-level disabled|basic|extended|all]
//
// One --input per model input, in order, or NAME=FILE. With one model output
// it writes Y.npy; with several, Y.<output name>.npy each.

const path = require('path');
const lib = require('./ort_lib');

function usage(msg) {
  if (msg) process.stderr.write(`ort_run: ${msg}\n`);
  process.stderr.write('usage: node tools/ort/ort_run.js MODEL --input X.npy [--input NAME=X.npy ...] ' +
                       '--output Y.npy [--threads N] [--opt-level disabled|basic|extended|all]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { inputs: [], threads: 1, optLevel: 'basic' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--input' && v !== undefined) { a.inputs.push(v); i++; }
    else if (k === '--output' && v !== undefined) { a.output = v; i++; }
    else if (k === '--threads' && v !== undefined) { a.threads = parseInt(v, 10); i++; }
    else if (k === '--opt-level' && v !== undefined) { a.optLevel = v; i++; }
    else if (k === '-h' || k === '--help') usage();
    else if (!k.startsWith('-') && !a.model) a.model = k;
    else usage(`unexpected or incomplete argument '${k}'`);
  }
  if (!a.model || !a.inputs.length || !a.output) usage();
  if (!(a.threads >= 1)) usage('--threads needs a positive number');
  if (!lib.OPT_LEVELS.includes(a.optLevel)) usage(`unknown --opt-level '${a.optLevel}'`);
  return a;
}

// "out.npy" + "output0" -> "out.output0.npy" (file-safe name), as qbench run does.
function outputPath(base, name) {
  const stem = base.endsWith('.npy') ? base.slice(0, -4) : base;
  return `${stem}.${name.replace(/[^A-Za-z0-9_-]/g, '_')}.npy`;
}

async function run(ort, session, feedsFromFiles) {
  const feeds = {};
  for (const [name, file] of Object.entries(feedsFromFiles)) {
    const a = lib.readNpy(file);
    feeds[name] = new ort.Tensor(a.type, a.data, a.dims);
  }
  return session.run(feeds);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = lib.loadOrt();
  const session = await lib.createSession(ort, a.model, a);
  const files = {};
  a.inputs.forEach((spec, i) => {
    const eq = spec.indexOf('=');
    if (eq > 0 && !spec.slice(0, eq).includes(path.sep)) files[spec.slice(0, eq)] = spec.slice(eq + 1);
    else if (i < session.inputNames.length) files[session.inputNames[i]] = spec;
    else usage(`more inputs than the model's ${session.inputNames.length}`);
  });
  for (const n of session.inputNames) if (!files[n]) usage(`no input for model input '${n}'`);
  const t0 = process.hrtime.bigint();
  const out = await run(ort, session, files);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  for (const name of session.outputNames) {
    const p = session.outputNames.length === 1 ? a.output : outputPath(a.output, name);
    lib.writeNpy(p, out[name].data, out[name].dims);
    process.stderr.write(`ort_run: wrote ${p} [${out[name].dims.join(', ')}]\n`);
  }
  process.stderr.write(`ort_run: ${a.model} in ${ms.toFixed(1)} ms (onnxruntime ${ort.env.versions?.common || ''})\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`ort_run: ${e.message}\n`);
    process.exit(1);
  });
}

module.exports = { outputPath };
