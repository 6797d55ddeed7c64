#!/usr/bin/env bash
# The host's memcpy bandwidth (read + write counted, as `convflops peak` counts its copy), 1 thread and one per core.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
cc -O2 -pthread -o "$out/memcpy" "$here/memcpy.c"
"$out/memcpy" "${1:-128}" 1
"$out/memcpy" "${1:-128}" "$(nproc)"
