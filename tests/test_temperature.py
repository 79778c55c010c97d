"""Sampling at a temperature: τ scales the noise of the draws (prior, gaussian, gmm, flow), 1 leaves them as they were,
and samplers without such noise, priors that are not N(0, I) and bad values are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aegan
from aegan.evaluate import evaluate
from aegan.samplers import FlowSampler, GaussianSampler, GMMSampler

FAST = {"progress": False, "net.width": 16, "net.depth": 2}


def codes(n: int = 3000) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-3.0, 0.0, 1.0], [3.0, 1.0, -1.0]])
    return centres[torch.randint(2, (n,), generator=g)] + 0.4 * torch.randn(n, 3, generator=g)  # (n, 3)


def draw(sampler, tau: float | None, n: int = 2000) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return sampler.sample(n, generator=g) if tau is None else sampler.sample(n, generator=g, temperature=tau)


def test_gaussian_temperature_scales_the_spread_about_the_mean():
    s = GaussianSampler().fit(codes())
    z1, z2 = draw(s, None), draw(s, 2.0)
    assert torch.equal(draw(s, 1.0), z1)
    torch.testing.assert_close(z2 - s.mu, 2.0 * (z1 - s.mu), rtol=1e-5, atol=1e-5)


def test_gmm_temperature_keeps_components_and_means():
    s = GMMSampler(n_components=2).fit(codes())
    z1, z3 = draw(s, None), draw(s, 3.0)
    assert torch.equal(draw(s, 1.0), z1)
    # the same component and noise for each draw: z_τ − τ z_1 = (1 − τ) μ_k, so these rows are the means
    means = (z3 - 3.0 * z1) / (1 - 3.0)
    assert torch.cdist(means, s.means).min(1).values.max() < 1e-2  # float32 rounding; the means lie 6.4 apart
    # and the spread within each component is three times as wide
    k = torch.cdist(z1, s.means).argmin(1)
    for j in range(2):
        ratio = (z3[k == j] - s.means[j]).std(0) / (z1[k == j] - s.means[j]).std(0)
        torch.testing.assert_close(ratio, torch.full((3,), 3.0), rtol=1e-4, atol=1e-4)


def test_flow_temperature_scales_its_base_noise():
    s = FlowSampler(steps=20).fit(codes(), seed=0)
    z1 = draw(s, None)
    assert torch.equal(draw(s, 1.0), z1)
    cold, hot = draw(s, 0.05), draw(s, 1.5)
    assert cold.std(0).max() < 0.5 * z1.std(0).min()  # near the flow's image of ε = 0: a point, not the data
    assert (hot.std(0) > z1.std(0)).all()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, aegan.Run]:
    d = tmp_path_factory.mktemp("temperature")
    np.save(d / "blobs.npy", np.random.default_rng(0).normal(size=(600, 3)).astype(np.float32))
    out = {}
    for name, extra in (("normal", {}), ("mog", {"model_args.prior": "mog"})):
        out[name] = aegan.train("aae", data=str(d / "blobs.npy"), steps=10, out=d / name, seed=0,
                                overrides={**FAST, **extra})
    return out


def test_run_samples_at_a_temperature(runs):
    run = runs["normal"]
    for sampler in ("prior", "gmm"):
        x1 = run.sample_model(500, sampler=sampler, seed=0)
        assert torch.equal(run.sample_model(500, sampler=sampler, seed=0, temperature=1.0), x1)
        assert not torch.equal(run.sample_model(500, sampler=sampler, seed=0, temperature=1.5), x1)
    scores = evaluate(run, n=300, sampler="gmm", temperature=1.5, write=False)
    assert scores["temperature"] == 1.5 and scores["sampler"] == "gmm"
    assert evaluate(run, n=300, sampler="gmm", write=False)["temperature"] == 1.0


@pytest.mark.parametrize("name, sampler, tau, fragment", [
    ("normal", "gmm", 0.0, "above 0"),
    ("normal", "gmm", -1.0, "above 0"),
    ("normal", "gmm", float("nan"), "above 0"),
    ("normal", "gmm", float("inf"), "above 0"),
    ("normal", "twostage", 1.2, "sampler twostage has none"),
    ("normal", "ppgn", 1.2, "sampler ppgn has none"),
    ("mog", "prior", 1.2, "prior is mog"),
])
def test_temperature_refused(runs, name, sampler, tau, fragment):
    with pytest.raises(aegan.AeganError, match=fragment):
        runs[name].sample_model(10, sampler=sampler, temperature=tau)


def test_unknown_sampler_is_named_as_unknown_at_any_temperature(runs):
    with pytest.raises(aegan.AeganError, match="has no sampler 'warm'"):
        runs["normal"].sample_model(10, sampler="warm", temperature=1.2)


def test_mog_prior_still_samples_at_temperature_one(runs):
    assert runs["mog"].sample_model(10, sampler="prior", seed=0, temperature=1.0).shape == (10, 3)


def test_the_sweep_names_the_temperature_its_own_features_prefer(monkeypatch):
    """benchmarks/temperature.py: per model and road, the τ with the lowest mean fd_features over seeds (a choice
    made without the evaluator); rows without the key (older sweeps) are left out."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from temperature import lowest

    rows = [{"model": "gan", "road": "prior", "temperature": t, "fd_features": v}
            for t, v in ((1.0, 30.0), (1.0, 32.0), (1.15, 29.0), (1.15, 31.5), (1.3, 28.0), (1.3, 36.0))]
    rows += [{"model": "alphagan", "road": "code model", "temperature": 1.0, "fd_features": 12.0},
             {"model": "alphagan", "road": "code model", "temperature": 1.5, "fd_features": 11.0},
             {"model": "alphagan", "road": "prior", "temperature": 1.0}]
    assert lowest(rows) == ("- alphagan, code model: lowest fd_features at τ = 1.5\n"
                            "- gan, prior: lowest fd_features at τ = 1.15\n")
