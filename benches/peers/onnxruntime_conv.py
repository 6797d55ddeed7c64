#!/usr/bin/env python3
"""Peer benchmark: the layers convflops times, run through ONNX Runtime's CPU Conv.

Each conv becomes a one-node ONNX model (two nodes for the separable pair) with fp32 random weights and no bias,
as convflops' default. Session: CPU execution provider, intra-op threads = number of usable cores, full graph
optimisation. Each conv is warmed up, then timed in samples; a sample repeats the call until it lasts about
--sample-time seconds and is divided by the repeat count. The figure quoted is the median sample.

FLOPs are counted exactly as convflops counts them (src/cost.rs), 2·MACs:
  standard  2·N·H_out·W_out·C_out·(C_in/groups)·kh·kw
  depthwise the same layer with C_out = groups = C_in (same kernel, stride, padding, dilation)
  pointwise 1×1, stride 1, C_in → C_out on the depthwise output (H_out × W_out)
  separable depthwise + pointwise

Layer flags are convflops' own (--batch --in-channels --out-channels --size --height --width --kernel-size
--stride --padding --dilation --groups), so the same string describes the layer on both sides:

  onnxruntime_conv.py --layer "--in-channels 128 --out-channels 128 --size 56" --layer "..."

With no --layer it runs the default list (--print-layers shows it). Output: one JSON object per conv per line.

The script needs onnxruntime, onnx and numpy. When they are not importable it makes its own venv at
$CONVFLOPS_PEERS_VENV, or ${XDG_CACHE_HOME:-~/.cache}/convflops/peers-venv, installs them with pip there and
re-runs itself with that venv's python. --setup does only that.
"""

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time

# label, convflops layer flags. The last one is DeepBench's inference_server_set row
# std::make_tuple(84, 20, 256, 1, 256, 3, 3, 1, 1, 1, 1) (w, h, c, n, k, s, r, pad_w, pad_h, wstride, hstride),
# baidu-research/DeepBench code/kernels/conv_problems.h: NCHW 1×256×20×84 → 256, 3×3, pad 1, stride 1.
DEFAULT_LAYERS = [
    ("14²×512→512", "--in-channels 512 --out-channels 512 --size 14"),
    ("56²×128→128", "--in-channels 128 --out-channels 128 --size 56"),
    ("112²×32→64", "--in-channels 32 --out-channels 64 --size 112"),
    ("7²×1024→1024", "--in-channels 1024 --out-channels 1024 --size 7"),
    (
        "DeepBench 20×84×256→256",
        "--in-channels 256 --out-channels 256 --height 20 --width 84 --kernel-size 3 --stride 1 --padding 1",
    ),
]

CONVS = ("standard", "depthwise", "pointwise", "separable")
REQUIREMENTS = ["onnxruntime", "onnx", "numpy"]
OPSET = 17
IR_VERSION = 8  # old enough for any onnxruntime that supports opset 17


