#!/usr/bin/env bash
# What the next GPU session carries (docs/performance.md, "The next GPU session"), made here at
# no device time: MONAI's wheel for the device's Python 3.12 (its image has no MONAI; torch and
# numpy, MONAI's only needs, are there) in .whl/, and BreastMNIST (and BUSI, for table3-busi)
# in .gpudata/, both git-ignored (1.7 MB and 0.5 MB; the wheel downloads in about a second),
# then prints the one command to `run`, which installs the wheel before the check.
# Usage: bash benchmarks/gpu_carry.sh [SHARED_DATA_DIR]; WITH_BUSI=1 also copies BUSI.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data}"
mkdir -p .whl .gpudata
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .whl monai==1.6.1
cp "$data/breastmnist.npz" .gpudata/breastmnist.npz
# BUSI (40 MB) only for table3-busi, which the doc's first --skip list leaves out: the tracked
# tree (10 MB) + .whl + .gpudata must stay under the 64 MiB a call carries
if [ "${WITH_BUSI:-0}" = 1 ] && [ ! -d .gpudata/busi ]; then cp -r "$data/busi" .gpudata/busi; fi
du -sh .whl .gpudata
cat <<'RUN'
carry: [".whl", ".gpudata"]   (the working tree, these included, must stay under 64 MiB a call)
command:
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit; \
python3 benchmarks/gpu_train_check.py $OUT --data .gpudata/breastmnist.npz --budget 540 --skip ...
RUN
