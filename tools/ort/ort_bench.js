#!/usr/bin/env node
'use strict';
// onnxruntime-node CPU throughput, measured as `qbench bench` measures qbench:
// the same deterministic input in [0, 1), warm-up runs, then the median latency
// of N runs of the whole batch.
//
//   node tools/ort/ort_bench.js MODEL [--threads 2] [--runs 20] [--warmup 3]
//        [--opt-level all] [--json OUT]
//
// Session: intraOpNumThreads = --threads, interOpNumThreads = 1, sequential,
// graphOptimizationLevel = --opt-level. JSON keys as qbench bench writes them
// (latency_ms is the median, images_per_s = batch / median).

const fs = require('fs');
const lib = require('./ort_lib');

function usage(msg) {
  if (msg) process.stderr.write(`ort_bench: ${msg}\n`);
  process.stderr.write('usage: node tools/ort/ort_bench.js MODEL [--threads N] [--runs N] [--warmup N] ' +
                       '[--opt-level disabled|basic|extended|all] [--json OUT]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { threads: 2, runs: 20, warmup: 3, optLevel: 'all' };
  const ints = { '--threads': 'threads', '--runs': 'runs', '--warmup': 'warmup' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (ints[k] && v !== undefined) {
      a[ints[k]] = Number(v);
      if (!Number.isInteger(a[ints[k]]) || a[ints[k]] < (k === '--warmup' ? 0 : 1)) usage(`bad value for ${k}: '${v}'`);
      i++;
    } else if (k === '--opt-level' && v !== undefined) { a.optLevel = v; i++; }
    else if (k === '--json' && v !== undefined) { a.json = v; i++; }
    else if (k === '-h' || k === '--help') usage();
    else if (!k.startsWith('-') && !a.model) a.model = k;
    else usage(`unexpected or incomplete argument '${k}'`);
  }
  if (!a.model) usage();
  if (!lib.OPT_LEVELS.includes(a.optLevel)) usage(`unknown --opt-level '${a.optLevel}'`);
  return a;
}

// The generator qbench bench uses: x = x * 1664525 + 1013904223, value (x >> 8) / 2^24.
function benchInput(n, k) {
  const a = new Float32Array(n);
  let x = (12345 + k) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = (x >>> 8) / 16777216;
  }
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = lib.loadOrt();
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: a.optLevel,
  });
  const feeds = {};
  session.inputNames.forEach((name, k) => {
    const dims = session.inputMetadata[k].shape;
    if (dims.some((d) => typeof d !== 'number' || d < 1)) throw new Error(`input ${name} has a symbolic shape [${dims}]`);
    feeds[name] = new ort.Tensor('float32', benchInput(dims.reduce((x, y) => x * y, 1), k), dims);
  });
  const batch = session.inputMetadata[0].shape[0];
  const ms = [];
  for (let r = 0; r < a.warmup + a.runs; r++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    if (r >= a.warmup) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const mean = ms.reduce((x, y) => x + y, 0) / ms.length;
  ms.sort((x, y) => x - y);
  const n = ms.length;
  const median = n % 2 ? ms[(n - 1) / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  const p90 = ms[Math.floor(0.9 * (n - 1))];
  const version = ort.env.versions?.common || '';
  console.log(`${a.model}: onnxruntime-node ${version} (${a.threads} intra-op threads, opt ${a.optLevel}), ` +
              `batch ${batch}, ${a.runs} runs after ${a.warmup} warm-up`);
  console.log(`latency  median ${median.toFixed(2)} ms   mean ${mean.toFixed(2)}   min ${ms[0].toFixed(2)}   p90 ${p90.toFixed(2)}`);
  console.log(`throughput  ${(batch * 1e3 / median).toFixed(2)} images/s`);
  if (a.json) {
    const out = {
      model: a.model, runtime: 'onnxruntime-node', version, device: 'cpu', threads: a.threads,
      inter_op_threads: 1, graph_optimization_level: a.optLevel, batch, runs: a.runs, warmup: a.warmup,
      latency_ms: median, latency_mean_ms: mean, latency_min_ms: ms[0], latency_p90_ms: p90,
      images_per_s: batch * 1e3 / median,
    };
    fs.writeFileSync(a.json, JSON.stringify(out, null, 2) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e.message}\n`);
  process.exit(1);
});
