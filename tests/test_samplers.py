"""Code models reproduce the distribution of the codes they were fitted to, and are stored as tensors + JSON."""

from __future__ import annotations

import json

import pytest
import torch

from aegan.errors import AeganError, CheckpointError
from aegan.samplers import (
    SAMPLERS,
    CodeGANSampler,
    CodeSampler,
    GaussianSampler,
    GMMSampler,
    load_sampler,
    save_sampler,
)

CENTRES = torch.tensor([[x, y] for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)])  # (25, 2)
STD = 0.05  # cluster std of the 25-cluster codes (grid25's layout)
MU8 = torch.linspace(-1.0, 2.0, 8)  # the 8-D Gaussian's mean
A8 = torch.eye(8) + 0.3 * torch.tril(torch.ones(8, 8), -1) * torch.linspace(1, -1, 8)  # its Cholesky factor
COV8 = A8 @ A8.T


def grid_codes(n: int = 10_000) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return CENTRES[torch.randint(25, (n,), generator=g)] + STD * torch.randn(n, 2, generator=g)  # (n, 2)


def gaussian_codes(n: int = 20_000) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return MU8 + torch.randn(n, 8, generator=g) @ A8.T  # (n, 8) ~ N(MU8, COV8)


def nearest_centre(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance to the nearest of the 25 centres, its index), each (n,)."""
    return torch.cdist(z, CENTRES).min(1)


FEW_STEPS = {"codegan": {"steps": 50}, "flow": {"steps": 20}, "twostage": {"steps": 20},
             "diffusion": {"steps": 20, "sample_steps": 5}}


@pytest.fixture(scope="module")
def fitted() -> dict[str, CodeSampler]:
    """Each sampler fitted once to the 25-cluster codes; the learned ones (FEW_STEPS) for a few steps only: what these
    tests check (storage, the Gaussian's and GMM's fits) does not need trained ones (tests/test_code_models.py checks
    what they learn), and the code GAN's 3000 steps take ~15 s."""
    codes = grid_codes()
    return {name: cls(**FEW_STEPS.get(name, {})).fit(codes, seed=0) for name, cls in SAMPLERS.items()}


@pytest.fixture(scope="module")
def codegan() -> CodeGANSampler:
    """The code GAN as `aegan` fits it (its default 3000 steps), to the 25-cluster codes."""
    return CodeGANSampler().fit(grid_codes(), seed=0)


def draw(sampler: CodeSampler, n: int = 10_000, seed: int = 1) -> torch.Tensor:
    return sampler.sample(n, torch.Generator().manual_seed(seed))


def test_gaussian_recovers_mean_and_covariance():
    sampler = GaussianSampler().fit(gaussian_codes(), seed=0)
    assert torch.allclose(sampler.mu, MU8, atol=0.05)
    assert torch.allclose(sampler.covariance, COV8, atol=0.08)
    z = draw(sampler, 50_000)
    assert z.shape == (50_000, 8) and z.dtype == torch.float32
    assert torch.allclose(z.mean(0), MU8, atol=0.05)
    assert torch.allclose(torch.cov(z.T), COV8, atol=0.1)


def test_gaussian_cannot_reproduce_clusters_but_a_mixture_can(fitted):
    """The full-covariance Gaussian puts its samples between grid25's clusters; the GMM puts them on them."""
    dist, _ = nearest_centre(draw(fitted["gaussian"]))
    assert (dist < 3 * STD).float().mean() < 0.1
    dist, idx = nearest_centre(draw(fitted["gmm"]))
    good = dist < 3 * STD
    assert good.float().mean() >= 0.95
    assert len(idx[good].unique()) == 25


def test_gmm_fits_a_gaussian_and_takes_n_components():
    sampler = GMMSampler(n_components=3).fit(gaussian_codes(), seed=0)
    assert sampler.means.shape == (3, 8) and sampler.scale_tril.shape == (3, 8, 8)
    z = draw(sampler, 50_000)
    assert torch.allclose(z.mean(0), MU8, atol=0.05)
    assert torch.allclose(torch.cov(z.T), COV8, atol=0.1)
    assert len(GMMSampler().fit(grid_codes(200), seed=0).weights) == 10  # default for 2-D codes: min(50, N // 20)
    assert len(GMMSampler().fit(grid_codes(30), seed=0).weights) == 1


