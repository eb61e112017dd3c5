#!/usr/bin/env bash
# `precision: auto` and the presets' step times on this CPU, through `gaunet train` itself:
#   bash benchmarks/cpu_precision_check.sh [OUT_DIR]      (about 8 minutes on a 2-core CPU)
# cpu-tiny at 28 px, 12 steps, 1 thread, twice each in the order auto, fp32, bf16; then cpu-tiny
# (32 px batch 16; 28 px batch 128 on 1 and 2 threads), cpu-small and paper (28 px, batch 32).
# One line per run: name, run.json's precision and precision_reason, steps, wall_seconds,
# first_step_seconds, steady s/step = (wall - first) / (steps - 1), images_per_second, and the
# load average before and after. docs/performance.md, "Precision: auto", has the results.
# Needs .venv (make install) and, for the batch-128 rows, ../shared/data/breastmnist.npz.
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/cpu-precision}
mkdir -p "$out"
row() {  # name, then gaunet train's arguments
  local name=$1 before
  shift
  before=$(cut -d' ' -f1 /proc/loadavg)
  rm -rf "${out:?}/$name"
  if ! .venv/bin/gaunet train --quiet --out "$out/$name" "$@" > "$out/$name.log" 2>&1; then
    echo "$name failed: see $out/$name.log"
    return
  fi
  .venv/bin/python benchmarks/run_line.py "$out/$name/run.json" "$name" \
    "$before-$(cut -d' ' -f1 /proc/loadavg)" --show precision --show precision_reason
}
tiny="--data phantom --config cpu-tiny --size 28 --set pad_input=true --steps 12 --threads 1"
for i in 1 2; do
  row "auto-$i" $tiny
  row "fp32-$i" $tiny --set precision=fp32
  row "bf16-$i" $tiny --set precision=bf16
done
row tiny32-b16 --data phantom --config cpu-tiny --steps 40
b128="--data ../shared/data/breastmnist.npz --config cpu-tiny --size 28 --set pad_input=true"
b128="$b128 --set batch_size=128 --steps 10"
row tiny28-b128 $b128
row tiny28-b128-t2 $b128 --threads 2
row small64 --data phantom --config cpu-small --steps 4
row paper28-b32 --data phantom --config paper --size 28 --channels 1 --set pad_input=true \
  --set batch_size=32 --steps 4 --threads 2
