"""One line per `gaunet train` run for the CPU check scripts (cpu_precision_check.sh,
cpu_threads_check.sh), from its run.json, the figures users get:

    python benchmarks/run_line.py RUN/run.json NAME LOAD [--show KEY ...] [--label TEXT ...]

prints NAME, each --show value of run.json (a string with spaces as Python's repr), each --label,
then steps, wall_seconds, first_step_seconds, steady s/step = (wall - first) / (steps - 1),
images_per_second, and "load LOAD" (the load average before-after, as the caller read it).
"""

from __future__ import annotations

import argparse
import json


def line(record: dict, name: str, load: str, show: list[str], labels: list[str]) -> str:
    steady = (record["wall_seconds"] - record["first_step_seconds"]) / max(record["steps"] - 1, 1)
    shown = [record[k] for k in show]
    shown = [repr(v) if isinstance(v, str) and " " in v else v for v in shown]
    fields = [name, *shown, *labels, record["steps"], record["wall_seconds"]]
    fields += [record["first_step_seconds"], round(steady, 3), record["images_per_second"]]
    return " ".join(map(str, [*fields, "load", load]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_json")
    parser.add_argument("name")
    parser.add_argument("load")
    parser.add_argument("--show", action="append", default=[], help="a run.json key to print")
    parser.add_argument("--label", action="append", default=[], help="text to print after them")
    args = parser.parse_args()
    with open(args.run_json) as handle:
        record = json.load(handle)
    print(line(record, args.name, args.load, args.show, args.label))


if __name__ == "__main__":
    main()
