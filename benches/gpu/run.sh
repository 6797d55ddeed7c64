#!/usr/bin/env bash
# The one prepared GPU run of issue 13 (item 9), for the device machine: devices, verify, peak, tune, compare on the
# issue's layers (vec4 and gpu families side by side), MobileNet v1 and EfficientNet-B0, and PyTorch cuDNN fp32 (TF32 off)
# on the same layers; every output goes to $OUT. It needs, in the repository root:
#   .dev/convflops  a release build made on the development machine (`cargo build --release && mkdir -p .dev &&
#                   cp target/release/convflops .dev/`); .dev is ignored by git;
#   .gl/*.deb       the Vulkan loader packages (the device tool's README says how to download them).
# Each step has its own time limit so one slow step cannot take the others with it; the whole run is sized for
# about 8 minutes. $OUT gets two files (the device tool returns few): log.txt and results.tar.gz with every
# output. Usage (on the device machine): bash benches/gpu/run.sh
set -u
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export CONVFLOPS_CACHE_DIR="$work/cache" XDG_RUNTIME_DIR=$(mktemp -d)
bin=.dev/convflops
log="$OUT/log.txt"
step() { # step SECONDS NAME ARGS...: run one convflops command, its stdout to NAME, the transcript to the log
  local limit=$1 name=$2
  shift 2
  echo "== $(date -u +%H:%M:%S) $name: convflops $*" | tee -a "$log"
  timeout "$limit" "$bin" "$@" >"$work/$name" 2>>"$log"
  echo "   exit $?" | tee -a "$log"
}
{ nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv; uname -a; } >>"$log" 2>&1
step 30 devices.txt devices --backend vulkan
step 90 verify.txt verify --cases 60 --backend vulkan
step 60 peak.json peak --json --backend vulkan
step 90 tune.json tune --json --backend vulkan
for layer in "14 512 512" "28 256 256" "56 128 128" "112 32 64"; do
  set -- $layer
  step 60 "compare-$1.json" compare --json --backend vulkan --variant vec4,gpu --size "$1" --in-channels "$2" --out-channels "$3"
done
for net in mobilenet-v1 efficientnet-b0; do
  step 60 "model-$net.json" model "$net" --run --json --backend vulkan
done
echo "== $(date -u +%H:%M:%S) PyTorch" | tee -a "$log"
timeout 120 python3 benches/gpu/torch_convs.py --out "$work/torch.json" >/dev/null 2>>"$log"
echo "   exit $?" | tee -a "$log"
tar -czf "$OUT/results.tar.gz" -C "$work" . 2>>"$log"
echo "== $(date -u +%H:%M:%S) done" | tee -a "$log"
