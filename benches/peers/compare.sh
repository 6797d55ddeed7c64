#!/usr/bin/env bash
# convflops vs ONNX Runtime (CPU) on the same layers, side by side in one run.
#
# Builds convflops in release, then for each layer (onnxruntime_conv.py --print-layers) runs
# `convflops compare --json` and the ONNX Runtime peer back to back, and prints a table of both FLOP/s and their
# ratio. Raw JSON and the table are kept in the output directory (first argument, or $CONVFLOPS_PEERS_OUT, or a
# temporary directory; its path is printed at the end).
#
# Environment:
#   CONVFLOPS_ARGS   sampling flags for convflops compare     (default: --samples 5 --min-time 0.5)
#   ORT_ARGS         sampling flags for onnxruntime_conv.py    (default: --samples 10 --min-time 1)
#   VARIANT          convflops kernels, vec4, tiled or naive   (default: vec4)
#   CONVFLOPS_PEERS_VENV  where the ONNX Runtime venv lives    (default: ${XDG_CACHE_HOME:-~/.cache}/convflops/peers-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peer="$here/onnxruntime_conv.py"
out="${1:-${CONVFLOPS_PEERS_OUT:-$(mktemp -d)}}"
mkdir -p "$out"
convflops_args="${CONVFLOPS_ARGS:---samples 5 --min-time 0.5}"
ort_args="${ORT_ARGS:---samples 10 --min-time 1}"
variant="${VARIANT:-vec4}"
# Mesa complains on every start when this is unset; give it a private directory.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR="$out/xdg-runtime"
    mkdir -p "$XDG_RUNTIME_DIR"
    chmod 700 "$XDG_RUNTIME_DIR"
fi

# 1. The venv first: onnxruntime_conv.py prints the one line that says why when it cannot be made.
if ! python3 "$peer" --setup; then
    exit 1
fi

# 2. convflops, release build.
(cd "$root" && cargo build --release --quiet)
convflops="$root/target/release/convflops"

# 3. Each layer: convflops, then ONNX Runtime, back to back.
date -u +%Y-%m-%dT%H:%M:%SZ >"$out/started"
cat /proc/loadavg >"$out/loadavg-start" 2>/dev/null || true
: >"$out/ort.jsonl"
mapfile -t layers < <(python3 "$peer" --print-layers)
index=0
for entry in "${layers[@]}"; do
    label="${entry%%$'\t'*}"
    flags="${entry#*$'\t'}"
    echo "[$((index + 1))/${#layers[@]}] $label: convflops compare ($variant) …" >&2
    # shellcheck disable=SC2086  # the flags are word lists on purpose
    "$convflops" compare --json --variant "$variant" $flags $convflops_args </dev/null >"$out/convflops-$index.json"
    echo "[$((index + 1))/${#layers[@]}] $label: ONNX Runtime …" >&2
    # shellcheck disable=SC2086
    python3 "$peer" --layer "$flags" --label "$label" --first-index "$index" $ort_args </dev/null >>"$out/ort.jsonl"
    index=$((index + 1))
done
cat /proc/loadavg >"$out/loadavg-end" 2>/dev/null || true

# 4. Join on (layer, conv) and print the table.
python3 - "$out" "$index" "$variant" <<'EOF' | tee "$out/table.md"
import json, os, sys

out, layers, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def si(value, unit):
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"

def seconds(value):
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"

ort = {}
versions, threads = set(), set()
with open(os.path.join(out, "ort.jsonl")) as f:
    for line in f:
        r = json.loads(line)
        ort[(r["index"], r["conv"])] = r
        versions.add(r["onnxruntime"])
        threads.add(r["threads"])

rows, adapter = [], None
for index in range(layers):
    with open(os.path.join(out, f"convflops-{index}.json")) as f:
        cf = json.load(f)
    adapter = cf["adapter"]
    for result in cf["results"]:
        peer = ort.get((index, result["conv"]))
        if peer is None:
            sys.exit(f"compare.sh: no ONNX Runtime result for layer {index} {result['conv']}")
        if peer["flops"] != result["flops"]:
            sys.exit(
                f"compare.sh: FLOPs disagree on {peer['label']} {result['conv']}: "
                f"convflops {result['flops']}, onnxruntime_conv.py {peer['flops']}"
            )
        ours, theirs = result["flops_per_s"], peer["flops_per_s"]
        rows.append([
            peer["label"],
            result["conv"],
            f"{result['flops']:,}",
            seconds(result["gpu_time_s"]["median"]),
            si(ours, "FLOP/s"),
            seconds(peer["time_s"]["median"]),
            si(theirs, "FLOP/s"),
            f"{100 * ours / theirs:.1f} %",
        ])

print(f"convflops: {adapter['name']} · {adapter['backend']} · driver {adapter['driver']}"
      f"{' · CPU adapter (software): CPU numbers' if adapter.get('software') else ''} · {variant} kernels")
print(f"ONNX Runtime {', '.join(sorted(versions))} · CPUExecutionProvider · intra-op threads "
      f"{', '.join(str(t) for t in sorted(threads))}")
print()
header = ["layer", "conv", "FLOPs", "convflops time", "convflops FLOP/s", "ORT time", "ORT FLOP/s",
          "convflops / ORT"]
print("| " + " | ".join(header) + " |")
print("|" + "|".join([":---", ":---"] + ["---:"] * (len(header) - 2)) + "|")
for row in rows:
    print("| " + " | ".join(row) + " |")
EOF
echo "raw results and table: $out" >&2
