#!/usr/bin/env python3
"""Export torchvision networks to ONNX and check `convflops model --file` against PyTorch.

For each network (random weights, eval mode, batch 1, 224x224, opset 17, the TorchScript exporter):
  1. PyTorch forward hooks on every nn.Conv2d and nn.Linear give the conv count and their MACs
     (out_elements * in_channels/groups * kh * kw; Linear: batch * in * out).
  2. The ONNX file's initializers that are Conv inputs (weights and biases, through Identity aliases) give the
     conv params; `torch.onnx.export` folds BatchNorm into Conv, so biases appear that the module did not have.
  3. `convflops model --file NET.onnx --json` counts the file; its conv layers (kind != fc) must match 1 and 2
     exactly, its fc layers PyTorch's Linear layers.
Prints one JSON line per network and a Markdown table; exits 1 on any mismatch.

Usage: python onnx_torchvision.py CONVFLOPS_BINARY OUT_DIR [NETWORK...]
Needs torch, torchvision and onnx (pip install torch torchvision onnx). Nothing is downloaded: weights are random.
"""

import json
import subprocess
import sys
from pathlib import Path

import onnx
import torch
import torchvision

NETWORKS = {
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "resnet18": torchvision.models.resnet18,
    "efficientnet_b0": torchvision.models.efficientnet_b0,
    "shufflenet_v2_x1_0": torchvision.models.shufflenet_v2_x1_0,
    "regnet_y_400mf": torchvision.models.regnet_y_400mf,
}


def hook_counts(model, x):
    convs, linears = [], []

    def conv_hook(module, inputs, output):
        kh, kw = module.kernel_size
        per_output = module.in_channels // module.groups * kh * kw
        convs.append(output.numel() * per_output)

    def linear_hook(module, inputs, output):
        rows = output.numel() // module.out_features
        linears.append(rows * module.in_features * module.out_features)

    handles = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return convs, linears


def onnx_conv_params(path):
    model = onnx.load(str(path))
    graph = model.graph
    sizes = {}
    for init in graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        sizes[init.name] = n
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    n = 1
                    for d in a.t.dims:
                        n *= d
                    sizes[node.output[0]] = n
    # Identity aliases: follow until a sized tensor.
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}

    def size(name):
        seen = 0
        while name not in sizes and name in alias and seen < 100:
            name, seen = alias[name], seen + 1
        return sizes.get(name, 0)

    convs = [n for n in graph.node if n.op_type == "Conv"]
    return len(convs), sum(size(i) for n in convs for i in list(n.input)[1:] if i)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    names = sys.argv[3:] or list(NETWORKS)
    torch.manual_seed(0)
    rows, failed = [], False
    for name in names:
        model = NETWORKS[name](weights=None).eval()
        x = torch.randn(1, 3, 224, 224)
        convs, linears = hook_counts(model, x)
        path = out / f"{name}.onnx"
        torch.onnx.export(model, x, str(path), opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["logits"])
        onnx_convs, onnx_params = onnx_conv_params(path)
        run = subprocess.run([binary, "model", "--file", str(path), "--json"], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{name}: convflops failed: {run.stderr.strip()}", file=sys.stderr)
            failed = True
            continue
        report = json.loads(run.stdout)
        layers = report["layers"]
        cf_convs = [l for l in layers if l["kind"] != "fc"]
        cf_fcs = [l for l in layers if l["kind"] == "fc"]
        row = {
            "network": name,
            "onnx_mb": round(path.stat().st_size / 1e6, 1),
            "torch_convs": len(convs),
            "onnx_convs": onnx_convs,
            "convflops_convs": len(cf_convs),
            "torch_conv_macs": sum(convs),
            "convflops_conv_macs": sum(l["macs"] for l in cf_convs),
            "onnx_conv_params": onnx_params,
            "convflops_conv_params": sum(l["params"] for l in cf_convs),
            "torch_linear_macs": sum(linears),
            "convflops_fc_macs": sum(l["macs"] for l in cf_fcs),
            "convflops_total_macs": report["totals"]["macs"],
        }
        ok = (row["torch_convs"] == row["onnx_convs"] == row["convflops_convs"]
              and row["torch_conv_macs"] == row["convflops_conv_macs"]
              and row["onnx_conv_params"] == row["convflops_conv_params"]
              and row["torch_linear_macs"] == row["convflops_fc_macs"])
        row["match"] = ok
        failed |= not ok
        print(json.dumps(row), flush=True)
        rows.append(row)
    print()
    print("| network | convs (hooks / ONNX / convflops) | conv MACs, hooks | conv MACs, convflops | conv params, ONNX "
          "| conv params, convflops | fc MACs (hooks = convflops) | match |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['network']} | {r['torch_convs']} / {r['onnx_convs']} / {r['convflops_convs']} "
              f"| {r['torch_conv_macs']:,} | {r['convflops_conv_macs']:,} | {r['onnx_conv_params']:,} "
              f"| {r['convflops_conv_params']:,} | {r['convflops_fc_macs']:,} | {'yes' if r['match'] else 'NO'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
