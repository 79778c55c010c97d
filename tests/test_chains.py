"""The chains in code space (aegan.samplers.chains) on targets whose answers are known, the DAE's score, and the chain
samplers through a trained run and the CLI."""

from __future__ import annotations

import math

import pytest
import torch

from aegan.errors import ConfigError
from aegan.samplers.chains import ChainSettings, Target, run_chains, split_rhat
from aegan.samplers.dae import DAESampler

# A 2-D mixture of two overlapping Gaussians, its exact log density and its moments
MU = torch.tensor([[-1.0, 0.0], [1.0, 1.0]])
SD = torch.tensor([0.7, 0.9])
W = torch.tensor([0.3, 0.7])
TRUE_MEAN = (W[:, None] * MU).sum(0)
TRUE_VAR = (W[:, None] * (MU ** 2 + SD[:, None] ** 2)).sum(0) - TRUE_MEAN ** 2


def log_mixture(u: torch.Tensor) -> torch.Tensor:
    u = u.double()
    per = torch.stack([W[k].double().log() - (u - MU[k]).square().sum(1) / (2 * SD[k] ** 2) - 2 * SD[k].log()
                       - math.log(2 * math.pi) for k in range(2)], dim=1)
    return torch.logsumexp(per, dim=1)


def component(k: int):
    """log p(component k | u) of the mixture: a 'condition' that needs no network."""
    def f(u: torch.Tensor) -> torch.Tensor:
        u = u.double()
        per = torch.stack([W[j].double().log() - (u - MU[j]).square().sum(1) / (2 * SD[j] ** 2) - 2 * SD[j].log()
                           for j in range(2)], dim=1)
        return per.log_softmax(1)[:, k]
    return f


def no_condition(u: torch.Tensor) -> torch.Tensor:
    return u.sum(1) * 0.0


BOX = (torch.full((2,), -30.0), torch.full((2,), 30.0))


def target(condition=no_condition, residual=None) -> Target:
    return Target(condition=condition, lo=BOX[0], hi=BOX[1], log_density=log_mixture, residual=residual)


def test_mala_matches_the_target_and_the_unadjusted_chain_with_the_same_step_is_biased():
    g = torch.Generator().manual_seed(0)
    n = 4000
    u0 = torch.randn(n, 2, generator=g) * 2
    common = {"steps": 300, "stop": "none", "adapt": 0, "tau": 0.6}  # a large fixed step, no adaptation
    mala = run_chains("mala", u0, target(), ChainSettings.parse({**common, "metropolis": 1}), n, g)
    ula = run_chains("mala", u0, target(), ChainSettings.parse({**common, "metropolis": 0}), n, g)
    se_mean = (TRUE_VAR / n).sqrt()
    assert ((mala.samples.mean(0) - TRUE_MEAN).abs() < 4 * se_mean).all(), mala.samples.mean(0)
    assert ((mala.samples.var(0) / TRUE_VAR - 1).abs() < 0.08).all(), mala.samples.var(0)  # SE of a variance ≈ 2%
    assert ((ula.samples.var(0) / TRUE_VAR - 1).abs() > 0.15).any(), ula.samples.var(0)  # Langevin's bias
    assert 0.3 < sum(mala.acceptance) / n < 0.95 and ula.acceptance is not None


def test_mala_adapts_its_step_toward_the_target_acceptance_then_stops_on_split_rhat():
    g = torch.Generator().manual_seed(1)
    u0 = torch.randn(500, 2, generator=g) * 2
    result = run_chains("mala", u0, target(), ChainSettings.parse({"steps": 400, "tau": 3.0}), 500, g)
    assert abs(sum(result.acceptance) / len(result.acceptance) - 0.574) < 0.12
    assert result.tau < 3.0  # adapted down from a step that is far too large
    assert all(s == result.steps[0] for s in result.steps) and result.steps[0] < 400
    assert result.reasons[0].startswith("split-R̂ below 1.05")
    assert ((result.samples.mean(0) - TRUE_MEAN).abs() < 0.2).all()


