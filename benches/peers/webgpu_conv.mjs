#!/usr/bin/env node
// Peer benchmark on the same WebGPU adapter as convflops: the layers convflops times, run through
// TensorFlow.js's WebGPU backend (`--lib tfjs`) or ONNX Runtime Web's WebGPU execution provider (`--lib ort-web`),
// in Node on Dawn (the npm package `webgpu`). On a machine whose only Vulkan device is Mesa's lavapipe, Dawn picks
// lavapipe, the adapter convflops uses there.
//
// Layers are given with convflops' own flags, as for onnxruntime_conv.py, and each is timed as the standard conv,
// the depthwise conv (C_in → C_in, groups = C_in), the pointwise conv (1×1 on the depthwise output's size) and the
// separable pair (depthwise then pointwise). FLOPs = 2·MACs, counted exactly (BigInt) as convflops counts them.
//
//   node webgpu_conv.mjs --lib tfjs|ort-web [--layer "FLAGS" [--label L]]... [--convs standard,...]
//                        [--samples 10] [--min-time 1] [--warmup 3] [--sample-time 0.005] [--seed 0]
//                        [--first-index 0] [--tfjs-sync queue|readback]
//   node webgpu_conv.mjs --setup      # loads the packages and asks Dawn for an adapter; prints it; exit 3 if not
//   node webgpu_conv.mjs --print-layers
//
// Timing follows onnxruntime_conv.py: a warm-up of at least --warmup calls and 0.2 s, each call waited for on its
// own (so shader compilation is done before any sample), then a check of 64 sampled outputs against a float64
// reference, then samples until there are at least --samples and they add up to at least --min-time seconds (20 s
// and 1000 samples at most). A sample is R calls back to back, then one wait for the adapter, divided by R; R is
// chosen so that a sample lasts at least --sample-time. The figure quoted is the median sample.
//
// What "wait for the adapter" means, per library:
//   tfjs     tfjs records its dispatches into one open compute pass and submits in batches. The wait ends that
//            pass, submits the command encoder and awaits queue.onSubmittedWorkDone(). Awaiting the queue without
//            ending the pass and submitting first waits for nothing and makes convs look 20–40× faster.
//            --tfjs-sync readback waits by reading the last output back instead (t.data()).
//   ort-web  session.run() calls are chained (one session takes one run at a time); outputs stay on the GPU
//            (preferredOutputLocation 'gpu-buffer') and the sample ends when the last output has been read back
//            with getData(), which waits for all the work submitted before it. The input lives in a GPU buffer
//            made once, so no run uploads it.
//
// Output: one JSON object per conv per line, the fields of onnxruntime_conv.py's lines (index, label, flags, layer,
// conv, flops, macs, time_s, calls_per_sample, checked_outputs, max_abs_error, flops_per_s) plus runtime, version,
// sync, layout, adapter, first_call_s (the first call, shader compilation included) and, for tfjs, pads and programs.
// A conv the library cannot run gets a line with "unsupported": "why"; one whose output is wrong (or whose run
// fails) a line with "failed": "what" and no speed, and the exit status is then 4.
// Progress goes to stderr.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NAME = 'webgpu_conv.mjs';
const CONVS = ['standard', 'depthwise', 'pointwise', 'separable'];
const OPSET = 17;
const IR_VERSION = 8;
// The same list as onnxruntime_conv.py's DEFAULT_LAYERS (compare.sh passes the layers explicitly).
const DEFAULT_LAYERS = [
  ['14²×512→512', '--in-channels 512 --out-channels 512 --size 14'],
  ['56²×128→128', '--in-channels 128 --out-channels 128 --size 56'],
  ['112²×32→64', '--in-channels 32 --out-channels 64 --size 112'],
  ['7²×1024→1024', '--in-channels 1024 --out-channels 1024 --size 7'],
  ['DeepBench 20×84×256→256',
    '--in-channels 256 --out-channels 256 --height 20 --width 84 --kernel-size 3 --stride 1 --padding 1'],
];

function fail(message, code = 2) {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(code);
}

// ------------------------------------------------------------------------------------------------ arguments