def fail(message, code=2):
    print(f"onnxruntime_conv.py: {message}", file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------------------------------------------- the venv


def venv_dir():
    if os.environ.get("CONVFLOPS_PEERS_VENV"):
        return os.path.abspath(os.environ["CONVFLOPS_PEERS_VENV"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "convflops", "peers-venv")


def venv_python(path):
    return os.path.join(path, "bin", "python")


def venv_ready(python):
    if not os.path.exists(python):
        return False
    check = subprocess.run(
        [python, "-c", "import onnxruntime, onnx, numpy"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return check.returncode == 0


def ensure_venv():
    """Returns the venv's python, making the venv first if needed. One line on stderr and exit 3 on failure."""
    path = venv_dir()
    python = venv_python(path)
    if venv_ready(python):
        return python
    log = path + ".log"
    print(f"onnxruntime_conv.py: making the venv {path} (pip install {' '.join(REQUIREMENTS)}; log {log})", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", path],
        [python, "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS],
    ]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(log, "w") as out:
            for step in steps:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    fail(f"could not make the venv at {path}: `{' '.join(step[:4])} …` exited {done.returncode} (log: {log})", 3)
    except OSError as error:
        fail(f"could not make the venv at {path}: {error}", 3)
    if not venv_ready(python):
        fail(f"could not make the venv at {path}: onnxruntime, onnx or numpy still does not import (log: {log})", 3)
    return python


# ---------------------------------------------------------------------------------------------------- layers


def pair(text):
    parts = text.lower().split("x")
    if len(parts) == 1:
        return (int(parts[0]), int(parts[0]))
    if len(parts) == 2:
        return (int(parts[0]), int(parts[1]))
    raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")


def parse_layer(flags):
    parser = argparse.ArgumentParser(prog="layer", add_help=False, exit_on_error=False)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--in-channels", type=int, default=512)
    parser.add_argument("--out-channels", type=int, default=512)
    parser.add_argument("--size", type=int, default=14)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--kernel-size", type=pair, default=(3, 3))
    parser.add_argument("--stride", type=pair, default=(1, 1))
    parser.add_argument("--padding", type=pair)
    parser.add_argument("--dilation", type=pair, default=(1, 1))
    parser.add_argument("--groups", type=int, default=1)
    try:
        a = parser.parse_args(shlex.split(flags))
    except (argparse.ArgumentError, SystemExit, ValueError) as error:
        fail(f"bad layer flags {flags!r}: {error}")
    kernel, dilation = a.kernel_size, a.dilation
    padding = a.padding or (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)
    layer = {
        "batch": a.batch,
        "in_channels": a.in_channels,
        "out_channels": a.out_channels,
        "height": a.height or a.size,
        "width": a.width or a.size,
        "kernel": list(kernel),
        "stride": list(a.stride),
        "padding": list(padding),
        "dilation": list(dilation),
        "groups": a.groups,
    }
    if layer["in_channels"] % layer["groups"] or layer["out_channels"] % layer["groups"]:
        fail(f"bad layer flags {flags!r}: groups must divide in and out channels")
    layer["out_height"] = out_size(layer, 0)
    layer["out_width"] = out_size(layer, 1)
    if layer["out_height"] < 1 or layer["out_width"] < 1:
        fail(f"bad layer flags {flags!r}: empty output")
    return layer


def out_size(layer, axis):
    """PyTorch's rule, as convflops: floor((size + 2·pad − dil·(k−1) − 1)/stride) + 1."""
    size = layer["height"] if axis == 0 else layer["width"]
    span = layer["dilation"][axis] * (layer["kernel"][axis] - 1) + 1
    return (size + 2 * layer["padding"][axis] - span) // layer["stride"][axis] + 1


def depthwise_of(layer):
    return {**layer, "out_channels": layer["in_channels"], "groups": layer["in_channels"]}


def pointwise_of(layer):
    return {
        **layer,
        "height": layer["out_height"],
        "width": layer["out_width"],
        "kernel": [1, 1],
        "stride": [1, 1],
        "padding": [0, 0],
        "dilation": [1, 1],
        "groups": 1,
    }


def macs(layer):
    """N·H_out·W_out·C_out·(C_in/groups)·kh·kw, exact integers."""
    return (
        layer["batch"]
        * out_size(layer, 0)
        * out_size(layer, 1)
        * layer["out_channels"]
        * (layer["in_channels"] // layer["groups"])
        * layer["kernel"][0]
        * layer["kernel"][1]
    )


def flops(layer, conv):
    parts = {
        "standard": [layer],
        "depthwise": [depthwise_of(layer)],
        "pointwise": [pointwise_of(layer)],
        "separable": [depthwise_of(layer), pointwise_of(layer)],
    }[conv]
    return sum(2 * macs(part) for part in parts)


def describe(layer):
    n, c, h, w = layer["batch"], layer["in_channels"], layer["height"], layer["width"]
    ho, wo, co = layer["out_height"], layer["out_width"], layer["out_channels"]
    kh, kw = layer["kernel"]
    return (
        f"{n}×{c}×{h}×{w} → {n}×{co}×{ho}×{wo}, kernel {kh}×{kw}, stride {layer['stride'][0]}×{layer['stride'][1]}, "
        f"padding {layer['padding'][0]}×{layer['padding'][1]}"
    )


# ---------------------------------------------------------------------------------------------------- ONNX


def conv_node(onnx, np, rng, name, x, y, layer, initializers, weights):
    kh, kw = layer["kernel"]
    shape = [layer["out_channels"], layer["in_channels"] // layer["groups"], kh, kw]
    fan_in = shape[1] * kh * kw
    weight = (rng.standard_normal(shape, dtype=np.float32) / np.float32(math.sqrt(fan_in))).astype(np.float32)
    initializers.append(onnx.numpy_helper.from_array(weight, name=f"{name}_W"))
    weights.append((layer, weight))
    ph, pw = layer["padding"]
    return onnx.helper.make_node(
        "Conv",
        [x, f"{name}_W"],
        [y],
        name=name,
        kernel_shape=[kh, kw],
        strides=list(layer["stride"]),
        pads=[ph, pw, ph, pw],
        dilations=list(layer["dilation"]),
        group=layer["groups"],
    )


def build_model(onnx, np, rng, layer, conv):
    helper, TP = onnx.helper, onnx.TensorProto
    initializers, weights = [], []
    if conv == "standard":
        nodes = [conv_node(onnx, np, rng, "conv", "X", "Y", layer, initializers, weights)]
        out = layer
    elif conv == "depthwise":
        out = depthwise_of(layer)
        nodes = [conv_node(onnx, np, rng, "dw", "X", "Y", out, initializers, weights)]
    elif conv == "pointwise":
        # convflops times the pointwise conv on the depthwise output: C_in × H_out × W_out.
        out = pointwise_of(layer)
        nodes = [conv_node(onnx, np, rng, "pw", "X", "Y", out, initializers, weights)]
    else:
        dw, out = depthwise_of(layer), pointwise_of(layer)
        nodes = [
            conv_node(onnx, np, rng, "dw", "X", "T", dw, initializers, weights),
            conv_node(onnx, np, rng, "pw", "T", "Y", out, initializers, weights),
        ]
    first = layer if conv in ("standard", "depthwise", "separable") else pointwise_of(layer)
    x_shape = [layer["batch"], layer["in_channels"], first["height"], first["width"]]
    y_shape = [layer["batch"], out["out_channels"], out_size(out, 0), out_size(out, 1)]
    graph = helper.make_graph(
        nodes,
        f"convflops_{conv}",
        [helper.make_tensor_value_info("X", TP.FLOAT, x_shape)],
        [helper.make_tensor_value_info("Y", TP.FLOAT, y_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="convflops-peers")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model, x_shape, y_shape, weights


def conv_at(np, xp, weight, layer, n, co, oy, ox):
    """One output of a conv from the padded input, in float64: (value, Σ|x·w|)."""
    kh, kw = layer["kernel"]
    sh, sw = layer["stride"]
    dh, dw = layer["dilation"]
    cin_g = layer["in_channels"] // layer["groups"]
    g = co // (layer["out_channels"] // layer["groups"])
    patch = xp[n, g * cin_g : (g + 1) * cin_g, oy * sh : oy * sh + dh * (kh - 1) + 1 : dh,
               ox * sw : ox * sw + dw * (kw - 1) + 1 : dw].astype(np.float64)
    terms = patch * weight[co].astype(np.float64)
    return terms.sum(), np.abs(terms).sum()


def check(np, rng, x, y, weights, count=64):
    """Compares `count` sampled outputs with a float64 NumPy reference; returns the largest absolute error."""
    first, w0 = weights[0]
    ph, pw = first["padding"]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    worst = 0.0
    for _ in range(count):
        n, co, oy, ox = (int(rng.integers(0, dim)) for dim in y.shape)
        if len(weights) == 1:
            want, scale = conv_at(np, xp, w0, first, n, co, oy, ox)
            k = (first["in_channels"] // first["groups"]) * first["kernel"][0] * first["kernel"][1]
        else:  # separable: the depthwise outputs at (oy, ox) for every channel, then the 1×1 conv
            (_, w1) = weights[1]
            mid = [conv_at(np, xp, w0, first, n, c, oy, ox)[0] for c in range(first["in_channels"])]
            terms = np.asarray(mid) * w1[co, :, 0, 0].astype(np.float64)
            want, scale = terms.sum(), np.abs(terms).sum() * 2
            k = first["in_channels"] + first["kernel"][0] * first["kernel"][1]
        error = abs(float(y[n, co, oy, ox]) - want)
        if not error <= 1e-5 + 4 * k * 1.2e-7 * scale:
            fail(f"ONNX Runtime output ({n}, {co}, {oy}, {ox}) is {y[n, co, oy, ox]}, the reference {want}")
        worst = max(worst, error)
    return worst


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def time_conv(ort, np, model, x_shape, y_shape, weights, args, rng):
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = rng.standard_normal(x_shape, dtype=np.float32)
    # Input and output bound once to preallocated CPU buffers, so a call is the conv plus ORT's per-run overhead.
    binding = session.io_binding()
    x_value = ort.OrtValue.ortvalue_from_numpy(x)
    y = np.empty(y_shape, dtype=np.float32)
    y_value = ort.OrtValue.ortvalue_from_numpy(y)
    binding.bind_ortvalue_input("X", x_value)
    binding.bind_ortvalue_output("Y", y_value)

    def call():
        session.run_with_iobinding(binding)

    # Warm-up: at least --warmup calls and at least 0.2 s; it also gives the per-call time used to size samples.
    warm_times = []
    start = time.perf_counter()
    while len(warm_times) < args.warmup or time.perf_counter() - start < 0.2:
        t0 = time.perf_counter()
        call()
        warm_times.append(time.perf_counter() - t0)
    max_abs_error = check(np, rng, x, y, weights)
    per_call = statistics.median(warm_times[len(warm_times) // 2 :])
    repeats = max(1, math.ceil(args.sample_time / max(per_call, 1e-9)))

    samples = []
    start = time.perf_counter()
    while len(samples) < 1000:
        enough = len(samples) >= args.samples
        elapsed = time.perf_counter() - start
        if enough and (elapsed >= args.min_time or elapsed >= 20.0):
            break
        t0 = time.perf_counter()
        for _ in range(repeats):
            call()
        samples.append((time.perf_counter() - t0) / repeats)
    mean = statistics.fmean(samples)
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "mean": mean,
        "rel_stddev": (statistics.stdev(samples) / mean) if len(samples) > 1 and mean > 0 else 0.0,
        "samples": len(samples),
    }, repeats, max_abs_error


# ---------------------------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description="ONNX Runtime CPU Conv on convflops' layers (JSON lines).")
    parser.add_argument("--layer", action="append", help="convflops layer flags, quoted; repeatable")
    parser.add_argument("--label", action="append", help="a label per --layer (default: the flags)")
    parser.add_argument("--convs", default=",".join(CONVS), help="comma list of " + ", ".join(CONVS))
    parser.add_argument("--samples", type=int, default=10, help="minimum samples (default 10)")
    parser.add_argument("--min-time", type=float, default=1.0, help="minimum total sampled seconds (default 1)")
    parser.add_argument("--warmup", type=int, default=3, help="minimum warm-up calls (default 3, and ≥ 0.2 s)")
    parser.add_argument("--sample-time", type=float, default=0.005, help="seconds a sample lasts at least (5 ms)")
    parser.add_argument("--threads", type=int, default=usable_cores(), help="intra-op threads (default: cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-index", type=int, default=0, help="the \"index\" of the first layer (default 0)")
    parser.add_argument("--setup", action="store_true", help="only make the venv if needed, then exit")
    parser.add_argument("--print-layers", action="store_true", help="print the default layers: label<TAB>flags")
    args = parser.parse_args()

    if args.print_layers:
        for label, flags in DEFAULT_LAYERS:
            print(f"{label}\t{flags}")
        return
    if args.samples < 1 or args.threads < 1 or args.min_time < 0 or args.sample_time < 0:
        fail("--samples and --threads must be ≥ 1, --min-time and --sample-time ≥ 0")
    convs = [c.strip() for c in args.convs.split(",") if c.strip()]
    for c in convs:
        if c not in CONVS:
            fail(f"unknown conv {c!r} (one of {', '.join(CONVS)})")

    try:
        import numpy as np
        import onnx
        import onnx.numpy_helper  # noqa: F401
        import onnxruntime as ort
    except ImportError:
        np = onnx = ort = None
    if ort is None or args.setup:
        if os.environ.get("CONVFLOPS_PEERS_REEXEC") and ort is None:
            fail(f"the venv {venv_dir()} does not provide onnxruntime, onnx and numpy", 3)
        python = venv_python(venv_dir())
        if args.setup or not os.path.exists(python):
            python = ensure_venv()
        if args.setup:
            return
        os.environ["CONVFLOPS_PEERS_REEXEC"] = "1"
        os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])

    if args.layer:
        labels = args.label or []
        layers = [(labels[i] if i < len(labels) else flags, flags) for i, flags in enumerate(args.layer)]
    else:
        layers = DEFAULT_LAYERS
    rng = np.random.default_rng(args.seed)
    for index, (label, flags) in enumerate(layers, start=args.first_index):
        layer = parse_layer(flags)
        for conv in convs:
            model, x_shape, y_shape, weights = build_model(onnx, np, rng, layer, conv)
            stats, repeats, max_abs_error = time_conv(ort, np, model, x_shape, y_shape, weights, args, rng)
            count = flops(layer, conv)
            record = {
                "index": index,
                "label": label,
                "flags": flags,
                "layer": layer,
                "description": describe(layer),
                "conv": conv,
                "flops": count,
                "macs": count // 2,
                "time_s": stats,
                "calls_per_sample": repeats,
                "checked_outputs": 64,
                "max_abs_error": max_abs_error,
                "flops_per_s": count / stats["median"],
                "runtime": "onnxruntime",
                "onnxruntime": ort.__version__,
                "provider": "CPUExecutionProvider",
                "threads": args.threads,
                "opset": OPSET,
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
