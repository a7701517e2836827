'use strict';
// Shared helpers for the onnxruntime-node scripts: locating the package, .npy
// files (NumPy format 1.0-3.0, C order, little endian) and error metrics.

const fs = require('fs');
const os = require('os');
const path = require('path');

// onnxruntime-node lives outside the repository, in qbench's npm cache
// (tests/ort/run_ort_test.sh and tools/bench_fp32.sh install it there).
function ortCacheDir() {
  if (process.env.QB_ORT_PREFIX) return process.env.QB_ORT_PREFIX;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'qbench', 'npm');
}

function loadOrt() {
  const dir = path.join(ortCacheDir(), 'node_modules', 'onnxruntime-node');
  try {
    return require(dir);
  } catch (e) {
    throw new Error(`cannot load onnxruntime-node from ${dir} (${e.message.split('\n')[0]}); ` +
                    `install it with: npm install --ignore-scripts --prefix ${ortCacheDir()} onnxruntime-node`);
  }
}

// dtype descr -> [TypedArray, onnxruntime type name]
const NPY_TYPES = {
  '<f4': [Float32Array, 'float32'],
  '<f8': [Float64Array, 'float64'],
  '<i8': [BigInt64Array, 'int64'],
  '<i4': [Int32Array, 'int32'],
  '|u1': [Uint8Array, 'uint8'],
  '|i1': [Int8Array, 'int8'],
  '|b1': [Uint8Array, 'bool'],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY')
    throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad .npy header ${header}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran-order arrays are not supported`);
  const type = NPY_TYPES[descr[1]];
  if (!type) throw new Error(`${file}: dtype ${descr[1]} is not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const bytes = count * type[0].BYTES_PER_ELEMENT;
  if (buf.length < off + bytes) throw new Error(`${file}: truncated (${buf.length - off} of ${bytes} data bytes)`);
  const data = new type[0](count);
  Buffer.from(data.buffer).set(buf.subarray(off, off + bytes));
  return { data, dims, type: type[1] };
}

function writeNpy(file, data, dims) {
  let descr = null;
  for (const [d, [T]] of Object.entries(NPY_TYPES)) {
    if (data instanceof T) { descr = d; break; }
  }
  if (!descr) throw new Error(`${file}: cannot write a ${data.constructor.name}`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  fs.renameSync(tmp, file);
}

// ||a - b||_2 / ||b||_2 and max |a - b|, in double precision; b is the reference.
function compare(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0, maxAbs = 0, nonFinite = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]), y = Number(b[i]);
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y)) && x !== y) nonFinite++;
      continue;
    }
    const d = x - y;
    num += d * d;
    den += y * y;
    if (Math.abs(d) > maxAbs) maxAbs = Math.abs(d);
  }
  const rel = den > 0 ? Math.sqrt(num) / Math.sqrt(den) : (num > 0 ? Infinity : 0);
  return { rel: nonFinite ? Infinity : rel, maxAbs, nonFinite };
}

// The same metrics on rows [r0, r1) of dimension 1 of a [B, R, N] tensor
// (detect output: rows 0-3 boxes, 4.. class scores).
function compareRows(a, b, dims, r0, r1) {
  const [B, R, N] = dims;
  const n = B * (r1 - r0) * N;
  const sa = new Float64Array(n), sb = new Float64Array(n);
  let k = 0;
  for (let bi = 0; bi < B; bi++) {
    for (let r = r0; r < r1; r++) {
      const off = (bi * R + r) * N;
      for (let j = 0; j < N; j++, k++) {
        sa[k] = a[off + j];
        sb[k] = b[off + j];
      }
    }
  }
  return compare(sa, sb);
}

const OPT_LEVELS = ['disabled', 'basic', 'extended', 'all'];

async function createSession(ort, model, opts = {}) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: opts.threads || 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optLevel || 'basic',
  });
}

module.exports = { ortCacheDir, loadOrt, readNpy, writeNpy, compare, compareRows, createSession, OPT_LEVELS };