function parseArgs(argv) {
  const opts = {
    lib: null, layers: [], labels: [], convs: CONVS, samples: 10, minTime: 1, warmup: 3, sampleTime: 0.005,
    seed: 0, firstIndex: 0, tfjsSync: 'queue', setup: false, printLayers: false,
  };
  const numeric = {
    '--samples': ['samples', 1], '--min-time': ['minTime', 0], '--warmup': ['warmup', 1],
    '--sample-time': ['sampleTime', 0], '--seed': ['seed', 0], '--first-index': ['firstIndex', 0],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--setup') { opts.setup = true; continue; }
    if (flag === '--print-layers') { opts.printLayers = true; continue; }
    if (flag === '--help' || flag === '-h') {
      // The comment block at the top of this file.
      const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      const end = lines.findIndex((l) => !l.startsWith('//'));
      process.stdout.write(lines.slice(0, end).map((l) => l.slice(3)).join('\n') + '\n');
      process.exit(0);
    }
    if (i + 1 >= argv.length) fail(`${flag} needs a value`);
    const value = argv[++i];
    if (flag === '--lib') {
      if (value !== 'tfjs' && value !== 'ort-web') fail(`--lib must be tfjs or ort-web, got ${JSON.stringify(value)}`);
      opts.lib = value;
    } else if (flag === '--layer') opts.layers.push(value);
    else if (flag === '--label') opts.labels.push(value);
    else if (flag === '--convs') {
      opts.convs = value.split(',').map((c) => c.trim()).filter(Boolean);
      for (const c of opts.convs) if (!CONVS.includes(c)) fail(`--convs: unknown conv ${JSON.stringify(c)} (one of ${CONVS.join(', ')})`);
    } else if (flag === '--tfjs-sync') {
      if (value !== 'queue' && value !== 'readback') fail(`--tfjs-sync must be queue or readback, got ${JSON.stringify(value)}`);
      opts.tfjsSync = value;
    } else if (numeric[flag]) {
      const [key, min] = numeric[flag];
      const n = Number(value);
      if (!Number.isFinite(n) || n < min || (key !== 'minTime' && key !== 'sampleTime' && !Number.isInteger(n))) {
        fail(`${flag} must be ${key === 'minTime' || key === 'sampleTime' ? 'a number' : 'an integer'} ≥ ${min}, got ${JSON.stringify(value)}`);
      }
      opts[key] = n;
    } else fail(`unknown argument ${JSON.stringify(flag)} (see --help)`);
  }
  if (!opts.setup && !opts.printLayers && !opts.lib) fail('--lib tfjs or --lib ort-web is required');
  return opts;
}

function pair(flag, text) {
  const parts = String(text).toLowerCase().split('x');
  const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if ((nums.length !== 1 && nums.length !== 2) || nums.some((n) => !Number.isSafeInteger(n))) {
    throw new Error(`${flag} expects N or HxW, got ${JSON.stringify(text)}`);
  }
  return nums.length === 1 ? [nums[0], nums[0]] : nums;
}

// convflops' layer flags and defaults, as onnxruntime_conv.py parses them.
function parseLayer(flags) {
  const words = flags.trim().split(/\s+/).filter(Boolean);
  const a = { batch: 1, in_channels: 512, out_channels: 512, size: 14, height: null, width: null,
    kernel: [3, 3], stride: [1, 1], padding: null, dilation: [1, 1], groups: 1 };
  const ints = { '--batch': 'batch', '--in-channels': 'in_channels', '--out-channels': 'out_channels',
    '--size': 'size', '--height': 'height', '--width': 'width', '--groups': 'groups' };
  const pairs = { '--kernel-size': 'kernel', '--stride': 'stride', '--padding': 'padding', '--dilation': 'dilation' };
  try {
    for (let i = 0; i < words.length; i += 2) {
      const flag = words[i], value = words[i + 1];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      if (ints[flag]) {
        if (!/^\d+$/.test(value)) throw new Error(`${flag} expects an integer, got ${JSON.stringify(value)}`);
        a[ints[flag]] = Number(value);
      } else if (pairs[flag]) a[pairs[flag]] = pair(flag, value);
      else throw new Error(`unknown flag ${JSON.stringify(flag)}`);
    }
  } catch (error) {
    fail(`bad layer flags ${JSON.stringify(flags)}: ${error.message}`);
  }
  const layer = {
    batch: a.batch, in_channels: a.in_channels, out_channels: a.out_channels,
    height: a.height || a.size, width: a.width || a.size, kernel: a.kernel, stride: a.stride,
    padding: a.padding || [Math.floor(a.dilation[0] * (a.kernel[0] - 1) / 2), Math.floor(a.dilation[1] * (a.kernel[1] - 1) / 2)],
    dilation: a.dilation, groups: a.groups,
  };
  for (const key of ['batch', 'in_channels', 'out_channels', 'height', 'width', 'groups']) {
    if (layer[key] < 1) fail(`bad layer flags ${JSON.stringify(flags)}: ${key} must be ≥ 1`);
  }
  for (const key of ['kernel', 'stride', 'dilation']) {
    if (layer[key].some((v) => v < 1)) fail(`bad layer flags ${JSON.stringify(flags)}: ${key} must be ≥ 1`);
  }
  if (layer.in_channels % layer.groups || layer.out_channels % layer.groups) {
    fail(`bad layer flags ${JSON.stringify(flags)}: groups must divide in and out channels`);
  }
  layer.out_height = outSize(layer, 0);
  layer.out_width = outSize(layer, 1);
  if (layer.out_height < 1 || layer.out_width < 1) fail(`bad layer flags ${JSON.stringify(flags)}: empty output`);
  return layer;
}