@pytest.mark.parametrize("d, k", [(2, 50), (16, 20), (32, 20), (48, 20)])
def test_gmm_components_by_code_size(d, k):
    """50 components for codes of up to 4 dimensions, 20 above: a 48-D mixture of 10 was too coarse for stacked
    data's codes (fd 369 against 340 with 20, over 3 α-GAN runs)."""
    codes = torch.randn(4000, d, generator=torch.Generator().manual_seed(0))
    assert len(GMMSampler(max_iter=2).fit(codes, seed=0).weights) == k


def test_codegan_covers_most_clusters(codegan):
    """A 3000-step GAN on 25 clusters of std 0.05 (0.018 once standardized) is blurrier than the GMM, so the
    bound checks coverage, not sharpness. Measured over fit seeds 0-4: all 25 clusters within 0.5 (a quarter of
    the spacing) of some sample, 20-25 within 3 std; 35-46% of samples within 0.5 of a centre (a uniform
    spread over the grid's box gives 20%, the Gaussian fit 15%)."""
    assert codegan.steps == 3000
    dist, idx = nearest_centre(draw(codegan))
    assert len(idx[dist < 0.5].unique()) >= 23
    assert len(idx[dist < 3 * STD].unique()) >= 18
    assert (dist < 0.5).float().mean() >= 0.3


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_round_trip_gives_identical_samples(fitted, name, tmp_path):
    sampler = fitted[name]
    assert isinstance(sampler, CodeSampler) and sampler.name == name
    save_sampler(sampler, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.safetensors"]  # no pickles
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert record["format"] == "aegan-sampler" and record["name"] == name
    loaded = load_sampler(tmp_path, name)
    assert type(loaded) is type(sampler)
    z = draw(sampler, 1000, seed=7)
    assert z.shape == (1000, 2) and z.dtype == torch.float32
    assert torch.equal(draw(loaded, 1000, seed=7), z)
    assert not torch.equal(draw(sampler, 1000, seed=8), z)


@pytest.mark.parametrize("cls", [GaussianSampler, lambda: GMMSampler(n_components=5),
                                 lambda: CodeGANSampler(steps=20)])
def test_fit_is_deterministic_and_leaves_the_global_rng_alone(cls):
    codes = grid_codes(2000)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = draw(cls().fit(codes, seed=3), 100)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(draw(cls().fit(codes, seed=3), 100), a)


def test_missing_foreign_and_corrupt_stored_samplers(fitted, tmp_path):
    assert load_sampler(tmp_path, "gmm") is None
    save_sampler(fitted["gmm"], tmp_path)
    record = tmp_path / "gmm.json"
    good = record.read_text()

    record.write_text("{not json")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_sampler(tmp_path, "gmm")
    record.write_text(json.dumps({"format": "something-else", "name": "gmm"}))
    with pytest.raises(CheckpointError, match="not an aegan code model"):
        load_sampler(tmp_path, "gmm")
    meta = json.loads(good)
    meta["meta"]["dim"] = 3  # tensors no longer fit the record
    record.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_sampler(tmp_path, "gmm")

    record.write_text(good)
    weights = tmp_path / "gmm.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="checksum"):
        load_sampler(tmp_path, "gmm")
    weights.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_sampler(tmp_path, "gmm")
    (tmp_path / "gaussian.json").write_text(good)  # a gmm record under another sampler's name
    with pytest.raises(CheckpointError, match="model 'gmm'"):
        load_sampler(tmp_path, "gaussian")


def test_bad_codes_are_refused():
    with pytest.raises(AeganError, match="NaN"):
        GaussianSampler().fit(torch.full((100, 2), float("nan")))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        GMMSampler().fit(torch.randn(100))
    with pytest.raises(RuntimeError, match="before fit"):
        GaussianSampler().sample(3)
