#!/usr/bin/env bash
# The acceptance run of tests/cli_robustness.rs: 10 000 generated hostile argument vectors against the binary (a
# debug build, so arithmetic overflow panics too). Prints the counts of exit codes, panics, crashes and runs over
# 10 s, and fails on any panic, crash or slow run.
#   bash tests/fuzz_args.sh [VECTORS] [SEED]     (defaults: 10000 vectors, seed 1; CONVFLOPS_ARG_LOG=FILE logs each run)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR"
export CONVFLOPS_ARG_VECTORS="${1:-10000}"
export CONVFLOPS_ARG_SEED="${2:-1}"
exec cargo test --test cli_robustness ten_thousand_argument_vectors -- --ignored --nocapture
