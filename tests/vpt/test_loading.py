"""Model configs (.model pickle and YAML) and weight files: loading, prefix stripping, and the clear errors for
extended/base policy mix-ups, head-size mismatches, truncated and missing files. (STEVE-1/VPT mix-ups:
tests/steve1/test_conditional_policy.py.)"""
import inspect
import datetime
import pickle

import pytest
import torch
import yaml
from gymnasium import spaces

from VPT.lib.action_mapping import CameraHierarchicalMapping
from VPT.lib.loading import WeightsLoadError, load_model_config, load_policy_weights, read_state_dict
from VPT.lib.policy import MinecraftAgentPolicy, MinecraftPolicy
from VPT.lib.policy_kwargs import POLICY_KWARGS_KEYS


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


def test_policy_kwargs_keys_are_the_network_arguments():
    params = inspect.signature(MinecraftPolicy.__init__).parameters
    assert POLICY_KWARGS_KEYS == {n for n, p in params.items() if n != "self" and p.kind == p.POSITIONAL_OR_KEYWORD}


def test_extension_keys_are_accepted_only_when_named(tmp_path, small_config):
    path = tmp_path / "extended.yaml"
    path.write_text(yaml.safe_dump({"policy_kwargs": {**small_config[0], "extra_dim": 3}}))
    with pytest.raises(ValueError, match="extended.yaml: unknown policy_kwargs \\['extra_dim'\\]"):
        load_model_config(path)
    policy_kwargs, _ = load_model_config(path, extra_keys={"extra_dim"})
    assert policy_kwargs == {**small_config[0], "extra_dim": 3}


def test_extended_weights_into_the_base_policy_explain_themselves(tmp_path, tiny_policy_factory,
                                                                  extended_policy_class):
    extended = tiny_policy_factory(spaces.Discrete(5), policy_class=extended_policy_class, extra_dim=3)
    path = tmp_path / "extended.weights"
    torch.save(extended.state_dict(), path)
    plain = tiny_policy_factory(spaces.Discrete(5), seed=3)
    with pytest.raises(WeightsLoadError) as err:
        load_policy_weights(plain, path)
    message = str(err.value)
    assert "extended.weights" in message and "unexpected keys (2): net.extra_linear.bias, net.extra_linear.weight" \
        in message
    assert "whole modules this policy lacks (net.extra_linear)" in message and "strict=False" in message
    # strict=False loads every tensor of the base network and reports the others
    missing, unexpected = load_policy_weights(plain, path, strict=False)
    assert missing == [] and sorted(unexpected) == ["net.extra_linear.bias", "net.extra_linear.weight"]
    assert all(torch.equal(v, extended.state_dict()[k]) for k, v in plain.state_dict().items())

    # ... and the reverse: base weights into the extended policy
    torch.save(plain.state_dict(), tmp_path / "base.weights")
    with pytest.raises(WeightsLoadError, match="(?s)base.weights.*lacks whole modules of this policy "
                                               "\\(net.extra_linear\\).*strict=False"):
        load_policy_weights(extended, tmp_path / "base.weights")


def test_explain_adds_the_extension_specific_cause(tmp_path, tiny_policy_factory, extended_policy_class):
    extended = tiny_policy_factory(spaces.Discrete(5), policy_class=extended_policy_class, extra_dim=3)
    path = tmp_path / "extended.weights"
    torch.save(extended.state_dict(), path)
    plain = tiny_policy_factory(spaces.Discrete(5), seed=3)
    seen = []

    def explain(missing, unexpected, shape_errors):
        seen.append((missing, sorted(unexpected), shape_errors))
        return ["an extension's own words"]

    with pytest.raises(WeightsLoadError, match="likely cause: an extension's own words$"):
        load_policy_weights(plain, path, explain=explain)
    assert seen == [([], ["net.extra_linear.bias", "net.extra_linear.weight"], [])]
    # the policy's explain_weights_mismatch method is the default explain
    plain.explain_weights_mismatch = explain
    with pytest.raises(WeightsLoadError, match="an extension's own words"):
        load_policy_weights(plain, path, state_dict=torch.load(path, weights_only=True))


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
