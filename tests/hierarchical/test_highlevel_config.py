"""hierarchical/config.py (HighLevelConfig) and the resolution of hierarchical/methods.py: the config files hold every
field, presets name their source, a run's config.yaml of any age loads, cross-field rules name the flag or file."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import tasks
from hierarchical.config import (LEGACY_VALUES, RECIPE_NETWORK_KEYS, HighLevelConfig, as_config, config_dict,
                                 with_values)
from hierarchical.methods import load_run_config, resolve_config, run_method
from steve1.utils.cli import UsageError

REPO = Path(__file__).resolve().parents[2]
FIELDS = [f.name for f in dataclasses.fields(HighLevelConfig)]
FROM_THE_TASK = {"config", "sim", "highlevel_config"}


@pytest.mark.parametrize("sim", ["crafter", "minecraft"])
def test_each_config_file_holds_every_field_but_the_task_keys(sim):
    keys = set(yaml.safe_load((REPO / f"configs/{sim}/highlevel.yaml").read_text()))
    assert keys == set(FIELDS) - FROM_THE_TASK


def test_a_method_preset_is_named_as_the_source_of_its_values():
    spec = tasks.get_specs("crafter_iron")
    cfg, sources = resolve_config(spec, {"gamma": 0.9}, method="ppo")
    assert cfg.method == "ppo" and cfg.impala_chans == [8, 16, 16] and cfg.gae_lambda == 0.65
    assert cfg.gamma == 0.9 and sources["gamma"] == "--gamma"  # a given flag wins over the preset
    assert sources["gae_lambda"] == "--method ppo preset (hierarchical/methods.py)"
    assert cfg.name == "ppo_highlevel_crafter_iron" and cfg.config == "crafter_iron" and cfg.sim == "crafter"
    cfg, _ = resolve_config(spec, {})
    assert cfg.method == "ptgm" and all(getattr(cfg, k) is None for k in RECIPE_NETWORK_KEYS)


def test_a_method_named_by_the_file_applies_its_preset(tmp_path):
    data = yaml.safe_load((REPO / "configs/crafter/highlevel.yaml").read_text())
    path = tmp_path / "hl.yaml"
    path.write_text(yaml.safe_dump(dict(data, method="ptgm_no_prior")))
    cfg, sources = resolve_config(tasks.get_specs("crafter_iron"), {}, path)
    assert cfg.method == "ptgm_no_prior" and cfg.goal_prior is False and cfg.kl_reward == 0.0
    assert sources["goal_prior"] == f"{path} key 'method' (ptgm_no_prior preset, hierarchical/methods.py)"
    path.write_text(yaml.safe_dump(dict(data, method="dreamer")))
    with pytest.raises(UsageError, match=r"hl\.yaml key 'method': method must be one of"):
        resolve_config(tasks.get_specs("crafter_iron"), {}, path)


def test_a_missing_key_is_an_error_naming_the_file(tmp_path):
    data = yaml.safe_load((REPO / "configs/crafter/highlevel.yaml").read_text())
    del data["cond_scale"]
    path = tmp_path / "hl.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError, match=r"hl\.yaml: key\(s\) \['cond_scale'\] missing"):
        resolve_config(tasks.get_specs("crafter_iron"), {}, path)


def test_cross_field_rules_name_the_flag_or_key():
    spec = tasks.get_specs("crafter_iron")
    with pytest.raises(UsageError, match=r"^--goal_prior: goal_prior needs discrete goals.*--discrete sets"):
        resolve_config(spec, {"discrete": False, "goal_prior": True})
    ptgm = config_dict(resolve_config(spec, {})[0])
    with pytest.raises(UsageError, match=r"^config key 'codebook': 'codebook' is not set"):
        as_config(dict(ptgm, codebook=None))
    with pytest.raises(UsageError, match=r"set a budget"):
        as_config(dict(ptgm, env_steps=None, steps=None))
    ppo = config_dict(resolve_config(spec, {}, method="ppo")[0])
    with pytest.raises(UsageError, match=r"^config key 'impala_chans': method ppo needs every recipe key"):
        as_config(dict(ppo, impala_chans=None))  # a partial recipe; all null is a legacy ppo_sb3 run
    assert run_method(as_config(dict(ppo, **{k: None for k in RECIPE_NETWORK_KEYS}))) == "ppo_sb3"
    assert as_config(ppo) == resolve_config(spec, {}, method="ppo")[0]


def test_a_run_config_written_before_the_recipe_keys_loads_as_ppo_sb3(tmp_path):
    cfg = config_dict(resolve_config(tasks.get_specs("crafter_iron"), {}, method="ppo_sb3")[0])
    for key in LEGACY_VALUES:
        cfg.pop(key)
    cfg["method"] = "ppo"  # the SB3-defaults era
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    loaded, sources = load_run_config(path, {"env_steps": 40})
    assert loaded.impala_chans is None and run_method(loaded) == "ppo_sb3" and loaded.env_steps == 40
    assert sources["gamma"] == f"{path} key 'gamma'" and sources["env_steps"] == "--env_steps"
    del cfg["method"]  # the oldest runs: ptgm
    path.write_text(yaml.safe_dump(cfg))
    assert load_run_config(path, {})[0].method == "ptgm"


def test_values_laid_over_a_config_are_checked_again_and_leave_it_unchanged():
    cfg = resolve_config(tasks.get_specs("crafter_iron"), {})[0]
    before = config_dict(cfg)
    low = with_values(cfg, goal_prior=False, kl_reward=0.0, n_envs=3, env_overrides={"max_steps": 100})
    assert isinstance(low, HighLevelConfig) and low.n_envs == 3 and low.env_overrides == {"max_steps": 100}
    assert config_dict(low) == dict(before, goal_prior=False, kl_reward=0.0, n_envs=3, env_overrides={"max_steps": 100})
    assert config_dict(cfg) == before
    with pytest.raises(UsageError, match=r"^config key 'codebook': 'codebook' is not set"):
        with_values(cfg, codebook=None)
    with pytest.raises(UsageError, match=r"^config key 'n_envs': n_envs must be"):
        with_values(cfg, n_envs=0)
    with pytest.raises(TypeError, match="unknown HighLevelConfig field"):
        with_values(cfg, n_env=3)
    with pytest.raises(TypeError, match="takes a hierarchical.config.HighLevelConfig"):
        with_values(before, n_envs=3)


def test_the_builders_take_a_config_not_a_plain_mapping():
    import torch

    from hierarchical.bc_ppo import make_bc_trunk_venv
    from hierarchical.build import check_files, load_low_level, make_envs, make_highlevel_env
    from hierarchical.episode_log import make_logged_envs
    from hierarchical.flat_baselines import make_flat_venv

    mapping = config_dict(resolve_config(tasks.get_specs("crafter_iron"), {})[0])
    cpu = torch.device("cpu")
    calls = {"check_files": lambda: check_files(mapping), "make_envs": lambda: make_envs(mapping, 1, cpu),
             "make_highlevel_env": lambda: make_highlevel_env(mapping, cpu),
             "load_low_level": lambda: load_low_level(mapping, None, None, cpu),
             "make_logged_envs": lambda: make_logged_envs(mapping, "unused", cpu),
             "make_flat_venv": lambda: make_flat_venv(mapping, "unused", cpu),
             "make_bc_trunk_venv": lambda: make_bc_trunk_venv(mapping, None, cpu)}
    for name, call in calls.items():
        with pytest.raises(TypeError, match=rf"{name} takes a hierarchical.config.HighLevelConfig.*got dict"):
            call()


def test_bc_ppo_kl_takes_the_files_kl_reward_and_needs_one():
    spec = tasks.get_specs("crafter_iron")
    data = yaml.safe_load((REPO / "configs/crafter/highlevel.yaml").read_text())
    cfg, sources = resolve_config(spec, {}, method="bc_ppo_kl")
    assert cfg.kl_reward == data["kl_reward"] > 0 and "highlevel.yaml" in sources["kl_reward"]
    assert cfg.goal_prior is False and resolve_config(spec, {}, method="bc_ppo")[0].kl_reward == 0.0
    assert resolve_config(spec, {"kl_reward": 0.01}, method="bc_ppo_kl")[0].kl_reward == 0.01
    with pytest.raises(UsageError, match=r"^--kl_reward: method bc_ppo_kl needs kl_reward > 0"):
        resolve_config(spec, {"kl_reward": 0.0}, method="bc_ppo_kl")
