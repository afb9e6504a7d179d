"""Model configs (.model pickle and YAML) and weight files: loading, prefix stripping, and the clear errors for
STEVE-1/VPT mix-ups, head-size mismatches, truncated and missing files."""
import datetime
import pickle

import pytest
import torch
import yaml
from gymnasium import spaces

from VPT.lib.action_mapping import CameraHierarchicalMapping
from VPT.lib.loading import WeightsLoadError, load_model_config, load_policy_weights, read_state_dict
from VPT.lib.policy import MinecraftAgentPolicy


@pytest.fixture(scope="module")
def small_config(fixtures_dir):
    return load_model_config(fixtures_dir / "vpt_small.model")


def minerl_space():
    return CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update()


def test_model_pickle_config(small_config):
    policy_kwargs, pi_head_kwargs = small_config
    assert pi_head_kwargs == {"temperature": 2.0} and isinstance(pi_head_kwargs["temperature"], float)
    assert policy_kwargs["hidsize"] == 64 and policy_kwargs["attention_memory_size"] == 16
    assert policy_kwargs["img_shape"] == [128, 128, 3]


def test_yaml_config_round_trip(tmp_path, small_config):
    policy_kwargs, _ = small_config
    path = tmp_path / "crafter_model.yaml"
    path.write_text(yaml.safe_dump({"policy_kwargs": policy_kwargs, "pi_head_kwargs": {"temperature": 1}, "other": 3}))
    loaded_policy_kwargs, loaded_pi_head_kwargs = load_model_config(path)
    assert loaded_policy_kwargs == policy_kwargs
    assert loaded_pi_head_kwargs == {"temperature": 1.0} and isinstance(loaded_pi_head_kwargs["temperature"], float)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("no_block.yaml", "pi_head_kwargs: {temperature: 2}\n", "policy_kwargs"),
        ("typo.yaml", "policy_kwargs: {hidsizee: 3}\n", "hidsizee"),
        ("broken.yaml", "policy_kwargs: [\n", "invalid YAML"),
    ],
)
def test_bad_yaml_config_names_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as err:
        load_model_config(path)
    assert name in str(err.value)


def test_bad_model_pickle_names_the_file(tmp_path):
    wrong_nesting = tmp_path / "wrong.model"
    wrong_nesting.write_bytes(pickle.dumps({"model": {"args": {"net": {}}}}))
    with pytest.raises(ValueError, match="wrong.model.*d\\['model'\\]\\['args'\\]"):
        load_model_config(wrong_nesting)
    with_code = tmp_path / "code.model"
    with_code.write_bytes(pickle.dumps({"model": datetime.date(2020, 1, 1)}))
    with pytest.raises(ValueError, match="code.model.*refusing to load datetime.date"):
        load_model_config(with_code)
    with pytest.raises(FileNotFoundError, match="nothing.model"):
        load_model_config(tmp_path / "nothing.model")


def test_steve1_weights_into_plain_vpt_explain_themselves(tmp_path, fixtures_dir, small_config):
    merged = {**torch.load(fixtures_dir / "vpt_small.weights", weights_only=True),
              **torch.load(fixtures_dir / "steve1_small_extra.weights", weights_only=True)}
    path = tmp_path / "steve1_small.weights"
    torch.save(merged, path)
    policy = MinecraftAgentPolicy(minerl_space(), *small_config)
    with pytest.raises(WeightsLoadError) as err:
        load_policy_weights(policy, path)
    message = str(err.value)
    assert "steve1_small.weights" in message
    assert "net.mineclip_embed_linear.weight" in message and "unexpected keys (2)" in message
    assert "STEVE-1" in message and "MineRLConditionalAgent" in message

    # ... and they load into a goal-conditioned policy.
    goal_policy = MinecraftAgentPolicy(minerl_space(), {**small_config[0], "goal_dim": 512}, small_config[1])
    assert load_policy_weights(goal_policy, path) == ([], [])
    assert torch.equal(goal_policy.net.mineclip_embed_linear.bias, merged["net.mineclip_embed_linear.bias"])


def test_plain_vpt_weights_into_goal_conditioned_policy(fixtures_dir, small_config):
    goal_policy = MinecraftAgentPolicy(minerl_space(), {**small_config[0], "goal_dim": 512}, small_config[1])
    with pytest.raises(WeightsLoadError, match="(?s)vpt_small.weights.*plain VPT weights.*strict=False"):
        load_policy_weights(goal_policy, fixtures_dir / "vpt_small.weights")
    missing, unexpected = load_policy_weights(goal_policy, fixtures_dir / "vpt_small.weights", strict=False)
    assert missing == ["net.mineclip_embed_linear.weight", "net.mineclip_embed_linear.bias"] and unexpected == []
    reference = torch.load(fixtures_dir / "vpt_small.weights", weights_only=True)
    assert torch.equal(goal_policy.net.final_ln.weight, reference["net.final_ln.weight"])


def test_truncated_and_missing_weights_files(tmp_path, fixtures_dir, small_config):
    data = (fixtures_dir / "vpt_small.weights").read_bytes()
    path = tmp_path / "half.weights"
    path.write_bytes(data[: len(data) // 2])
    policy = MinecraftAgentPolicy(minerl_space(), *small_config)
    with pytest.raises(WeightsLoadError, match="(?s)half.weights.*truncated or corrupt"):
        load_policy_weights(policy, path)
    with pytest.raises(FileNotFoundError, match="absent.weights"):
        load_policy_weights(policy, tmp_path / "absent.weights")


def test_head_size_mismatch_names_the_head(tmp_path, tiny_policy_factory):
    path = tmp_path / "codebook17.weights"
    torch.save(tiny_policy_factory(spaces.Discrete(17)).state_dict(), path)
    policy = tiny_policy_factory(spaces.Discrete(5))
    with pytest.raises(WeightsLoadError, match="(?s)codebook17.weights.*action head pi_head has 17 outputs in the file but 5"):
        load_policy_weights(policy, path, strict=False)  # shape mismatches raise even when not strict


def test_training_prefixes_are_stripped(tmp_path, tiny_policy_factory):
    source = tiny_policy_factory(spaces.Discrete(5), seed=1)
    for prefix in ("policy.", "module.policy."):
        path = tmp_path / f"{prefix}weights"
        torch.save({prefix + k: v for k, v in source.state_dict().items()}, path)
        assert list(read_state_dict(path)) == list(source.state_dict())
        target = tiny_policy_factory(spaces.Discrete(5), seed=2)
        load_policy_weights(target, path)
        assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), source.state_dict().values()))
