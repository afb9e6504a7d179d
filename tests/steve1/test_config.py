"""steve1.utils.config: a typed stage config read from YAML, overridden by flags, checked once, written with the run."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Optional

import pytest
import yaml

from steve1.utils.checks import Range
from steve1.utils.cli import UsageError
from steve1.utils.config import StageConfig, add_flags, flag_values, load_config, setting, write_config


@dataclass
class ToyConfig(StageConfig):
    lr: float = setting("learning rate", Range(float, lo=0, lo_open=True))
    steps: Optional[int] = setting("budget in env steps", Range(int, lo=1, optional=True))
    direction: str = setting("KL direction", choices=("forward", "reverse"))
    use_prior: bool = setting("use the prior")
    chans: list[int] = setting("channels per stage")
    overrides: dict = setting("env overrides", flag=False)

    def check_consistency(self, sources):
        if self.use_prior and self.direction == "reverse":
            raise UsageError(f"{sources.get('use_prior')}: use_prior needs direction forward")


GOOD = {"lr": 3e-4, "steps": None, "direction": "forward", "use_prior": True, "chans": [16, 32], "overrides": {}}


def write(tmp_path, **changes):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **changes}))
    return path


def parse(argv):
    parser = argparse.ArgumentParser()
    add_flags(parser, ToyConfig)
    return flag_values(parser.parse_args(argv), ToyConfig)


def test_file_then_flags_with_sources(tmp_path):
    path = write(tmp_path, lr=1)  # YAML int for a float field
    cfg, sources = load_config(ToyConfig, path, parse(["--steps", "5", "--no-use_prior", "--chans", "8", "8"]))
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert (cfg.steps, cfg.use_prior, cfg.chans) == (5, False, [8, 8])
    assert sources["steps"] == "--steps" and sources["lr"] == f"{path} key 'lr'"
    out = tmp_path / "run" / "config.yaml"
    write_config(out, cfg, extra={"sim": "crafter"})
    assert yaml.safe_load(out.read_text()) == {**GOOD, "lr": 1.0, "steps": 5, "use_prior": False, "chans": [8, 8],
                                                "sim": "crafter"}


def test_flag_only_for_flag_fields():
    parser = argparse.ArgumentParser()
    add_flags(parser, ToyConfig)
    assert "--overrides" not in parser.format_help() and "learning rate" in parser.format_help()


@pytest.mark.parametrize("changes, argv, message", [
    ({"lr": -1.0}, [], "key 'lr': lr must be a number > 0, got -1.0"),
    ({}, ["--lr", "0"], "--lr: lr must be a number > 0, got 0.0"),
    ({"steps": 0}, [], "key 'steps': steps must be null or an integer >= 1, got 0"),
    ({"direction": "sideways"}, [], "key 'direction': direction must be one of forward, reverse, got 'sideways'"),
    ({"use_prior": "yes"}, [], "key 'use_prior': use_prior must be true or false, got 'yes'"),
    ({"chans": [16, "a"]}, [], "key 'chans': chans must be a list of integers, got [16, 'a']"),
    ({"direction": "reverse"}, [], "key 'use_prior': use_prior needs direction forward"),
    ({"surprise": 1}, [], "unknown key(s) ['surprise']"),
])
def test_bad_values_name_their_source(tmp_path, changes, argv, message):
    with pytest.raises(UsageError) as exc:
        load_config(ToyConfig, write(tmp_path, **changes), parse(argv))
    assert message in str(exc.value)


def test_missing_key_and_missing_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in GOOD.items() if k != "lr"}))
    with pytest.raises(UsageError, match=r"key\(s\) \['lr'\] missing"):
        load_config(ToyConfig, path, {})
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(ToyConfig, tmp_path / "nope.yaml", {})
    (tmp_path / "bad.yaml").write_text("lr: [1,\n")
    with pytest.raises(UsageError, match="invalid YAML"):
        load_config(ToyConfig, tmp_path / "bad.yaml", {})


def test_a_float_in_exponent_notation_without_a_dot(tmp_path):
    """PyYAML (YAML 1.1) reads ``lr: 1e-4`` as the string '1e-4': a float field takes the number it spells; other
    strings stay errors."""
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in GOOD.items() if k != "lr"}) + "lr: 1e-4\n")
    cfg, _ = load_config(ToyConfig, path, {})
    assert cfg.lr == 1e-4 and isinstance(cfg.lr, float)
    with pytest.raises(UsageError, match="lr must be a number > 0, got 'fast'"):
        load_config(ToyConfig, write(tmp_path, lr="fast"), {})


def test_the_next_unlock_fine_tune_config_differs_from_the_low_levels_only_where_it_says():
    """configs/crafter/steve1_unlock.yaml (stage 4b of tasks/crafter/train_pipeline.sh) is steve1.yaml but for the
    keys its header names, so a change to the low level's recipe cannot silently miss the fine-tune."""
    import yaml

    base = yaml.safe_load(open("configs/crafter/steve1.yaml"))
    fine = yaml.safe_load(open("configs/crafter/steve1_unlock.yaml"))
    assert base.keys() == fine.keys()
    differ = {k for k in base if base[k] != fine[k]}
    assert differ == {"relabeling", "in_weights", "out_weights", "checkpoint_dir", "learning_rate", "n_frames",
                      "warmup_frames"}
    assert fine["relabeling"] == "next_unlock" and fine["learning_rate"] < base["learning_rate"]
