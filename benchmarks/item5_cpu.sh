#!/bin/bash
# Issue 29 item 5 on the 2-core CPU, across sessions that may each get a fresh machine (a clean
# checkout without the git-ignored runs/): docs/augmentation.md, "Item 5 on the 2-core CPU".
#
#   bash benchmarks/item5_cpu.sh run SEEDS JOBS [more gaunet benchmark options]
#       e.g. run 2,3 2   or   run 4 1 --threads 2   (JOBS is ignored for one subset)
#     restores each subset folder kept under docs/results/item5-cpu/ that runs/ lacks, then
#     runs (or continues) the item-5 benchmark for those subset seeds in runs/item5-cpu/item5.
#   bash benchmarks/item5_cpu.sh filter [POOL] [more gaunet benchmark options]
#     the same benchmark with --filter-pool POOL (3 if not given) in runs/item5-filter (POOL 3)
#     or runs/item5-filter-pPOOL, on subsets 2-4's finished generators (their records copied
#     in, so nothing is retrained; needs their checkpoints in runs/, which the kept folders
#     lack): docs/augmentation.md, "Filtering the 5,000-epoch images". SUBSETS="0 1" (default
#     "2 3 4") takes other subsets; one whose generator checkpoint is gone trains a new one
#     there (2-2.7 h). A new folder starts from item 5's rows of the arms without a generator
#     (the same cells) where they are kept, so only the gaunet and gaunet+classic cells run.
#     `gaunet pool --benchmarks runs/item5-filter/subset-{2,3,4}
#     --against runs/item5-cpu/item5/subset-{2,3,4} --out runs/item5-filter/vs-unfiltered`
#     then compares the filtered images with the unfiltered ones of the same generators.
#   bash benchmarks/item5_cpu.sh typical [more gaunet benchmark options]
#     the filter's control: runs/item5-filter's benchmark (--filter-pool 3; SUBSETS, default
#     "2 3 4", each finished there) with the arms typical-copies and typical-copies+classic
#     added, in runs/item5-typical, starting from runs/item5-filter's rows (so only the 20
#     typical-copies cells of each subset run).
#   bash benchmarks/item5_cpu.sh plain [more gaunet benchmark options]
#     the generators `filter` trained itself (SUBSETS, default "0 1", whose item-5 generators
#     are gone) unfiltered: item 5's six arms in runs/item5-plain, starting from
#     runs/item5-filter's rows of the arms without a generator (the same cells), so only the
#     gaunet and gaunet+classic cells run. With those, subsets 0-1 have what subsets 2-4 have.
#   bash benchmarks/item5_cpu.sh early STEP [more gaunet benchmark options]
#     the same three generators at an earlier snapshot (checkpoints/step-STEP.pt of 5,352):
#     each run copied to runs/item5-early-STEP/generators/ with that snapshot as its last.pt,
#     then item 5's six arms unfiltered (plain/) and with --filter-pool 3 (filter/). The cells
#     of the arms without a generator are item 5's own rows (the same cells, bit for bit), so
#     only the gaunet and gaunet+classic cells run. `gaunet pool` over plain/ and filter/.
#   bash benchmarks/item5_cpu.sh save
#     keeps every subset folder whose generator has finished in docs/results/item5-cpu/,
#     without its checkpoints, samples and TensorBoard logs (a few MB in git instead of 8 MB
#     per checkpoint): its synthetic images, cells (results.csv) and the generator's run.json,
#     config, metrics and image metrics (evaluate*.json from benchmarks/item5_report.py, which
#     need the checkpoint, so run that first). A restored folder continues from its images
#     (the benchmark finds a recorded generator run beside its record when the path moved).
set -euo pipefail
cd "$(dirname "$0")/.."
ITEM5=runs/item5-cpu/item5
KEPT=docs/results/item5-cpu
GEN_CONFIG=runs/item5-cpu/gen-tiny-b128.yaml  # the path is pinned in each benchmark.json
PY=.venv/bin/python
BENCHMARK_ARMS=none,classic,gaunet,gaunet+classic,copies,copies+classic
BENCHMARK=($PY -m gaunet benchmark --data ../shared/data/breastmnist.npz --fractions 0.25
    --arms "$BENCHMARK_ARMS" --seeds 10
    --classifiers resnet18 --width 0.5 --epochs 20 --gen-config "$GEN_CONFIG" --gen-steps 5352
    --device cpu)

# seed_folder FOLDER RECORD ROWS KEEP: a benchmark folder that reuses a finished generator (its
# record copied in, so nothing is retrained) and starts from the cells of another folder of the
# same subset (ROWS, its results.csv): every row (KEEP=all) or those of the arms without a
# generator (KEEP=controls). Either may be missing: then the generator trains, or the cells run.
seed_folder() {
    local folder=$1 record=$2 rows=$3 keep=$4
    mkdir -p "$folder/generators"
    [ -f "$record" ] && cp -n "$record" "$folder/generators/"
    if [ -f "$rows" ] && [ ! -f "$folder/results.csv" ]; then
        if [ "$keep" = all ]; then
            cp "$rows" "$folder/results.csv"
        else
            awk -F, 'FNR == 1 || $2 !~ /^gaunet/' "$rows" > "$folder/results.csv"
        fi
    fi
}
seeds_of() { echo $1 | tr ' ' ,; }

