import torch

from gaunet.config import load_config
from gaunet.training.loss import LazyPenalty, gradient_penalty
from gaunet.training.loss_gaunet import build_critic


def test_gradient_penalty_matches_finite_differences():
    cfg = load_config(
        "cpu-tiny",
        {"size": 8, "d_blocks": 2, "g_depth": 2, "d_growth": 2, "d_stem": 2, "d_dropout": 0.0},
    )
    torch.manual_seed(0)
    critic = build_critic(cfg, num_classes=2).double().eval()
    first = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    real, fake = torch.rand_like(first), torch.rand_like(first)
    labels = torch.tensor([0, 1])
    torch.manual_seed(1)
    penalty = gradient_penalty(critic, first, real, fake, labels)
    torch.manual_seed(1)
    eps = torch.rand(2, 1, 1, 1, dtype=torch.float64)
    mixed = eps * real + (1 - eps) * fake
    h = 1e-6
    grads = torch.zeros_like(mixed)
    with torch.no_grad():
        for k in range(mixed[0].numel()):
            step = torch.zeros_like(mixed).view(2, -1)
            step[:, k] = h
            step = step.view_as(mixed)
            plus = critic(first, mixed + step, labels)
            minus = critic(first, mixed - step, labels)
            grads.view(2, -1)[:, k] = (plus - minus) / (2 * h)
    expected = ((grads.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected, rtol=1e-5, atol=1e-7)
    assert penalty > 0


def test_gradient_penalty_is_differentiable_for_the_critic():
    cfg = load_config("cpu-tiny", {"size": 16, "d_growth": 2, "d_stem": 2})
    critic = build_critic(cfg, num_classes=2)
    x = torch.rand(3, 1, 16, 16)
    penalty = gradient_penalty(critic, x, x.flip(0), torch.rand_like(x), torch.tensor([0, 1, 0]))
    penalty.backward()
    assert critic.head.weight.grad is not None and critic.features[0].weight.grad is not None


def test_lazy_penalty_runs_every_kth_critic_step_weighted_k_times():
    lazy = LazyPenalty(weight=10.0, every=4)
    assert [lazy.due(step) for step in range(9)] == [True, False, False, False] * 2 + [True]
    assert lazy.scale == 40.0  # mean weight per critic step stays 10
    assert LazyPenalty(10.0).scale == 10.0 and all(LazyPenalty(10.0).due(s) for s in range(3))