// PyTorch's rule, as convflops: floor((size + 2·pad − dil·(k−1) − 1)/stride) + 1.
function outSize(layer, axis) {
  const size = axis === 0 ? layer.height : layer.width;
  const span = layer.dilation[axis] * (layer.kernel[axis] - 1) + 1;
  return Math.floor((size + 2 * layer.padding[axis] - span) / layer.stride[axis]) + 1;
}

const depthwiseOf = (l) => ({ ...l, out_channels: l.in_channels, groups: l.in_channels });
function pointwiseOf(l) {
  const p = { ...l, height: l.out_height, width: l.out_width, kernel: [1, 1], stride: [1, 1], padding: [0, 0],
    dilation: [1, 1], groups: 1 };
  return { ...p, out_height: outSize(p, 0), out_width: outSize(p, 1) };
}
function withOut(l) { return { ...l, out_height: outSize(l, 0), out_width: outSize(l, 1) }; }

// The parts a conv is made of, in order; each part is a full layer description.
function partsOf(layer, conv) {
  return {
    standard: [layer],
    depthwise: [withOut(depthwiseOf(layer))],
    pointwise: [pointwiseOf(layer)],
    separable: [withOut(depthwiseOf(layer)), pointwiseOf(layer)],
  }[conv];
}

// N·H_out·W_out·C_out·(C_in/groups)·kh·kw, exact.
function macs(l) {
  return [l.batch, outSize(l, 0), outSize(l, 1), l.out_channels, l.in_channels / l.groups, l.kernel[0], l.kernel[1]]
    .reduce((acc, v) => acc * BigInt(v), 1n);
}
const flopsOf = (layer, conv) => partsOf(layer, conv).reduce((acc, p) => acc + 2n * macs(p), 0n);

function describe(l) {
  return `${l.batch}×${l.in_channels}×${l.height}×${l.width} → ${l.batch}×${l.out_channels}×${l.out_height}×${l.out_width}, `
    + `kernel ${l.kernel[0]}×${l.kernel[1]}, stride ${l.stride[0]}×${l.stride[1]}, padding ${l.padding[0]}×${l.padding[1]}`;
}

// ------------------------------------------------------------------------------------------------ data and reference

// mulberry32: reproducible uniform samples in (0, 1).
function uniforms(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
}

// Box–Muller on mulberry32: reproducible normal samples.
function normals(count, seed, scale = 1) {
  const uniform = uniforms(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform())), phi = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(phi) * scale;
    if (i + 1 < count) out[i + 1] = r * Math.sin(phi) * scale;
  }
  return out;
}

// OIHW weights of one part, scaled by 1/sqrt(fan_in) as onnxruntime_conv.py does.
function weightsOf(part, seed) {
  const cinG = part.in_channels / part.groups;
  const fanIn = cinG * part.kernel[0] * part.kernel[1];
  return normals(part.out_channels * fanIn, seed, 1 / Math.sqrt(fanIn));
}

