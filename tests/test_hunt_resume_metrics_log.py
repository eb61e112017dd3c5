"""metrics.jsonl read back on every resume (MetricsLog.truncate_after): a damaged record whose
step is not a number (`"step": null`, a string) was compared with `<=` and every resume of the
run stopped with a TypeError traceback. It is dropped like a line cut short by a kill."""

from __future__ import annotations

import json

from gaunet.training.run_folder import MetricsLog


def test_records_with_a_damaged_step_are_dropped_not_a_traceback(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=False)
    lines = ['{"step": 5}', '{"step": null}', '{"step": "7"}', "[1, 2]", '{"step": 10}']
    log.path.write_text("".join(line + "\n" for line in lines))
    assert log.truncate_after(7) == 4
    assert [json.loads(line) for line in log.path.read_text().splitlines()] == [{"step": 5}]
