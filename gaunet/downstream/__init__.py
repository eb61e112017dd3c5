"""Downstream proof: do synthetic images help a classifier trained on the real ones?

`gaunet.downstream.benchmark.run_benchmark` trains classifiers with and without extra images
(classic augmentation or a generator arm) over nested low-data fractions and seeds, and writes
results.csv, summary.md, summary.json and a gain-vs-fraction plot.
"""