// One output of a part in float64, reading the input through `at(n, c, y, x)`: [value, Σ|x·w|].
function convAt(part, weights, at, n, co, oy, ox) {
  const [kh, kw] = part.kernel, [sh, sw] = part.stride, [ph, pw] = part.padding, [dh, dw] = part.dilation;
  const cinG = part.in_channels / part.groups, coutG = part.out_channels / part.groups;
  const g = Math.floor(co / coutG);
  let sum = 0, abs = 0;
  for (let ci = 0; ci < cinG; ci++) {
    for (let a = 0; a < kh; a++) {
      const iy = oy * sh - ph + a * dh;
      if (iy < 0 || iy >= part.height) continue;
      for (let b = 0; b < kw; b++) {
        const ix = ox * sw - pw + b * dw;
        if (ix < 0 || ix >= part.width) continue;
        const t = at(n, g * cinG + ci, iy, ix) * weights[((co * cinG + ci) * kh + a) * kw + b];
        sum += t;
        abs += Math.abs(t);
      }
    }
  }
  return [sum, abs];
}

// Compares `count` sampled outputs with the float64 reference (convflops' tolerance 1e-5 + 4·K·ε·Σ|x·w|, as
// onnxruntime_conv.py); returns the largest absolute error, or throws naming the first wrong output.
function check(parts, weights, x, xAt, y, yAt, seed, count = 64) {
  const last = parts[parts.length - 1];
  const dims = [last.batch, last.out_channels, last.out_height, last.out_width];
  const pick = uniforms(seed ^ 0x5bd1e995);
  const input = (n, c, iy, ix) => xAt(x, n, c, iy, ix);
  let worst = 0;
  for (let s = 0; s < count; s++) {
    const [n, co, oy, ox] = dims.map((d) => Math.min(d - 1, Math.floor(pick() * d)));
    let want, scale, k;
    if (parts.length === 1) {
      [want, scale] = convAt(parts[0], weights[0], input, n, co, oy, ox);
      k = (parts[0].in_channels / parts[0].groups) * parts[0].kernel[0] * parts[0].kernel[1];
    } else {
      // separable: every depthwise output at (oy, ox), then the 1×1 conv over them.
      const [dw, pw] = parts;
      want = 0; scale = 0;
      for (let c = 0; c < dw.in_channels; c++) {
        const t = convAt(dw, weights[0], input, n, c, oy, ox)[0] * weights[1][co * pw.in_channels + c];
        want += t;
        scale += Math.abs(t);
      }
      scale *= 2;
      k = dw.in_channels + dw.kernel[0] * dw.kernel[1];
    }
    const got = yAt(y, n, co, oy, ox);
    const error = Math.abs(got - want);
    if (!(error <= 1e-5 + 4 * k * 1.2e-7 * scale)) {
      throw new Error(`output (${n}, ${co}, ${oy}, ${ox}) is ${got}, the reference ${want}`);
    }
    worst = Math.max(worst, error);
  }
  return worst;
}

const nchw = (d) => (a, n, c, y, x) => a[((n * d[1] + c) * d[2] + y) * d[3] + x];
const nhwc = (d) => (a, n, c, y, x) => a[((n * d[1] + y) * d[2] + x) * d[3] + c];

// ------------------------------------------------------------------------------------------------ timing

const now = () => performance.now() / 1e3;
const median = (v) => { const s = [...v].sort((a, b) => a - b), n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

// call() starts one conv and returns its output handle; wait(out) waits for the adapter to finish everything
// up to `out` and releases it. Returns the timing record and the last warm-up output (not released).
async function timeConv(opts, call, wait, release, checkOutput) {
  const warm = [];
  const start = now();
  let out = null;
  while (warm.length < opts.warmup || now() - start < 0.2) {
    if (out) release(out);
    const t0 = now();
    out = call();
    await wait(out);
    warm.push(now() - t0);
  }
  const maxAbsError = await checkOutput(out);
  release(out);
  const perCall = median(warm.slice(Math.floor(warm.length / 2)));
  const repeats = Math.max(1, Math.ceil(opts.sampleTime / Math.max(perCall, 1e-9)));
  const samples = [];
  const begin = now();
  while (samples.length < 1000) {
    const elapsed = now() - begin;
    if (samples.length >= opts.samples && (elapsed >= opts.minTime || elapsed >= 20)) break;
    const t0 = now();
    let last = null;
    for (let r = 0; r < repeats; r++) {
      if (last) release(last);
      last = call();
    }
    await wait(last);
    samples.push((now() - t0) / repeats);
    release(last);
  }
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const sd = samples.length > 1 ? Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (samples.length - 1)) : 0;
  return {
    time_s: { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), mean,
      rel_stddev: mean > 0 ? sd / mean : 0, samples: samples.length },
    calls_per_sample: repeats, max_abs_error: maxAbsError, first_call_s: warm[0],
  };
}

