#!/bin/bash
# `--filter-pool 3` on item 5's 5,000-epoch generators of BreastMNIST subsets 2-4, reused, not
# retrained (docs/augmentation.md, "Filtering the 5,000-epoch images"). Needs the generators'
# checkpoints in runs/item5-cpu/item5/subset-S/generators/ (benchmarks/item5_cpu.sh trains them;
# the folders kept in git have no checkpoints). Each subset folder gets the generator's record,
# so the benchmark samples that run instead of training one; then
#   gaunet pool --benchmarks runs/item5-filter/subset-{2,3,4} \
#       --against runs/item5-cpu/item5/subset-{2,3,4} --out runs/item5-filter/vs-unfiltered
# compares the filtered images with the unfiltered ones on the same generators.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in 2 3 4; do
    mkdir -p runs/item5-filter/subset-$s/generators
    cp -n runs/item5-cpu/item5/subset-$s/generators/gaunet-f0.25-s$s.json \
        runs/item5-filter/subset-$s/generators/
done
exec .venv/bin/python -m gaunet benchmark --data ../shared/data/breastmnist.npz \
    --out runs/item5-filter --subset-seeds 2,3,4 --jobs 3 --fractions 0.25 \
    --arms none,classic,gaunet,gaunet+classic,copies,copies+classic \
    --seeds 10 --classifiers resnet18 --width 0.5 --epochs 20 \
    --gen-config runs/item5-cpu/gen-tiny-b128.yaml --gen-steps 5352 --device cpu \
    --filter-pool 3 "$@"
