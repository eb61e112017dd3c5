#!/usr/bin/env bash
# GPU speed check (issue 8): the `paper` preset at 256 px and `cpu-small` at 64 px, each as a
# plain fp32 reference and with the optimisation levers, in one command under 8 minutes.
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# Prints a table; writes one JSON line per measurement to OUT_DIR/gpu_check.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp}}
mkdir -p "$out"
py=${PYTHON:-python3}
log="$out/gpu_check.jsonl"
: > "$log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'

run() {  # label config size channels batch steps [--set k=v ...]
  local label=$1 config=$2 size=$3 channels=$4 batch=$5 steps=$6
  shift 6
  local line
  line=$(timeout 150 "$py" benchmarks/train_speed.py --config "$config" --size "$size" \
    --channels "$channels" --batch-size "$batch" --steps "$steps" --warmup 3 "$@" 2>"$out/err.txt" | tail -n 1)
  if [ -z "$line" ]; then
    line="{\"label\": \"$label\", \"error\": \"$(tail -n 1 "$out/err.txt" | tr -d '"\\')\"}"
  fi
  echo "{\"label\": \"$label\", \"result\": $line}" >> "$log"
  echo "$label: $line"
}

run paper256-fp32-ref        paper 256 3 32 6 --set precision=fp32
run paper256-bf16            paper 256 3 32 6 --set precision=bf16
run paper256-bf16-cl         paper 256 3 32 6 --set precision=bf16 --set channels_last=true
run paper256-bf16-cl-gp4     paper 256 3 32 6 --set precision=bf16 --set channels_last=true --set gp_every=4
run paper256-bf16-cl-compile paper 256 3 32 6 --set precision=bf16 --set channels_last=true --set compile=true
run small64-fp32-ref         cpu-small 64 1 64 20 --set precision=fp32
run small64-bf16-cl          cpu-small 64 1 64 20 --set precision=bf16 --set channels_last=true

"$py" - "$log" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'measurement':28s} {'batch':>5s} {'s/iter':>8s} {'img/s':>8s} {'pairs/s':>8s} {'peak MB':>8s}")
for row in rows:
    r = row["result"]
    if "error" in r or "error" in row:
        print(f"{row['label']:28s} error: {r.get('error', row.get('error'))}")
        continue
    per_iter = r["seconds_per_step"]
    print(f"{row['label']:28s} {r['batch_size']:5d} {per_iter:8.3f} {r['batch_size'] / per_iter:8.1f} "
          f"{r['images_per_second']:8.1f} {r.get('peak_mem_mb', float('nan')):8.0f}")
PY