// ------------------------------------------------------------------------------------------------ Dawn

async function importPackage(name) {
  try {
    return await import(name);
  } catch (error) {
    fail(`cannot load the npm package ${name} (run \`npm ci\` in ${HERE}): ${String(error.message).split('\n')[0]}`, 3);
  }
}

async function dawnAdapter() {
  const webgpu = await importPackage('webgpu');
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  // Node 20 has no navigator; the libraries look for navigator.gpu.
  if (!globalThis.navigator) globalThis.navigator = {};
  Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) fail('Dawn found no WebGPU adapter (is a Vulkan driver such as mesa-vulkan-drivers installed?)', 3);
  const i = adapter.info;
  const info = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
  info.software = /llvmpipe|lavapipe|swiftshader/i.test(`${i.device} ${i.description} ${i.architecture}`);
  return info;
}

// ------------------------------------------------------------------------------------------------ TensorFlow.js

// tfjs's pad argument for a part: 'same' or 'valid' where they give the same windows (tfjs runs 1×1 convs as a
// matrix product only with those two), else explicit pads.
function tfjsPad(p) {
  const same = [0, 1].every((axis) => {
    const size = axis ? p.width : p.height, s = p.stride[axis];
    const span = p.dilation[axis] * (p.kernel[axis] - 1) + 1;
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + span - size, 0);
    return out === outSize(p, axis) && Math.floor(total / 2) === p.padding[axis];
  });
  if (same) return 'same';
  if (p.padding[0] === 0 && p.padding[1] === 0) return 'valid';
  return [[0, 0], [p.padding[0], p.padding[0]], [p.padding[1], p.padding[1]], [0, 0]];
}

function tfjsUnsupported(parts) {
  for (const p of parts) {
    const depthwise = p.groups === p.in_channels && p.out_channels === p.in_channels && p.groups > 1;
    if (p.groups !== 1 && !depthwise) return `tfjs has no grouped conv (groups ${p.groups} of ${p.in_channels} channels)`;
    if ((p.stride[0] > 1 || p.stride[1] > 1) && (p.dilation[0] > 1 || p.dilation[1] > 1)) {
      return 'tfjs takes strides or dilations above 1, not both';
    }
  }
  return null;
}