def test_a_chain_conditioned_on_a_component_samples_that_component():
    g = torch.Generator().manual_seed(2)
    u0 = torch.randn(2000, 2, generator=g)
    s = ChainSettings.parse({"steps": 300, "stop": "none", "adapt": 50, "beta": 1})
    result = run_chains("mala", u0, target(component(0)), s, 2000, g)
    # log q + log p(0 | u) = log w₀N(u; μ₀, σ₀²) + const: exactly component 0
    assert ((result.samples.mean(0) - MU[0]).abs() < 0.1).all(), result.samples.mean(0)
    assert ((result.samples.std(0) / SD[0] - 1).abs() < 0.1).all(), result.samples.std(0)


def test_ppgn_chain_climbs_the_condition_stops_on_a_plateau_and_stays_in_the_box():
    g = torch.Generator().manual_seed(3)
    u0 = torch.randn(64, 2, generator=g) - 1.0
    box = (torch.tensor([-3.0, -3.0]), torch.tensor([3.0, 3.0]))
    t = Target(condition=component(1), lo=box[0], hi=box[1], log_density=log_mixture,
               residual=lambda u: -0.1 * u)  # the score of N(0, I) times σ² = 0.1
    settings = ChainSettings.parse({"lr": 0.1})  # the released ε's, a step of 0.1 standard deviations
    result = run_chains("ppgn", u0, t, settings, 64, g)
    start, end = component(1)(u0).exp(), component(1)(result.samples).exp()
    assert end.mean() > 0.95 > start.mean()
    assert (result.samples >= box[0]).all() and (result.samples <= box[1]).all()
    assert max(result.steps) < 200 and all(r.startswith("plateau") for r in result.reasons)
    fixed = run_chains("ppgn", u0, t, ChainSettings.parse({"lr": 0.1, "stop": "none"}), 64, g)
    assert fixed.steps == [200] * 64 and fixed.reasons[0].startswith("reached the most steps")
    assert result.strip.shape == (8, 8, 2) and result.strip_steps[0][0] == 0


def test_fewer_chains_than_samples_give_thinned_samples_of_each_chain():
    g = torch.Generator().manual_seed(4)
    s = ChainSettings.parse({"steps": 30, "stop": "none", "thin": 5, "adapt": 10})
    result = run_chains("mala", torch.zeros(4, 2), target(), s, 10, g)
    assert result.samples.shape == (10, 2) and len(result.steps) == 4
    assert not torch.equal(result.samples[0], result.samples[1])  # the same chain, 5 steps later


def test_split_rhat_knows_mixed_from_stuck_chains():
    g = torch.Generator().manual_seed(5)
    mixed = torch.randn(400, 4, generator=g)
    stuck = mixed + torch.tensor([0.0, 0.0, 3.0, 3.0])
    drifting = mixed + torch.linspace(0, 4, 400)[:, None]
    assert split_rhat(mixed) < 1.02
    assert split_rhat(stuck) > 1.5 and split_rhat(drifting) > 1.2


def test_chain_settings_refuse_bad_values_with_one_line():
    for bad in (["steps=-1"], ["min_p=2"], ["stop=never"], ["lr=-1"], ["nonsense=1"], ["steps=x"], ["steps"],
                ["accept=1.5"]):
        with pytest.raises(ConfigError):
            ChainSettings.parse(bad)
    assert ChainSettings.parse(["steps=20", "eps1=0.001", "stop=none"]).steps == 20
    assert ChainSettings.parse([]).for_sampler("ppgn").steps == 200 and ChainSettings().for_sampler("mala").steps == 400


def test_dae_score_points_to_the_codes_density():
    g = torch.Generator().manual_seed(6)
    codes = torch.randn(5000, 3, generator=g) * torch.tensor([1.0, 2.0, 0.5]) + 3.0
    dae = DAESampler(sigma=0.3, steps=700, hidden=128).fit(codes, seed=0)
    u = torch.randn(500, 3, generator=g)  # standardized: the density is N(0, I), its score −u
    score = dae.score(u).detach()
    cos = torch.nn.functional.cosine_similarity(score, -u, dim=1)
    assert cos.mean() > 0.9
    ratio = (score.norm(dim=1) / u.norm(dim=1)).median()  # a DAE with noise σ: score ≈ −u/(1 + σ²)
    assert 0.6 < ratio < 1.2
    walk = dae.sample(2000, torch.Generator().manual_seed(0))
    assert ((walk.mean(0) - 3.0).abs() < 0.3).all()
    from aegan.samplers import load_sampler, save_sampler

    assert load_sampler(save_sampler(dae, _tmp()).parent, "dae").score(u).allclose(score)


def _tmp():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp())
