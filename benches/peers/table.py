#!/usr/bin/env python3
"""compare.sh's table: joins the raw results kept in OUT_DIR on (layer, conv), checks that every side counted the
same FLOPs, and prints one Markdown table. Usage: table.py OUT_DIR LAYERS VARIANT "WEBGPU_PEERS"."""
import json, os, re, sys

if len(sys.argv) != 5 or not sys.argv[2].isdigit():
    sys.exit('usage: table.py OUT_DIR LAYERS VARIANT "WEBGPU_PEERS" (LAYERS: how many convflops-<i>.json there are)')
out, layers, variant, webgpu_peers = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
NAMES = {"ort": "ORT CPU", "tfjs": "tfjs-webgpu", "ort-web": "ORT-web"}

def ms(seconds):
    return f"{seconds * 1e3:.3g}"

def gflops(rate):
    return f"{rate / 1e9:.3g}"

def read_jsonl(name):
    rows = {}
    with open(os.path.join(out, name)) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows[(r["index"], r["conv"])] = r
    return rows

peers = {"ort": read_jsonl("ort.jsonl")}
for lib in webgpu_peers:
    peers[lib] = read_jsonl(f"webgpu-{lib}.jsonl")
sides = list(peers)

rows, notes, adapter = [], [], None
for index in range(layers):
    with open(os.path.join(out, f"convflops-{index}.json")) as f:
        cf = json.load(f)
    adapter = cf["adapter"]
    for result in cf["results"]:
        roof = result.get("percent_of_roofline")
        row = [None, result["conv"], f"{result['flops']:,}", re.sub(r" \([^)]*\)", "", result["kernel"]),
               ms(result["gpu_time_s"]["median"]), gflops(result["flops_per_s"]),
               "—" if roof is None else f"{roof:.0f} % ({result['bound']})"]
        rates = {}
        for side in sides:
            r = peers[side].get((index, result["conv"]))
            if r is None:
                sys.exit(f"compare.sh: no {NAMES[side]} result for layer {index} {result['conv']}")
            row[0] = r["label"]
            if r["flops"] != result["flops"]:
                sys.exit(f"compare.sh: FLOPs disagree on {r['label']} {result['conv']}: "
                         f"convflops {result['flops']}, {NAMES[side]} {r['flops']}")
            if "unsupported" in r:
                notes.append(f"{NAMES[side]} cannot run {r['label']} {result['conv']}: {r['unsupported']}")
                row += ["—", "—"]
                continue
            if "failed" in r:
                notes.append(f"{NAMES[side]} failed on {r['label']} {result['conv']}, no speed reported: {r['failed']}")
                row += ["failed", "failed"]
                continue
            rates[side] = r["flops_per_s"]
            row += [ms(r["time_s"]["median"]), gflops(r["flops_per_s"])]
        for side in ("ort", "tfjs"):
            if side in sides:
                row.append(f"{result['flops_per_s'] / rates[side]:.2f}×" if side in rates else "—")
        rows.append(row)

def first(side, key):
    """The first of a side's records that has `key` (unsupported and failed convs have no version or timing)."""
    return next((r[key] for r in peers[side].values() if key in r), None)

print(f"convflops: {adapter['name']} · {adapter['backend']} · driver {adapter['driver']}"
      f"{' · CPU adapter (software): CPU numbers' if adapter.get('software') else ''} · {variant} kernels"
      " · time: GPU timestamps around each dispatch")
threads = sorted({r["threads"] for r in peers["ort"].values()})
print(f"ORT CPU: ONNX Runtime {first('ort', 'onnxruntime')} · CPUExecutionProvider · intra-op threads "
      f"{', '.join(map(str, threads))} · time: wall clock per call")
mesa = re.compile(r"Mesa (\S+)")
for side in webgpu_peers:
    a = first(side, "adapter") or {}
    what = {"tfjs": "TensorFlow.js webgpu backend", "ort-web": "ONNX Runtime Web, WebGPU EP"}[side]
    print(f"{NAMES[side]}: {what} {first(side, 'version')} · Node + Dawn (npm webgpu) on {a.get('description')} · "
          f"time: wall clock, {first(side, 'sync')}")
    ours, theirs = mesa.search(adapter["driver"]), mesa.search(a.get("description") or "")
    same = ours and theirs and ours.group(1) == theirs.group(1) and "llvmpipe" in adapter["driver"] and \
        "llvmpipe" in (a.get("description") or "")
    if not same and (ours or theirs):
        print(f"**Warning:** {NAMES[side]} ran on \"{a.get('description')}\", convflops on \"{adapter['driver']}\": "
              "not the same adapter as far as their names tell")
print()
header = ["layer", "conv", "FLOPs", "convflops kernel", "convflops ms", "convflops GFLOP/s", "convflops % of roof"]
for side in sides:
    header += [f"{NAMES[side]} ms", f"{NAMES[side]} GFLOP/s"]
header += [f"convflops / {NAMES[side]}" for side in ("ort", "tfjs") if side in sides]
print("| " + " | ".join(header) + " |")
print("|" + "|".join([":---", ":---"] + ["---:"] * (len(header) - 2)) + "|")
for row in rows:
    print("| " + " | ".join(row) + " |")
if notes:
    print()
    for note in notes:
        print(f"- {note}")
print()
print("Times are medians; GFLOP/s = FLOPs / median time, FLOPs = 2·MACs counted by each side and checked equal.")
ceilings = cf.get("ceilings")
if ceilings:
    print(f"convflops % of roof: its FLOP/s over the lower of this adapter's roofs (`convflops peak`: "
          f"{ceilings['fma_flops_per_s'] / 1e9:.3g} GFLOP/s FMA, {ceilings['bandwidth_bytes_per_s'] / 1e9:.3g} GB/s "
          "copy, or the launch floor for a conv of a few dispatches), the bound named beside it.")
    best_ort = max((r["flops_per_s"] for r in peers["ort"].values() if "flops_per_s" in r), default=None)
    if best_ort:
        print(f"ORT CPU's fastest conv here ran at {best_ort / 1e9:.3g} GFLOP/s, "
              f"{best_ort / ceilings['fma_flops_per_s']:.2f}× this adapter's FMA peak.")
