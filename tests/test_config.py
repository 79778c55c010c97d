"""Configs: typed overrides, YAML files, defaults resolved and recorded, clear errors."""

import pytest
import torch

from aegan import models
from aegan.config import Config, parse_override, read_yaml, set_value
from aegan.data.base import Dataset, Transform
from aegan.errors import ConfigError
from aegan.loop.configure import make_config, resolve_defaults
from aegan.models import Model


def test_overrides_are_converted_to_field_types():
    cfg = Config()
    for text in ["optim.lr=1e-4", "steps=1_000", "progress=false", "net.width=32", "fabric.precision=bf16-mixed",
                 "model_args.loss=l1"]:
        set_value(cfg, *parse_override(text))
    assert cfg.optim.lr == pytest.approx(1e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.steps == 1000 and cfg.progress is False and cfg.net.width == 32
    assert cfg.fabric.precision == "bf16-mixed" and cfg.model_args == {"loss": "l1"}


@pytest.mark.parametrize("text, fragment", [
    ("steps=ten", "steps expects an integer"),
    ("optim.lr=fast", "optim.lr expects a number"),
    ("progress=maybe", "progress expects true or false"),
    ("optim.learning_rate=1", "unknown config key 'optim.learning_rate'"),
    ("nope=1", "unknown config key 'nope'"),
    ("optim=1", "optim is a section"),
    ("steps.x=1", "steps is not a section"),
    ("lr", "expected key=value"),
])
def test_bad_overrides_name_the_problem(text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        set_value(Config(), *parse_override(text))


def test_validate_rejects_negative_steps():
    cfg = Config(steps=-5)
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        cfg.validate()


def test_yaml_round_trip(tmp_path):
    cfg = Config(model="gan", data="grid25", steps=123)
    cfg.optim.lr = 3e-4
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    assert Config.from_dict(read_yaml(tmp_path / "c.yaml")) == cfg


def test_bad_yaml_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")


def test_precedence_model_defaults_file_then_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("steps: 50\noptim:\n  lr: 0.001\nnet:\n  width: 32\n")
    cfg, ds = make_config("gan", "ring8", config_file=tmp_path / "c.yaml", overrides=["net.width=48"], seed=3)
    assert (cfg.steps, cfg.optim.lr, cfg.net.width, cfg.seed) == (50, 0.001, 48, 3)
    assert cfg.net.latent_dim == 8 and cfg.batch_size == 256  # resolved defaults are recorded
    assert ds.kind == "vector"


@pytest.mark.parametrize("model, data, latent", [
    ("aae", "digits", 16), ("vae", "stacked-digits", 48), ("alphagan", "digits", 16),
    ("alphagan", "stacked-digits", 48), ("gan", "stacked-digits", 64), ("alphagan", "ring8", 2)])
def test_image_presets_give_encoder_models_16_code_dimensions_per_channel(model, data, latent):
    assert make_config(model, data)[0].net.latent_dim == latent
    assert make_config(model, data, overrides=["net.latent_dim=5"])[0].net.latent_dim == 5  # the user's choice wins


def test_alphagans_stacked_preset_narrows_d_to_a_quarter_of_g_on_stacked_data_only(tmp_path):
    assert make_config("alphagan", "stacked-digits")[0].net.d_width == 8  # a quarter of the 32 base channels
    assert make_config("alphagan", "digits")[0].net.d_width == 0  # other images: D = G
    assert make_config("gan", "stacked-digits")[0].net.d_width == 0  # the gan needs D as wide as G there
    assert make_config("alphagan", "stacked-digits", overrides=["net.d_width=32"])[0].net.d_width == 32  # user wins
    assert make_config("alphagan", "stacked-digits", overrides=["net.d_width=0"])[0].net.d_width == 0  # D = G asked
    # the quarter holds at the user's width (an absolute 8 gave a D of an eighth at width 64)
    assert make_config("alphagan", "stacked-digits", overrides=["net.width=64"])[0].net.d_width == 16
    assert make_config("alphagan", "stacked-digits", overrides=["net.width=2"])[0].net.d_width == 1  # at least one
    (tmp_path / "c.yaml").write_text("net:\n  d_width: 12\n")
    assert make_config("alphagan", "stacked-digits", config_file=tmp_path / "c.yaml")[0].net.d_width == 12  # a file too


@pytest.mark.parametrize("model", ["aae", "alphagan"])
def test_net_c_width_sets_the_code_discriminators_hidden_units(model):
    def c_widths(*overrides: str) -> list[int]:
        cfg, ds = make_config(model, "digits", overrides=list(overrides))
        c = models.build_model(cfg, ds.shape).nets["C"]
        return [m.out_features for m in c.modules() if isinstance(m, torch.nn.Linear)]

    assert c_widths() == [64, 64, 64, 1]  # max(width 32, 64): the default
    assert c_widths("net.c_width=750") == [750, 750, 750, 1]  # Rosca et al.'s 750 units
    assert c_widths("net.c_width=750", "net.depth=2") == [750, 750, 1]
    with pytest.raises(ConfigError, match="net.c_width"):
        make_config(model, "digits", overrides=["net.c_width=-1"])


@pytest.mark.parametrize("model", models.MODELS)
def test_every_model_trains_images_at_its_measured_rate_and_keeps_its_vector_rate(model, tmp_path):
    image_lr = 1.6e-3 if model in ("gan", "aae", "aegan") else 8e-4  # each its best measured (README)
    assert make_config(model, "digits")[0].optim.lr == pytest.approx(image_lr)
    assert make_config(model, "stacked-digits")[0].optim.lr == pytest.approx(image_lr)
    vector_lr = make_config(model, "ring8")[0].optim.lr
    assert vector_lr == pytest.approx(2e-4 if model == "gan" else 5e-4)  # the vector presets did not change
    assert make_config(model, "digits", overrides=["optim.lr=1e-4"])[0].optim.lr == pytest.approx(1e-4)  # user wins
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 0.0003\n")
    assert make_config(model, "digits", config_file=tmp_path / "c.yaml")[0].optim.lr == pytest.approx(3e-4)


def test_the_aae_image_preset_turns_the_perceptual_term_on():
    assert make_config("aae", "digits")[0].model_args["perceptual"] == 1.0
    assert make_config("aae", "ring8")[0].model_args.get("perceptual", 0.0) == 0.0
    assert make_config("alphagan", "digits")[0].model_args.get("perceptual", 0.0) == 0.0


def test_alphagans_image_preset_weighs_the_reconstruction_100_and_its_vector_preset_60():
    assert make_config("alphagan", "digits")[0].model_args["lam"] == 100.0  # measured against 30 over 3 seeds
    assert make_config("alphagan", "stacked-digits")[0].model_args["lam"] == 100.0
    assert make_config("alphagan", "ring8")[0].model_args["lam"] == 60.0  # vectors as they were
    assert make_config("alphagan", "digits", overrides=["model_args.lam=30"])[0].model_args["lam"] == 30.0  # user wins


def test_the_veegan_image_preset_draws_the_reconstructors_codes_with_unit_noise():
    assert make_config("veegan", "digits")[0].model_args["noise"] == 1.0  # on images D beat a point mass F(x)
    assert make_config("veegan", "stacked-digits")[0].model_args["noise"] == 1.0
    assert make_config("veegan", "ring8")[0].model_args.get("noise", 0.0) == 0.0  # vectors as they were
    assert make_config("bigan", "digits")[0].model_args.get("noise", 0.0) == 0.0  # bigan keeps its own
    assert make_config("veegan", "digits", overrides=["model_args.noise=0"])[0].model_args["noise"] == 0.0  # user wins


def test_config_file_cannot_contradict_the_command(tmp_path):
    (tmp_path / "c.yaml").write_text("model: vae\n")
    with pytest.raises(ConfigError, match="config file says model"):
        make_config("gan", "ring8", config_file=tmp_path / "c.yaml")


# --- model_args: fixed choices, ranges, and the data a setting needs, refused before anything is written -------

CHOICES = {  # model -> {setting: its valid values}, as the models declare them
    "gan": {},
    "ae": {"recon": ("l1", "mse", "bce"), "perceptual_net": ("features",)},
    "aegan": {"recon": ("l1", "mse", "bce"), "perceptual_net": ("D", "features")},
    "vae": {"likelihood": ("gaussian", "bernoulli")},
    "aae": {"recon": ("l1", "mse", "bce"), "prior": ("gaussian", "mog", "uniform"), "perceptual_net": ("features",),
            "posterior": ("deterministic", "gaussian")},
    "bigan": {"adversarial": ("nonsaturating", "minimax")},
    "veegan": {"adversarial": ("nonsaturating", "ratio")},
    "ppgn": {"recon": ("l1", "mse", "bce"), "perceptual_net": ("D", "features")},
    "vaegan": {},
    "alphagan": {"adversarial": ("nonsaturating", "ratio"), "perceptual_net": ("D", "features")},
}


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_declares_its_choices_and_ranges_beside_its_args(name):
    cls = models.get(name)
    assert {k: tuple(v) for k, v in cls.choices.items()} == CHOICES[name]
    for key, valid in cls.choices.items():
        assert cls.args[key] in valid, f"the default of model_args.{key} is not one of its choices"
    for key in (*cls.positive, *cls.nonnegative):
        assert isinstance(cls.args[key], float) and cls.args[key] >= 0
    assert cls.check_args({}) == cls.args  # the defaults pass their own checks


@pytest.mark.parametrize("name, key, value, message", [
    ("vae", "likelihood", "bernouli", "model_args.likelihood must be one of gaussian, bernoulli; got 'bernouli'"),
    ("ae", "recon", "l3", "model_args.recon must be one of l1, mse, bce; got 'l3'"),
    ("aegan", "recon", "L1", "model_args.recon must be one of l1, mse, bce; got 'L1'"),
    ("aae", "recon", "l2", "model_args.recon must be one of l1, mse, bce; got 'l2'"),
    ("aae", "prior", "cauchy", "model_args.prior must be one of gaussian, mog, uniform; got 'cauchy'"),
    ("alphagan", "adversarial", "ratoi", "model_args.adversarial must be one of nonsaturating, ratio; got 'ratoi'"),
    ("alphagan", "lam", -1.0, "model_args.lam must be > 0 (default 10.0); got -1.0"),
    ("aegan", "lam", 0, "model_args.lam must be > 0 (default 10.0); got 0.0"),
    ("aae", "lam", -30.0, "model_args.lam must be > 0 (default 10.0); got -30.0"),
    ("vae", "sigma", 0.0, "model_args.sigma must be > 0 (default 0.1); got 0.0"),
    ("vae", "sigma", float("inf"), "model_args.sigma must be a finite number (default 0.1); got inf"),
    ("vaegan", "gamma", -0.5, "model_args.gamma must be >= 0 (default 1.0); got -0.5"),
    ("vaegan", "gamma", float("nan"), "model_args.gamma must be a finite number (default 1.0); got nan"),
    ("ae", "perceptual_net", "D", "model_args.perceptual_net must be one of features; got 'D'"),  # ae has no D
    ("aae", "perceptual_net", "D", "model_args.perceptual_net must be one of features; got 'D'"),
    ("alphagan", "perceptual_net", "vgg", "model_args.perceptual_net must be one of D, features; got 'vgg'"),
    ("aegan", "perceptual", -1.0, "model_args.perceptual must be >= 0 (default 0.0); got -1.0"),
    ("aae", "perceptual", float("inf"), "model_args.perceptual must be a finite number (default 0.0); got inf"),
])
def test_bad_model_args_are_refused_with_the_valid_values(name, key, value, message):
    with pytest.raises(ConfigError) as e:
        models.get(name).check_args({key: value})
    assert str(e.value) == message


@pytest.mark.parametrize("model", ["ae", "aegan", "aae", "alphagan"])
def test_perceptual_term_is_refused_on_vector_data(model):
    """W·mean ‖φ(x) − φ(x̂)‖² compares image features: on vectors it is refused before anything is written."""
    with pytest.raises(ConfigError) as e:
        make_config(model, "ring8", overrides=["model_args.perceptual=1"])
    assert str(e.value) == (f"model_args.perceptual compares image features, but {model} trains on vectors of "
                            f"shape (2,): leave model_args.perceptual at 0 on vector data")
    cfg, _ = make_config(model, "ring8", overrides=["model_args.perceptual=0"])  # off: accepted
    assert cfg.model_args["perceptual"] == 0.0


def test_perceptual_settings_accepted_on_images():
    cfg, ds = make_config("alphagan", "digits", overrides=["model_args.perceptual=1", "model_args.perceptual_net=D"])
    model = models.build_model(cfg, ds.shape)
    assert model.arg["perceptual"] == 1.0 and not model.needs_feature_net  # φ = D: nothing else to build
    cfg, ds = make_config("aae", "digits", overrides=["model_args.perceptual=0.5"])
    assert models.build_model(cfg, ds.shape).needs_feature_net  # φ = the feature network, set by the loop


def test_the_limits_of_the_ranges_are_accepted():
    assert models.get("vaegan").check_args({"gamma": 0})["gamma"] == 0.0  # γ = 0: G learns from the GAN loss alone
    assert models.get("vae").check_args({"sigma": 1e-3, "likelihood": "bernoulli"})["sigma"] == 1e-3


def test_a_new_model_gets_the_choices_check_for_free():
    class Toy(Model):
        name = "toy"
        args = {"loss": "hinge", "weight": 1.0}
        choices = {"loss": ("hinge", "logistic")}
        nonnegative = ("weight",)

    assert Toy.check_args({"loss": "logistic"}) == {"loss": "logistic", "weight": 1.0}
    with pytest.raises(ConfigError, match="^model_args.loss must be one of hinge, logistic; got 'wasserstein'$"):
        Toy.check_args({"loss": "wasserstein"})
    with pytest.raises(ConfigError, match=r"^model_args.weight must be >= 0 \(default 1.0\); got -2.0$"):
        Toy.check_args({"weight": -2})


def test_aae_priors_registered_later_are_valid_choices(monkeypatch):
    from aegan.models import aae

    monkeypatch.setitem(aae.PRIORS, "laplace", lambda n, d, g: torch.distributions.Laplace(0.0, 1.0).sample((n, d)))
    assert aae.AAE.check_args({"prior": "laplace"})["prior"] == "laplace"
    with pytest.raises(ConfigError, match="one of gaussian, mog, uniform, laplace; got 'cauchy'"):
        aae.AAE.check_args({"prior": "cauchy"})


@pytest.mark.parametrize("model, setting, instead", [
    ("vae", "model_args.likelihood=bernoulli", "model_args.likelihood=gaussian"),
    ("ae", "model_args.recon=bce", "model_args.recon=l1 or mse"),
    ("aegan", "model_args.recon=bce", "model_args.recon=l1 or mse"),
    ("aae", "model_args.recon=bce", "model_args.recon=l1 or mse"),
])
def test_bernoulli_likelihood_is_refused_on_standardized_vectors(model, setting, instead):
    """BCE reads model-scale x as Bernoulli means (x + 1) / 2 and clamps them: standardized vectors leave [-1, 1]."""
    with pytest.raises(ConfigError) as e:
        make_config(model, "grid25", overrides=[setting])
    message = str(e.value)
    assert message.startswith(f"{setting} reads the data as Bernoulli means (x + 1) / 2, so it needs values in "
                              f"[-1, 1] on the model's scale (images are), but grid25 holds standardized vectors in [")
    assert message.endswith(f"]: use {instead}") and "\n" not in message


def test_bernoulli_likelihood_is_accepted_where_the_loss_reads_the_data_right():
    cfg, ds = make_config("vae", "digits", overrides=["model_args.likelihood=bernoulli"])  # images: in [-1, 1]
    assert cfg.model_args["likelihood"] == "bernoulli" and ds.kind == "image"
    # vectors that stay in [-1, 1] on the model's scale (balanced binary features, standardized) are read right
    binary = torch.randint(2, (40, 3)).float() * 2 - 1
    ds = Dataset(name="binary", kind="vector", train=binary, test=binary[:4],
                 transform=Transform(kind="standardize", mean=[0.0] * 3, std=[1.0] * 3))
    cfg = Config(model="ae", model_args={"recon": "bce"})
    resolve_defaults(cfg, "vector")
    models.build_model(cfg, ds.shape).check_data(ds)  # no error
    ds.train[0, 0] = 1.5
    with pytest.raises(ConfigError, match=r"binary holds standardized vectors in \[-1, 1.5\]"):
        models.build_model(cfg, ds.shape).check_data(ds)


# --- other settings a run cannot use ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("optim.lr=inf", "optim.lr must be a finite number, got inf"),
    ("tricks.r1=inf", "tricks.r1 must be a finite number, got inf"),
    ("tricks.feature_matching=nan", "tricks.feature_matching must be a finite number, got nan"),
    ("fabric.threads=-1", "fabric.threads must be >= 0 (0 = default), got -1"),
    ("seed=-1", "seed must lie in 0..4294967295 (NumPy's and scikit-learn's seed range); got -1"),
    ("seed=4294967296", "seed must lie in 0..4294967295 (NumPy's and scikit-learn's seed range); got 4294967296"),
])
def test_validate_refuses_values_that_would_crash_or_diverge_later(text, message):
    cfg = Config()
    set_value(cfg, *parse_override(text))
    with pytest.raises(ConfigError) as e:
        cfg.validate()
    assert str(e.value) == message
