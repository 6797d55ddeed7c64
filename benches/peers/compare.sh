#!/usr/bin/env bash
# convflops beside its peers on the same layers, side by side in one run: ONNX Runtime on the CPU, and on the same
# WebGPU adapter as convflops TensorFlow.js's WebGPU backend and ONNX Runtime Web's WebGPU EP (Node + Dawn).
#
# Builds convflops in release, then for each layer (onnxruntime_conv.py --print-layers) runs
# `convflops compare --json` and the ONNX Runtime peer back to back; then webgpu_conv.mjs once per WebGPU peer over
# all layers (one Node process each: ONNX Runtime Web's start-up alone takes a minute on a loaded 2-core machine).
# Every timing command runs under `flock $CONVFLOPS_BENCH_LOCK`. Prints one table of every side's median time and
# GFLOP/s. Raw JSON and the table are kept in the output directory (first argument, or $CONVFLOPS_PEERS_OUT, or a
# temporary directory; its path is printed at the end).
#
# Environment:
#   CONVFLOPS_ARGS   sampling flags for convflops compare     (default: --samples 5 --min-time 0.5)
#   ORT_ARGS         sampling flags for onnxruntime_conv.py    (default: --samples 10 --min-time 1)
#   WEBGPU_ARGS      sampling flags for webgpu_conv.mjs        (default: --samples 5 --min-time 0.5)
#   WEBGPU_PEERS     which WebGPU peers, "tfjs ort-web", one, or empty for none (default: tfjs ort-web)
#   LAYERS           layers, one "label<TAB>convflops flags" a line (default: onnxruntime_conv.py --print-layers)
#   VARIANT          convflops kernels: auto (convflops' default: the cpu family on CPU adapters, vec4 on GPUs),
#                    cpu, gpu, vec4, tiled or naive              (default: auto)
#   CONVFLOPS_BENCH_LOCK  the lock file every timing run takes  (default: /tmp/convflops-bench.lock)
#   CONVFLOPS_PEERS_VENV  where the ONNX Runtime venv lives    (default: ${XDG_CACHE_HOME:-~/.cache}/convflops/peers-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peer="$here/onnxruntime_conv.py"
out="${1:-${CONVFLOPS_PEERS_OUT:-$(mktemp -d)}}"
mkdir -p "$out"
convflops_args="${CONVFLOPS_ARGS:---samples 5 --min-time 0.5}"
ort_args="${ORT_ARGS:---samples 10 --min-time 1}"
webgpu_args="${WEBGPU_ARGS:---samples 5 --min-time 0.5}"
webgpu_peers="${WEBGPU_PEERS-tfjs ort-web}"
variant="${VARIANT:-auto}"
lock="${CONVFLOPS_BENCH_LOCK:-/tmp/convflops-bench.lock}"
die() {
    echo "compare.sh: $*" >&2
    exit 1
}
for lib in $webgpu_peers; do
    case "$lib" in
        tfjs | ort-web) ;;
        *) die "WEBGPU_PEERS: unknown peer '$lib' (tfjs, ort-web, or empty for none)" ;;
    esac
done
command -v flock >/dev/null || die "flock not found (util-linux): every timing run takes $lock with it"
timed() { flock "$lock" "$@"; }
# Mesa complains on every start when this is unset; give it a private directory.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR="$out/xdg-runtime"
    mkdir -p "$XDG_RUNTIME_DIR"
    chmod 700 "$XDG_RUNTIME_DIR"
fi

