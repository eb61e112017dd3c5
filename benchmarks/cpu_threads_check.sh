#!/usr/bin/env bash
# Threads on a CPU that another job keeps busy, through `gaunet train` itself:
#   bash benchmarks/cpu_threads_check.sh [OUT_DIR]        (about 12 minutes on a 2-core CPU)
# cpu-tiny at 28 px (breastmnist, batch 16 and 128), each run three ways: 1 thread; one thread
# per core with OpenMP's default wait (threads spin at each parallel region's end before they
# sleep); one thread per core with OMP_WAIT_POLICY=PASSIVE (they sleep at once). First on the
# idle machine, then beside BUSY processes that each spin one core (default: 1, the user's
# other job; BUSY=2 on 2 cores: every core taken, about 10 more minutes; IDLE=0 skips the idle
# rows).
# One line per run: name, threads, wait policy, steps, wall_seconds, first_step_seconds, steady
# s/step = (wall - first) / (steps - 1), images_per_second, load average before and after.
# docs/performance.md, "Threads on a busy CPU", has the results. Needs .venv (make install)
# and ../shared/data/breastmnist.npz; nothing else should run (pause it with kill -STOP).
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/cpu-threads}
busy=${BUSY:-1}
cores=$(nproc)
mkdir -p "$out"
spinners=()
trap 'kill "${spinners[@]}" 2>/dev/null' EXIT
row() {  # name, threads, OMP_WAIT_POLICY (default: unset), then gaunet train's arguments
  local name=$1 threads=$2 policy=$3 before
  shift 3
  before=$(cut -d' ' -f1 /proc/loadavg)
  rm -rf "${out:?}/$name"
  if ! env ${policy:+OMP_WAIT_POLICY=$policy} .venv/bin/gaunet train --quiet \
    --out "$out/$name" --threads "$threads" "$@" > "$out/$name.log" 2>&1; then
    echo "$name failed: see $out/$name.log"
    return
  fi
  .venv/bin/python benchmarks/run_line.py "$out/$name/run.json" "$name" \
    "$before-$(cut -d' ' -f1 /proc/loadavg)" --show torch_threads --label "${policy:-default}"
}
three() {  # prefix, steps, batch
  local data="--data ../shared/data/breastmnist.npz --config cpu-tiny --size 28"
  data="$data --set pad_input=true --set batch_size=$3 --steps $2"
  row "$1-t1" 1 "" $data
  row "$1-t$cores" "$cores" "" $data
  row "$1-t$cores-passive" "$cores" PASSIVE $data
}
if [ "${IDLE:-1}" != 0 ]; then
  three idle-b16 12 16
  three idle-b128 6 128
fi
for _ in $(seq "$busy"); do
  python3 -c 'while True: pass' &
  spinners+=($!)
done
sleep 5
three "busy$busy-b16" 4 16
three "busy$busy-b128" 3 128
