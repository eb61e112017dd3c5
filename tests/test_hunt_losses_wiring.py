"""Guards on what the losses compute (Algorithm 1 with docs/model.md's choices), checked with a
critic whose gradients are known in closed form: the real pair is (x_i, x_j), the fake pair
(x_i, G(x_i, z, c)), the penalty interpolates the SECOND element between x_j and G(x_i) with
one eps per sample and x_i as the first, L_D = E D(fake) - E D(real) + lambda * every * GP,
L_G = -E D(x_i, G(x_i)); the baselines' discriminator sees x_j as the real image."""

import torch
from torch import nn

from gaunet.config import load_config
from gaunet.training.loss import Batch, build_family


class QuadraticCritic(nn.Module):
    """D(a, b) = <v, a> + <w, b> + 0.1 ||b||^2 per sample: grad_b D = w + 0.2 b."""

    def __init__(self, side: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.v = nn.Parameter(torch.randn(1, 1, side, side, generator=generator))
        self.w = nn.Parameter(torch.randn(1, 1, side, side, generator=generator))
        self.calls: list[tuple[torch.Tensor, torch.Tensor, bool]] = []

    def forward(self, first, second, labels):
        self.calls.append((first.detach().clone(), second.detach().clone(), second.requires_grad))
        return self.score(first, second)

    def score(self, first, second):
        linear = (first * self.v).flatten(1).sum(1) + (second * self.w).flatten(1).sum(1)
        return linear + 0.1 * (second**2).flatten(1).sum(1)


class ShiftGenerator(nn.Module):
    """G(x, z) = tanh(a x + z_0): differentiable in a, different per noise draw."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.5))

    def forward(self, x, z, labels):
        return torch.tanh(self.a * x + z[:, :1, None, None])


def _setup(gp_every: int):
    cfg = load_config(
        "cpu-tiny",
        {
            "size": 8,
            "g_depth": 2,
            "d_stem_down": 0,
            "decoder_noise_stages": 0,
            "gp_every": gp_every,
            "precision": "fp32",
        },
    )
    family = build_family(cfg, 2)
    data = torch.Generator().manual_seed(1)
    x_i = torch.rand(6, 1, 8, 8, generator=data) * 2 - 1
    x_j = torch.rand(6, 1, 8, 8, generator=data) * 2 - 1
    return cfg, family, Batch(x_i, x_j, torch.tensor([0, 1, 0, 1, 0, 1]))


def test_critic_loss_pairs_penalty_and_signs():
    cfg, family, batch = _setup(gp_every=3)
    critic, generator = QuadraticCritic(8), ShiftGenerator()
    torch.manual_seed(5)
    loss, stats = family.critic_loss(generator, critic, batch, with_penalty=True)
    torch.manual_seed(5)
    fake = generator(batch.x_i, family.noise(6, batch.x_i.device), batch.labels).detach()

    (pairs_first, pairs_second, _), (gp_first, gp_second, needs_grad) = critic.calls
    assert torch.equal(pairs_first, torch.cat([batch.x_i, batch.x_i]))
    assert torch.equal(pairs_second[:6], batch.x_j)  # real partner: x_j, not x_i
    torch.testing.assert_close(pairs_second[6:], fake)  # fake partner: G(x_i, z, c)
    assert torch.equal(gp_first, batch.x_i) and needs_grad

    eps = ((gp_second - fake) / (batch.x_j - fake)).flatten(1)  # x = eps x_j + (1 - eps) G
    assert torch.allclose(eps, eps[:, :1].expand_as(eps), atol=1e-4)  # one eps per sample
    assert ((eps >= 0) & (eps <= 1)).all() and eps[:, 0].std() > 0.05  # drawn per sample

    with torch.no_grad():
        real = critic.score(batch.x_i, batch.x_j).mean()
        fake_score = critic.score(batch.x_i, fake).mean()
        grad = critic.w + 0.2 * gp_second  # grad_b D at the interpolates
        penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(stats["wasserstein"], real - fake_score)
    torch.testing.assert_close(stats["gradient_penalty"], penalty)
    expected = fake_score - real + cfg.gp_lambda * cfg.gp_every * penalty
    torch.testing.assert_close(loss.detach(), expected)

    loss.backward()
    assert generator.a.grad is None  # the critic step does not train G
    # d loss / d w: E[x_g] - E[x_j] from the Wasserstein term, plus the penalty's term
    n = len(batch.x_i)
    unit = grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    norm = grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    d_penalty = (2 * (norm - 1) * unit).sum(0, keepdim=True) / n
    expected_w = (
        fake.mean(0, keepdim=True)
        - batch.x_j.mean(0, keepdim=True)
        + cfg.gp_lambda * cfg.gp_every * d_penalty
    )
    torch.testing.assert_close(critic.w.grad, expected_w, rtol=1e-4, atol=1e-5)


def test_critic_loss_without_penalty_is_the_negated_wasserstein_estimate():
    _, family, batch = _setup(gp_every=1)
    critic = QuadraticCritic(8)
    loss, stats = family.critic_loss(ShiftGenerator(), critic, batch, with_penalty=False)
    assert len(critic.calls) == 1 and "gradient_penalty" not in stats
    torch.testing.assert_close(loss.detach(), -stats["wasserstein"])


def test_generator_loss_is_minus_the_critic_mean_on_x_i_and_its_draw():
    _, family, batch = _setup(gp_every=1)
    critic, generator = QuadraticCritic(8), ShiftGenerator()
    critic.requires_grad_(False)
    torch.manual_seed(7)
    loss, _ = family.generator_loss(generator, critic, batch)
    torch.manual_seed(7)
    fake = generator(batch.x_i, family.noise(6, batch.x_i.device), batch.labels)
    ((first, second, _),) = critic.calls
    assert torch.equal(first, batch.x_i)
    torch.testing.assert_close(second, fake.detach())
    torch.testing.assert_close(loss.detach(), -critic.score(batch.x_i, fake).mean().detach())
    loss.backward()
    assert generator.a.grad is not None and generator.a.grad != 0


def test_baselines_score_x_j_as_the_real_image():
    for model in ("gan", "cgan"):
        cfg = load_config("cpu-tiny", {"size": 16, "model": model, "precision": "fp32"})
        family = build_family(cfg, 2)
        generator, critic = family.build()
        seen = []
        critic.register_forward_pre_hook(lambda m, args, seen=seen: seen.append(args[0].detach()))
        x_i = torch.rand(4, 1, 16, 16) * 2 - 1
        x_j = torch.rand(4, 1, 16, 16) * 2 - 1
        family.critic_loss(generator, critic, Batch(x_i, x_j, torch.tensor([0, 1, 0, 1])), True)
        assert torch.equal(seen[0], x_j), model
