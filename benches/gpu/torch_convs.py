"""PyTorch cuDNN fp32 (TF32 off) on the layers convflops compares: the GPU peer of `benches/gpu/run.sh`.

For each layer (C_in, C_out, size, kernel, stride) it times, with CUDA events, the four convs convflops reports:
standard (k×k), depthwise (k×k, groups = C_in), pointwise (1×1, on the depthwise output) and separable (depthwise
then pointwise). Single convs only: a torchvision model's forward pass also runs batch-norm and activations, which
convflops does not.

FLOPs are counted as convflops counts them (2·MACs, no bias): standard 2·k²·C_in·C_out·H_out·W_out, depthwise
2·k²·C_in·H_out·W_out, pointwise 2·C_in·C_out·H_out·W_out. Output: one JSON document on stdout (and --out FILE).
Usage: python3 torch_convs.py [--out FILE] [--reps N]
"""
import argparse
import json
import sys

import torch

# (C_in, C_out, size, kernel, stride): issue 13's layers, the default compare layer first.
LAYERS = [
    (512, 512, 14, 3, 1),
    (256, 256, 28, 3, 1),
    (128, 128, 56, 3, 1),
    (32, 64, 112, 3, 1),
]


def out_size(size, k, stride):
    return (size + 2 * (k // 2) - k) // stride + 1


def time_module(fn, x, reps):
    """Median milliseconds of `reps` timed calls (each its own pair of CUDA events), after warm-up."""
    for _ in range(5):
        fn(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    results = []
    with torch.no_grad():
        for cin, cout, size, k, stride in LAYERS:
            x = torch.randn(1, cin, size, size, device=dev)
            ho = out_size(size, k, stride)
            std = torch.nn.Conv2d(cin, cout, k, stride, k // 2, bias=False).to(dev)
            dw = torch.nn.Conv2d(cin, cin, k, stride, k // 2, groups=cin, bias=False).to(dev)
            pw = torch.nn.Conv2d(cin, cout, 1, bias=False).to(dev)
            convs = {
                "standard": (std, 2 * k * k * cin * cout * ho * ho),
                "depthwise": (dw, 2 * k * k * cin * ho * ho),
                "pointwise": (pw, 2 * cin * cout * ho * ho),
                "separable": (lambda t: pw(dw(t)), 2 * (k * k + cout) * cin * ho * ho),
            }
            for name, (fn, flops) in convs.items():
                # The pointwise conv of the pair reads the depthwise output: time it on that shape.
                inp = dw(x) if name == "pointwise" else x
                median, lo, hi = time_module(fn, inp, args.reps)
                results.append({
                    "layer": f"{size}x{size}x{cin}->{cout} k{k} s{stride}",
                    "conv": name,
                    "flops": flops,
                    "time_ms_median": median,
                    "time_ms_min": lo,
                    "time_ms_max": hi,
                    "gflop_per_s": flops / (median * 1e-3) / 1e9,
                })
    doc = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "tf32": False,
        "precision": "fp32",
        "results": results,
    }
    text = json.dumps(doc, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
