#!/bin/bash
# The busy-CPU warning under a real cgroup CPU limit (docs/performance.md, "Threads on a busy
# CPU"): a cgroup of a 2-CPU quota holding a 6-s busy loop, and gaunet's check run inside it.
# Needs root and a writable cgroup v1 cpu + cpuacct mount (cgroup v2: use cpu.max instead).
# Usage: sudo bash benchmarks/cgroup_quota_check.sh [PYTHON]
set -euo pipefail
python=${1:-.venv/bin/python}
cpu=/sys/fs/cgroup/cpu/gaunet-q acct=/sys/fs/cgroup/cpuacct/gaunet-q
mkdir -p "$cpu" "$acct"
trap 'sleep 1; rmdir "$cpu" "$acct" 2>/dev/null || true' EXIT
echo 200000 > "$cpu/cpu.cfs_quota_us" && echo 100000 > "$cpu/cpu.cfs_period_us"
inside() { bash -c 'echo $$ > '"$cpu"'/cgroup.procs; echo $$ > '"$acct"'/cgroup.procs; exec "$@"' _ "$@"; }
inside python3 -c "import time; t = time.time()
while time.time() - t < 6: pass" &
sleep 1
inside "$python" -W always -c "from gaunet import cpu_load
print('limit', cpu_load.limiting_cgroup())
print('busy host cores', cpu_load.warn_if_busy(2, cpu_load.usable_cpu_set(), 'this run', '--threads 1'))"
wait