async function runTfjs(opts, layers, adapter, emit) {
  const tf = await importPackage('@tensorflow/tfjs-core');
  await importPackage('@tensorflow/tfjs-backend-webgpu');
  // Small ops with CPU-resident inputs would otherwise run on tfjs's CPU forwarding path.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) fail('tfjs could not start its webgpu backend on Dawn', 3);
  await tf.ready();
  const backend = tf.backend();
  let programs = null;
  const runProgram = backend.runWebGPUProgram.bind(backend);
  backend.runWebGPUProgram = (program, ...rest) => {
    if (programs) programs.push(program.constructor.name);
    return runProgram(program, ...rest);
  };
  const wait = opts.tfjsSync === 'readback'
    ? async (t) => { await t.data(); }
    : async () => {
      if (backend.commandEncoder) {
        backend.endComputePassEncoder();
        backend.submitQueue();
      }
      await backend.device.queue.onSubmittedWorkDone();
    };
  const release = (t) => t.dispose();

  for (const { index, label, flags, layer } of layers) {
    for (const conv of opts.convs) {
      const parts = partsOf(layer, conv);
      const base = record(index, label, flags, layer, conv);
      const why = tfjsUnsupported(parts);
      if (why) { emit({ ...base, unsupported: why }); continue; }
      const first = parts[0], last = parts[parts.length - 1];
      const seed = opts.seed + 7919 * index + 104729 * CONVS.indexOf(conv);
      const xDims = [first.batch, first.in_channels, first.height, first.width];
      const x = normals(xDims.reduce((a, b) => a * b), seed);
      const weights = parts.map((p, k) => weightsOf(p, seed + 1 + k));
      // NCHW input → NHWC; OIHW weights → HWIO (conv2d) or HW·C·1 (depthwiseConv2d).
      const [N, C, H, W] = xDims;
      const xNhwc = new Float32Array(x.length);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
        xNhwc[((n * H + y) * W + xx) * C + c] = x[((n * C + c) * H + y) * W + xx];
      }
      const xT = tf.tensor4d(xNhwc, [N, H, W, C]);
      const ops = parts.map((p, k) => {
        const [kh, kw] = p.kernel, cinG = p.in_channels / p.groups;
        const depthwise = p.groups > 1;
        const hw = new Float32Array(weights[k].length);
        for (let o = 0; o < p.out_channels; o++) for (let i = 0; i < cinG; i++) for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
          const src = weights[k][((o * cinG + i) * kh + a) * kw + b];
          if (depthwise) hw[(a * kw + b) * p.in_channels + o] = src;
          else hw[((a * kw + b) * cinG + i) * p.out_channels + o] = src;
        }
        const filter = tf.tensor4d(hw, depthwise ? [kh, kw, p.in_channels, 1] : [kh, kw, cinG, p.out_channels]);
        const pad = tfjsPad(p);
        const strides = p.stride, dilations = p.dilation;
        return {
          filter, pad,
          apply: depthwise
            ? (t) => tf.depthwiseConv2d(t, filter, strides, pad, 'NHWC', dilations)
            : (t) => tf.conv2d(t, filter, strides, pad, 'NHWC', dilations),
        };
      });
      // The programs tfjs dispatches are recorded on the first call only.
      let dispatched = null;
      programs = [];
      const call = () => {
        const out = tf.tidy(() => ops.reduce((t, op) => op.apply(t), xT));
        if (programs) { dispatched = programs; programs = null; }
        return out;
      };
      let timing;
      try {
        timing = await timeConv(opts, call, wait, release, async (out) => {
          const yDims = [last.batch, last.out_height, last.out_width, last.out_channels];
          const shape = out.shape.join('×');
          if (shape !== yDims.join('×')) throw new Error(`output shape ${shape}, expected ${yDims.join('×')}`);
          const y = await out.data();
          return check(parts, weights, x, nchw(xDims), y, (a, n, c, yy, xx) => nhwc(yDims)(a, n, c, yy, xx), seed);
        });
      } catch (error) {
        timing = failed(`tfjs ${label} ${conv}`, error);
      }
      xT.dispose();
      for (const op of ops) op.filter.dispose();
      if (timing.failed) { emit({ ...base, failed: timing.failed, runtime: 'tfjs-webgpu', adapter }); continue; }
      emit({ ...base, ...finish(base, timing), runtime: 'tfjs-webgpu', version: tf.version_core,
        sync: opts.tfjsSync === 'readback' ? 'last output read back (data())' : 'compute pass ended, queue submitted, onSubmittedWorkDone',
        layout: 'NHWC', pads: ops.map((op) => op.pad), programs: dispatched, adapter });
      process.stderr.write(`${NAME}: tfjs ${label} ${conv}: ${fmt(base.flops, timing)}\n`);
    }
  }
  backend.runWebGPUProgram = runProgram;
}

// ------------------------------------------------------------------------------------------------ ONNX Runtime Web

