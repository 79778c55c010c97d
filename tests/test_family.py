"""The autoencoder-GAN family end to end: every model trains, samples, reconstructs, resumes and evaluates."""

import json

import pytest
import torch

import aegan
from aegan import models
from aegan.cli import main

ENCODER_MODELS = [m for m, cls in models.MODELS.items() if cls.samplers[0] != "prior"]
TINY = {"progress": False, "net.width": 16, "net.depth": 2, "log_every": 5, "checkpoint_every": 5}


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_trains_samples_resumes_and_evaluates(name, tmp_path):
    run = aegan.train(name, data="grid25", steps=10, out=tmp_path / "r", overrides=TINY)
    run = aegan.resume(tmp_path / "r", steps=15)
    assert run.step == 15
    x = run.sample(300)
    assert x.shape == (300, 2) and torch.isfinite(x).all()
    scores = aegan.evaluate(run, n=300)
    assert scores["modes_total"] == 25 and scores["sampler"] == run.default_sampler
    if name in ENCODER_MODELS:
        assert scores["sampler"] == "gmm"
        assert scores["recon_error_test"] >= 0 and "code_kl" in scores
        z = run.encode(run.data().transform.to_data(run.data().test[:7]))
        assert z.shape == (7, run.model.latent_dim) and run.decode(z).shape == (7, 2)
        assert (tmp_path / "r" / "report" / "reconstructions.png").is_file()
        assert (tmp_path / "r" / "report" / "interpolations.png").is_file()
        if "prior" in run.model.samplers:  # ppgn has none: its G only ever decodes encoder codes
            prior = aegan.evaluate(run, n=300, sampler="prior", write=False)
            assert prior["sampler"] == "prior"
    else:
        assert "recon_error_test" not in scores
        with pytest.raises(aegan.AeganError, match="has no encoder"):
            run.encode(torch.zeros(2, 2))


@pytest.mark.parametrize("name", ["alphagan", "vaegan"])
def test_image_models_reconstruct_digits(name, tmp_path):
    run = aegan.train(name, data="digits", steps=4, out=tmp_path / "d", overrides=TINY)
    scores = aegan.evaluate(run, n=64)
    assert scores["recon_error_test"] > 0
    assert run.sample(5).shape == (5, 1, 8, 8)


def test_cli_sampler_choice_and_stored_code_models(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AEGAN_CODE_MODELS", "gmm")  # the only candidate for the default here
    out = tmp_path / "a"
    assert main(["train", "aae", "--data", "ring8", "--steps", "10", "--out", str(out), "progress=false",
                 "net.width=16"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--n", "500", "--sampler", "gaussian", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sampler"] == "gaussian"
    stored = sorted(p.name for p in (out / "samplers").rglob("*.json"))
    assert stored == ["gaussian.json", "gmm.json", "selection.json"]  # gmm chosen in training, gaussian on request
    assert main(["sample", str(out), "--n", "20", "--sampler", "nope", "--out", str(tmp_path / "s.npy")]) == 2
    assert "no sampler 'nope'" in capsys.readouterr().err


def test_unknown_model_args_are_refused(tmp_path):
    with pytest.raises(aegan.ConfigError, match="model_args.lambda"):
        aegan.train("alphagan", data="ring8", steps=2, out=tmp_path / "x", overrides={"model_args.lambda": 3})
    with pytest.raises(aegan.ConfigError, match="model_args.prior must be one of gaussian, mog, uniform; got 'cauchy'"):
        aegan.train("aae", data="ring8", steps=2, out=tmp_path / "y", overrides={"model_args.prior": "cauchy"})
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