# 1. The WebGPU peers: node, npm and the pinned packages (npm ci into benches/peers/node_modules when missing).
if [ -n "$webgpu_peers" ]; then
    hint="or set WEBGPU_PEERS= to leave the WebGPU peers out"
    command -v node >/dev/null || die "node not found: the WebGPU peers need Node.js ≥ 18 and npm ($hint)"
    node_major="$(node -p 'process.versions.node.split(".")[0]')"
    [ "$node_major" -ge 18 ] || die "node $(node --version) is too old: the WebGPU peers need Node.js ≥ 18 ($hint)"
    command -v npm >/dev/null || die "npm not found: the WebGPU peers install their packages with it ($hint)"
    packages=(webgpu @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu onnxruntime-web)
    missing=""
    for package in "${packages[@]}"; do
        [ -f "$here/node_modules/$package/package.json" ] || missing="$missing $package"
    done
    if [ -n "$missing" ]; then
        echo "compare.sh: npm ci in $here (missing:$missing; log $out/npm-ci.log)" >&2
        if ! (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund) >"$out/npm-ci.log" 2>&1; then
            die "npm ci in $here failed, the packages$missing are missing (log: $out/npm-ci.log)"
        fi
    fi
    # Loads every package and asks Dawn for an adapter; prints one line that says why when it cannot.
    if ! node "$here/webgpu_conv.mjs" --setup >"$out/webgpu-adapter.json" 2>"$out/webgpu-setup.log"; then
        grep '^webgpu_conv.mjs:' "$out/webgpu-setup.log" | head -1 >&2 ||
            die "node webgpu_conv.mjs --setup failed (log: $out/webgpu-setup.log)"
        exit 1
    fi
fi

# 1b. The venv: onnxruntime_conv.py prints the one line that says why when it cannot be made.
if ! python3 "$peer" --setup; then
    exit 1
fi

# 2. convflops, release build.
(cd "$root" && cargo build --release --quiet)
convflops="$root/target/release/convflops"

# 3. The adapter's ceilings, measured once for the run and cached (each compare below reads them for its % of roof);
#    then each layer: convflops, then ONNX Runtime, back to back.
date -u +%Y-%m-%dT%H:%M:%SZ >"$out/started"
cat /proc/loadavg >"$out/loadavg-start" 2>/dev/null || true
echo "convflops peak --refresh …" >&2
timed "$convflops" peak --refresh --wide </dev/null >"$out/peak.txt"
: >"$out/ort.jsonl"
webgpu_layers=()
if [ -n "${LAYERS:-}" ]; then
    mapfile -t layers <<<"$LAYERS"
else
    mapfile -t layers < <(python3 "$peer" --print-layers)
fi
index=0
for entry in "${layers[@]}"; do
    label="${entry%%$'\t'*}"
    flags="${entry#*$'\t'}"
    echo "[$((index + 1))/${#layers[@]}] $label: convflops compare ($variant) …" >&2
    # shellcheck disable=SC2086  # the flags are word lists on purpose
    timed "$convflops" compare --json --variant "$variant" $flags $convflops_args </dev/null >"$out/convflops-$index.json"
    echo "[$((index + 1))/${#layers[@]}] $label: ONNX Runtime …" >&2
    # shellcheck disable=SC2086
    timed python3 "$peer" --layer "$flags" --label "$label" --first-index "$index" $ort_args </dev/null >>"$out/ort.jsonl"
    webgpu_layers+=(--layer "$flags" --label "$label")
    index=$((index + 1))
done

# 4. The WebGPU peers, one Node process each over all layers (progress in webgpu-<peer>.log).
for lib in $webgpu_peers; do
    echo "WebGPU peer $lib on all ${#layers[@]} layers (log $out/webgpu-$lib.log) …" >&2
    # Exit status 4: some convs gave a wrong output or failed; their lines say so and the table shows it.
    status=0
    # shellcheck disable=SC2086
    timed node "$here/webgpu_conv.mjs" --lib "$lib" "${webgpu_layers[@]}" $webgpu_args </dev/null \
        >"$out/webgpu-$lib.jsonl" 2>"$out/webgpu-$lib.log" || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 4 ]; then
        grep '^webgpu_conv.mjs:' "$out/webgpu-$lib.log" | tail -1 >&2 || true
        die "the WebGPU peer $lib failed (exit status $status; log: $out/webgpu-$lib.log)"
    fi
done
cat /proc/loadavg >"$out/loadavg-end" 2>/dev/null || true

# 5. Join on (layer, conv), check that every side counted the same FLOPs, and print the table (table.py; it can be
#    run again on a kept output directory: python3 table.py OUT_DIR LAYERS VARIANT "PEERS").
python3 "$here/table.py" "$out" "$index" "$variant" "$webgpu_peers" | tee "$out/table.md"
echo "raw results and table: $out" >&2