// A minimal protobuf writer: enough of onnx.proto for a graph of Conv nodes with float initializers.
const enc = new TextEncoder();
function varint(value) {
  const out = [];
  let v = BigInt(value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Uint8Array.from(out);
}
function cat(chunks) {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}
const fInt = (field, value) => cat([varint(field << 3), varint(value)]);
const fBytes = (field, bytes) => cat([varint((field << 3) | 2), varint(bytes.length), bytes]);
const fStr = (field, s) => fBytes(field, enc.encode(s));
const fMsg = (field, chunks) => fBytes(field, cat(chunks));

// AttributeProto: name 1, i 3, ints 8, type 20 (INT 2, INTS 7).
const attrInt = (name, v) => fMsg(5, [fStr(1, name), fInt(3, v), fInt(20, 2)]);
const attrInts = (name, vs) => fMsg(5, [fStr(1, name), ...vs.map((v) => fInt(8, v)), fInt(20, 7)]);
// ValueInfoProto: name 1, type 2 → TypeProto.tensor_type 1 → elem_type 1 (FLOAT = 1), shape 2 → dim 1 → dim_value 1.
const valueInfo = (field, name, dims) => fMsg(field, [fStr(1, name),
  fMsg(2, [fMsg(1, [fInt(1, 1), fMsg(2, dims.map((d) => fMsg(1, [fInt(1, d)])))])])]);

function onnxModel(parts, weights) {
  const nodes = [], inits = [];
  parts.forEach((p, k) => {
    const input = k === 0 ? 'X' : `T${k - 1}`, output = k === parts.length - 1 ? 'Y' : `T${k}`;
    const w = `W${k}`;
    const wDims = [p.out_channels, p.in_channels / p.groups, p.kernel[0], p.kernel[1]];
    // TensorProto: dims 1, data_type 2 (FLOAT = 1), name 8, raw_data 9 (little-endian float32).
    const raw = new Uint8Array(weights[k].buffer, weights[k].byteOffset, weights[k].byteLength);
    inits.push(fMsg(5, [...wDims.map((d) => fInt(1, d)), fInt(2, 1), fStr(8, w), fBytes(9, raw)]));
    // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
    nodes.push(fMsg(1, [fStr(1, input), fStr(1, w), fStr(2, output), fStr(3, `conv${k}`), fStr(4, 'Conv'),
      attrInts('kernel_shape', p.kernel), attrInts('strides', p.stride),
      attrInts('pads', [p.padding[0], p.padding[1], p.padding[0], p.padding[1]]),
      attrInts('dilations', p.dilation), attrInt('group', p.groups)]));
  });
  const first = parts[0], last = parts[parts.length - 1];
  // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
  const graph = [...nodes, fStr(2, 'convflops_peer'), ...inits,
    valueInfo(11, 'X', [first.batch, first.in_channels, first.height, first.width]),
    valueInfo(12, 'Y', [last.batch, last.out_channels, last.out_height, last.out_width])];
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2).
  return cat([fInt(1, IR_VERSION), fStr(2, 'convflops-peers'), fMsg(7, graph), fMsg(8, [fStr(1, ''), fInt(2, OPSET)])]);
}

async function runOrtWeb(opts, layers, adapter, emit) {
  // ORT's WebAssembly heap is a SharedArrayBuffer, and dawn.node refuses to write from views on one
  // ("Invalid argument" at session creation): hand it a copy.
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset = 0, size) {
    if (data && data.buffer instanceof SharedArrayBuffer) {
      const unit = data.BYTES_PER_ELEMENT || 1;
      const start = data.byteOffset + dataOffset * unit;
      const bytes = size === undefined ? data.byteLength - dataOffset * unit : size * unit;
      return writeBuffer.call(this, buffer, offset, new Uint8Array(data.buffer, start, bytes).slice(), 0);
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  const ort = await importPackage('onnxruntime-web/webgpu');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  for (const { index, label, flags, layer } of layers) {
    for (const conv of opts.convs) {
      const parts = partsOf(layer, conv);
      const base = record(index, label, flags, layer, conv);
      const first = parts[0], last = parts[parts.length - 1];
      const seed = opts.seed + 7919 * index + 104729 * CONVS.indexOf(conv);
      const xDims = [first.batch, first.in_channels, first.height, first.width];
      const yDims = [last.batch, last.out_channels, last.out_height, last.out_width];
      const x = normals(xDims.reduce((a, b) => a * b), seed);
      const weights = parts.map((p, k) => weightsOf(p, seed + 1 + k));
      let session;
      try {
        // With the CPU fallback off, session creation fails if a Conv cannot run on the WebGPU EP.
        session = await ort.InferenceSession.create(onnxModel(parts, weights), {
          executionProviders: ['webgpu'], graphOptimizationLevel: 'all', preferredOutputLocation: 'gpu-buffer',
          extra: { session: { disable_cpu_ep_fallback: '1' } },
        });
      } catch (error) {
        emit({ ...base, unsupported: `onnxruntime-web WebGPU EP: ${String(error.message).split('\n')[0]}` });
        continue;
      }
      // ORT lets go of its device when the last session is released: ask for the current one each time.
      const device = await ort.env.webgpu.device;
      const buffer = device.createBuffer({ size: x.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buffer, 0, x);
      const X = ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims: xDims });
      // Runs are chained: call() returns a promise of the output tensor, after the previous run.
      let chain = Promise.resolve();
      const call = () => { const run = chain.then(() => session.run({ X })).then((r) => r.Y); chain = run; return run; };
      const wait = async (out) => { const y = await out; await y.getData(); };
      const release = (out) => { out.then((y) => y.dispose(), () => {}); };
      let timing;
      try {
        timing = await timeConv(opts, call, wait, release, async (out) => {
          const y = await out;
          if (y.dims.join('×') !== yDims.join('×')) throw new Error(`output shape ${y.dims.join('×')}, expected ${yDims.join('×')}`);
          return check(parts, weights, x, nchw(xDims), await y.getData(), nchw(yDims), seed);
        });
        await chain;
      } catch (error) {
        timing = failed(`onnxruntime-web ${label} ${conv}`, error);
        await chain.catch(() => {});
      }
      X.dispose();
      buffer.destroy();
      await session.release();
      if (timing.failed) { emit({ ...base, failed: timing.failed, runtime: 'onnxruntime-web', adapter }); continue; }
      emit({ ...base, ...finish(base, timing), runtime: 'onnxruntime-web', version: ort.env.versions.web,
        execution_provider: 'webgpu (CPU fallback off)', opset: OPSET,
        sync: 'runs chained, outputs on the GPU, last output read back (getData())', layout: 'NCHW', adapter });
      process.stderr.write(`${NAME}: onnxruntime-web ${label} ${conv}: ${fmt(base.flops, timing)}\n`);
    }
  }
}

