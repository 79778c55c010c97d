"""Configs: typed overrides, YAML files, defaults resolved and recorded, clear errors."""

import pytest

from aegan.config import Config, parse_override, read_yaml, set_value
from aegan.errors import ConfigError
from aegan.train import make_config


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


def test_config_file_cannot_contradict_the_command(tmp_path):
    (tmp_path / "c.yaml").write_text("model: vae\n")
    with pytest.raises(ConfigError, match="config file says model"):
        make_config("gan", "ring8", config_file=tmp_path / "c.yaml")