case "${1:-}" in
run)
    seeds=$2 jobs=$3
    shift 3
    mkdir -p "$ITEM5"
    if [ ! -f "$GEN_CONFIG" ]; then  # cpu-tiny at 28 px (padded to 32), batch 128
        $PY -c "import sys; from pathlib import Path; sys.path.insert(0, 'benchmarks'); \
from gpu_train_check import write_generator_config; \
write_generator_config(Path('$GEN_CONFIG'), 128)"
    fi
    for kept in "$KEPT"/subset-*; do
        [ -d "$kept" ] || continue
        subset=$(basename "$kept")
        [ -e "$ITEM5/$subset" ] && continue
        cp -r "$kept" "$ITEM5/$subset"
        echo "restored $ITEM5/$subset from $kept"
    done
    if [[ $seeds == *,* ]]; then  # subset-S folders under ITEM5, JOBS of them at once
        where=(--out "$ITEM5" --subset-seeds "$seeds" --jobs "$jobs")
    else  # one subset: its own folder, as --subset-seeds would name it
        where=(--out "$ITEM5/subset-$seeds" --subset-seed "$seeds")
    fi
    exec "${BENCHMARK[@]}" "${where[@]}" "$@"
    ;;
filter)
    shift
    pool=3
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then
        pool=$1
        shift
    fi
    out=runs/item5-filter
    [ "$pool" = 3 ] || out=runs/item5-filter-p$pool
    subsets=${SUBSETS:-2 3 4}
    for s in $subsets; do
        done_at=$ITEM5/subset-$s  # item 5's folder, else the copy kept in git
        [ -f "$done_at/results.csv" ] || done_at=$KEPT/subset-$s
        record=$done_at/generators/gaunet-f0.25-s$s.json
        # subsets 0 and 1: their checkpoints are gone, so a new generator trains here
        [ -f "$(dirname "$record")/gaunet-f0.25-s$s/checkpoints/last.pt" ] || record=none
        seed_folder "$out/subset-$s" "$record" "$done_at/results.csv" controls
    done
    exec "${BENCHMARK[@]}" --out "$out" --subset-seeds "$(seeds_of "$subsets")" --jobs 2 \
        --filter-pool "$pool" "$@"
    ;;
typical | plain)
    kind=$1
    shift
    if [ "$kind" = typical ]; then
        subsets=${SUBSETS:-2 3 4} keep=all
        more=(--filter-pool 3 --arms "${BENCHMARK_ARMS},typical-copies,typical-copies+classic")
    else
        subsets=${SUBSETS:-0 1} keep=controls more=()
    fi
    for s in $subsets; do
        filtered=runs/item5-filter/subset-$s
        record=$filtered/generators/gaunet-f0.25-s$s.json
        if [ ! -f "$record" ] || [ ! -f "$filtered/summary.json" ]; then
            echo "$filtered has not finished: run SUBSETS=\"$subsets\" $0 filter first" >&2
            exit 2
        fi
        seed_folder "runs/item5-$kind/subset-$s" "$record" "$filtered/results.csv" "$keep"
    done
    exec "${BENCHMARK[@]}" --out "runs/item5-$kind" --subset-seeds "$(seeds_of "$subsets")" \
        --jobs 2 "${more[@]}" "$@"
    ;;
early)
    step=$2
    shift 2
    early=runs/item5-early-$step
    for s in 2 3 4; do
        source=$ITEM5/subset-$s/generators/gaunet-f0.25-s$s
        run=$early/generators/gaunet-f0.25-s$s
        snapshot=$source/checkpoints/step-$(printf %06d "$step").pt
        if [ ! -f "$run/checkpoints/last.pt" ]; then
            mkdir -p "$run/checkpoints"
            cp "$source"/{config.yaml,split.csv,train_images.npz,run.json} "$run/"
            ln -f "$snapshot" "$run/checkpoints/last.pt" 2> /dev/null \
                || cp "$snapshot" "$run/checkpoints/last.pt"
            echo "$(cut -d' ' -f1 "$snapshot.sha256")  last.pt" > "$run/checkpoints/last.pt.sha256"
        fi
        for variant in plain filter; do
            folder=$early/$variant/subset-$s
            mkdir -p "$folder/generators"
            printf '{"run": "%s", "arm": "gaunet", "fraction": 0.25}' "$run" \
                > "$folder/generators/gaunet-f0.25-s$s.json"
            own=$folder/results.csv  # item 5's rows of every arm without a generator, then
            [ -f "$own" ] || own=/dev/null  # the gaunet rows this folder has computed
            { awk -F, 'FNR == 1 || $2 !~ /^gaunet/' "$ITEM5/subset-$s/results.csv"
                awk -F, 'FNR > 1 && $2 ~ /^gaunet/' "$own"; } > "$folder/results.tmp"
            mv "$folder/results.tmp" "$folder/results.csv"
        done
    done
    "${BENCHMARK[@]}" --out "$early/plain" --subset-seeds 2,3,4 --jobs 2 "$@"
    exec "${BENCHMARK[@]}" --out "$early/filter" --subset-seeds 2,3,4 --jobs 2 --filter-pool 3 "$@"
    ;;
save)
    for folder in "$ITEM5"/subset-*; do
        records=$(find "$folder/generators" -maxdepth 1 -name 'gaunet-*.json' \
            ! -name '*-selection.json' 2> /dev/null || true)
        [ -n "$records" ] || continue  # generator not finished: no run record yet
        subset=$(basename "$folder")
        rm -rf "${KEPT:?}/$subset"
        mkdir -p "$KEPT/$subset"
        tar -C "$folder" --exclude=checkpoints --exclude=samples --exclude=tensorboard \
            --exclude=.gaunet.lock -cf - . | tar -C "$KEPT/$subset" -xf -
        echo "kept $folder in $KEPT/$subset ($(du -sh "$KEPT/$subset" | cut -f1))"
    done
    ;;
*)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 2
    ;;
esac