// ------------------------------------------------------------------------------------------------ main

// A conv that failed (a wrong output, an error from the library) gets a line with "failed" and no speed; the
// others still run, and the exit status is 4 at the end.
let failures = 0;
function failed(what, error) {
  failures += 1;
  const message = String(error.message).split('\n')[0];
  process.stderr.write(`${NAME}: ${what}: ${message}\n`);
  return { failed: message };
}

function record(index, label, flags, layer, conv) {
  const flops = flopsOf(layer, conv);
  if (flops > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${label} ${conv}: ${flops} FLOPs is past what JSON numbers hold exactly here`);
  return { index, label, flags, layer, description: describe(layer), conv, flops: Number(flops), macs: Number(flops / 2n) };
}

function finish(base, timing) {
  return { time_s: timing.time_s, calls_per_sample: timing.calls_per_sample, checked_outputs: 64,
    max_abs_error: timing.max_abs_error, first_call_s: timing.first_call_s, flops_per_s: base.flops / timing.time_s.median };
}

function fmt(flops, timing) {
  return `median ${(timing.time_s.median * 1e3).toPrecision(4)} ms, ${(flops / timing.time_s.median / 1e9).toPrecision(3)} GFLOP/s `
    + `(${timing.time_s.samples} samples × ${timing.calls_per_sample} calls)`;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.printLayers) {
  for (const [label, flags] of DEFAULT_LAYERS) process.stdout.write(`${label}\t${flags}\n`);
  process.exit(0);
}
const given = opts.layers.length ? opts.layers.map((f, i) => [opts.labels[i] ?? f, f]) : DEFAULT_LAYERS;
const layers = given.map(([label, flags], i) => ({ index: opts.firstIndex + i, label, flags, layer: parseLayer(flags) }));
const adapter = await dawnAdapter();
if (opts.setup) {
  await importPackage('@tensorflow/tfjs-core');
  await importPackage('@tensorflow/tfjs-backend-webgpu');
  await importPackage('onnxruntime-web/webgpu');
  process.stdout.write(`${JSON.stringify(adapter)}\n`);
  process.exit(0);
}
const emit = (r) => process.stdout.write(`${JSON.stringify(r)}\n`);
if (opts.lib === 'tfjs') await runTfjs(opts, layers, adapter, emit);
else await runOrtWeb(opts, layers, adapter, emit);
// Dawn keeps the event loop alive.
process.exit(failures ? 4 : 0);
