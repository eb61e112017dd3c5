"""Guards on the iteration schedule (Algorithm 1, DAGAN's loop): each of the n_critic critic
steps and the generator step get their own fresh batch of same-class pairs (i != j), the lazy
penalty runs on every gp_every-th critic step counted over the run, and the logged
gradient_penalty is the mean of the penalties that ran."""

import torch
from train_helpers import PHANTOM, TINY

from gaunet.config import load_config
from gaunet.data.sources import load_source
from gaunet.training.distributed import Distributed
from gaunet.training.step import Stepper


def test_each_step_gets_its_own_batch_and_the_lazy_penalty_keeps_its_count():
    cfg = load_config("cpu-tiny", {**TINY, "n_critic": 3, "gp_every": 2, "precision": "fp32"})
    data = load_source(PHANTOM, size=cfg.size, channels=cfg.channels)
    stepper = Stepper(cfg, data, Distributed())
    calls, penalties = [], []
    critic_step, generator_step = stepper.critic_step, stepper.generator_step

    def recorded_critic(batch, with_penalty):
        stats = critic_step(batch, with_penalty)
        calls.append(("c", batch, with_penalty))
        if with_penalty:
            penalties.append(stats["gradient_penalty"].clone())
        return stats

    def recorded_generator(batch):
        calls.append(("g", batch, None))
        return generator_step(batch)

    stepper.critic_step, stepper.generator_step = recorded_critic, recorded_generator
    totals: dict[str, torch.Tensor] = {}
    for _ in range(2):
        stepper.train_step(totals)

    assert "".join(kind for kind, _, _ in calls) == "cccg" * 2
    # critic steps 0..5 over the run: the penalty on 0, 2, 4 (counted over the run, not reset
    # per iteration: the second iteration starts at critic step 3, without one)
    assert [p for kind, _, p in calls if kind == "c"] == [True, False] * 3
    images = [torch.cat([b.x_i, b.x_j]) for _, b, _ in calls[:4]]
    for a in range(4):  # four different batches within an iteration
        for b in range(a + 1, 4):
            assert not torch.equal(images[a], images[b])
    for _, batch, _ in calls:  # pairs: another image (same class is test_pairs.py's)
        assert (batch.x_i - batch.x_j).flatten(1).abs().sum(1).gt(0).all()
    # 6 critic steps hold exactly 6 / gp_every penalties, so the logged value is their mean
    # (a window that is not a whole number of gp_every / gcd periods is off by one penalty)
    logged = totals["gradient_penalty"] / stepper.step
    torch.testing.assert_close(logged, torch.stack(penalties).mean())
