#!/usr/bin/env bash
# The host CPU's own ceilings, for comparison with `convflops peak` on a CPU adapter (lavapipe/llvmpipe):
# memcpy bandwidth (bytes read + written, as `peak` counts its copy) and 256-bit FMA throughput, one thread and
# one thread per core. Usage: benches/peers/host_ceilings.sh [MIB]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
cc -O2 -pthread -o "$out/memcpy" "$here/memcpy.c"
cc -O3 -funroll-loops -mavx2 -mfma -pthread -o "$out/fma" "$here/fma.c"
"$out/memcpy" "${1:-128}" 1
"$out/memcpy" "${1:-128}" "$(nproc)"
"$out/fma" 1
"$out/fma" "$(nproc)"
