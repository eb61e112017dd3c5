#!/bin/bash
# The CHANGELOG's stop-and-continue figure: a progress() bar at 2 steps/s, stopped 20 s
# (kill -STOP), continued; prints the bar's rate after steps 10, 13, 21 and 40.
# Usage: bash benchmarks/pause_rate_check.sh   (from the checkout, with .venv built)
.venv/bin/python - <<'PY' 2>&1 | grep after &
import sys, time
from gaunet.progress import progress
with progress(total=40, desc="demo", unit="step") as bar:
    for i in range(40):
        time.sleep(0.5)
        bar.update()
        if i in (9, 12, 20, 39):
            print(f"\nafter step {i + 1}: rate {bar.format_dict['rate']:.3f}", file=sys.stderr)
PY
sleep 7; P=$(pgrep -n -f ".venv/bin/python -$"); kill -STOP "$P"; sleep 20; kill -CONT "$P"; wait
