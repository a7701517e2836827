#!/usr/bin/env node
'use strict';
// onnxruntime-node inference on the images of a qbench pack: the peer for the
// evaluation throughput of docs/PERF.md. It rebuilds each model input exactly as
// qbench does (the pack's resized RGB bytes, padded with 114, /255, CHW) and times
// only the session runs, batch by batch, over the pack's images in order.
//
//   node tools/ort/ort_eval_bench.js MODEL PACK [--threads 2] [--images N] [--json OUT]
//
// Session as ort_bench.js: intraOpNumThreads = --threads, interOpNumThreads 1,
// sequential, graphOptimizationLevel all; one untimed warm-up run. JSON: images, batches, inference_s,
// inference_ms_per_image, images_per_s, unpack_ms_per_image.

const fs = require('fs');
const zlib = require('zlib');
const lib = require('./ort_lib');

function usage(msg) {
  if (msg) process.stderr.write(`ort_eval_bench: ${msg}\n`);
  process.stderr.write('usage: node tools/ort/ort_eval_bench.js MODEL PACK [--threads N] [--images N] [--json OUT]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { threads: 2, images: Infinity };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if ((k === '--threads' || k === '--images') && v !== undefined) {
      a[k.slice(2)] = Number(v);
      if (!Number.isInteger(a[k.slice(2)]) || a[k.slice(2)] < 1) usage(`bad value for ${k}: '${v}'`);
      i++;
    } else if (k === '--json' && v !== undefined) { a.json = v; i++; }
    else if (k.startsWith('-')) usage(`unexpected argument '${k}'`);
    else pos.push(k);
  }
  if (pos.length !== 2) usage();
  [a.model, a.pack] = pos;
  return a;
}

// The pack layout of core/pack.h (version 1): preamble, pixel records, table, JSON header.
function openPack(path) {
  const buf = fs.readFileSync(path);
  if (buf.length < 96 || buf.toString('latin1', 0, 8) !== 'QBPACK\r\n') throw new Error(`${path}: not a qbench pack`);
  if (buf.readUInt32LE(8) !== 1) throw new Error(`${path}: pack version ${buf.readUInt32LE(8)}, this script reads 1`);
  const u64 = (o) => Number(buf.readBigUInt64LE(o));
  const jsonOff = u64(16), jsonLen = u64(24), tableOff = u64(32), n = u64(40);
  const header = JSON.parse(buf.toString('utf8', jsonOff, jsonOff + jsonLen));
  const records = [];
  for (let i = 0; i < n; i++) {
    const e = tableOff + 80 * i;
    records.push({
      offset: u64(e), stored: buf.readUInt32LE(e + 24),
      padLeft: buf.readInt32LE(e + 44), padTop: buf.readInt32LE(e + 48),
      newW: buf.readInt32LE(e + 52), newH: buf.readInt32LE(e + 56),
    });
  }
  return { buf, header, records };
}

// The model input of one record, written into x at image slot `slot`.
function fillInput(pack, r, x, slot, H, W) {
  let rgb = pack.buf.subarray(r.offset, r.offset + r.stored);
  const row = r.newW * 3;
  if (pack.header.pixels === 'rgb8-sub-deflate') {
    rgb = zlib.inflateSync(rgb);
    for (let y = 0; y < r.newH; y++)
      for (let i = y * row + 3; i < (y + 1) * row; i++) rgb[i] = (rgb[i] + rgb[i - 3]) & 255;
  } else if (pack.header.pixels !== 'rgb8') {
    throw new Error(`unknown pixel storage '${pack.header.pixels}'`);
  }
  const plane = H * W, base = slot * 3 * plane;
  x.fill(114 / 255, base, base + 3 * plane);
  for (let y = 0; y < r.newH; y++)
    for (let i = 0; i < r.newW; i++) {
      const s = y * row + 3 * i, d = (y + r.padTop) * W + i + r.padLeft;
      for (let c = 0; c < 3; c++) x[base + c * plane + d] = rgb[s + c] / 255;
    }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = lib.loadOrt();
  const pack = openPack(a.pack);
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const [B, C, H, W] = pack.header.input;
  const count = Math.min(a.images, pack.records.length);
  const x = new Float32Array(B * C * H * W);
  let tUnpack = 0, tInfer = 0, batches = 0;
  for (let i = 0; i < count; i += B) {
    const t0 = process.hrtime.bigint();
    for (let s = 0; s < B; s++) {
      if (i + s < count) fillInput(pack, pack.records[i + s], x, s, H, W);
      else x.fill(114 / 255, s * C * H * W, (s + 1) * C * H * W);
    }
    const t1 = process.hrtime.bigint();
    if (i === 0) await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [B, C, H, W]) }); // warm-up
    const t1w = process.hrtime.bigint();
    await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [B, C, H, W]) });
    const t2 = process.hrtime.bigint();
    tUnpack += Number(t1 - t0) / 1e9;
    tInfer += Number(t2 - t1w) / 1e9;
    batches++;
  }
  const res = {
    runtime: 'onnxruntime-node', model: a.model, pack: a.pack, threads: a.threads, images: count, batches,
    inference_s: tInfer, inference_ms_per_image: 1e3 * tInfer / count, images_per_s: count / tInfer,
    unpack_ms_per_image: 1e3 * tUnpack / count,
  };
  console.log(`onnxruntime ${count} images in ${batches} batches of ${B}: inference ${res.inference_ms_per_image.toFixed(1)} ` +
              `ms/image (${res.images_per_s.toFixed(2)} images/s), unpack ${res.unpack_ms_per_image.toFixed(1)} ms/image`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(res, null, 1) + '\n');
}

main().catch((e) => { process.stderr.write(`ort_eval_bench: ${e.message}\n`); process.exit(1); });
