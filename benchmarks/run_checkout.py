"""Run a script against another checkout of gaunet, to time two commits back to back with one
virtualenv (the editable install would otherwise import this checkout's package).

    git worktree add /tmp/old 2924a5f
    .venv/bin/python benchmarks/run_checkout.py /tmp/old /tmp/old/benchmarks/train_speed.py \
        --preset cpu-tiny --no-flops
"""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    checkout, script, *rest = sys.argv[1:]
    # drop the editable install's import hook, then put the other checkout first on the path
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, checkout)
    sys.argv = [script, *rest]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
