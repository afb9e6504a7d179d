"""VPT policy against the official-code goldens (fixtures README §2-§3): state-dict manifests for 1x/2x/3x, the
chunked forward ('sequence') and single-frame stepping ('stepping') of the small model. (STEVE-1's manifest:
tests/steve1/test_conditional_policy.py.)"""
import json

import pytest
import torch

from VPT.lib.action_mapping import CameraHierarchicalMapping
from VPT.lib.policy import MinecraftAgentPolicy, load_model_config, load_policy_weights

ATOL_SEQUENCE = 1e-4  # observed ~5e-6
ATOL_STEPPING = 2e-4  # the golden's own stepping-vs-chunk float32 noise is 6.5e-5 (fixtures README §3)


def minerl_action_space():
    return CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update()


@pytest.fixture(scope="module")
def small_policy(fixtures_dir):
    policy_kwargs, pi_head_kwargs = load_model_config(fixtures_dir / "vpt_small.model")
    policy = MinecraftAgentPolicy(minerl_action_space(), policy_kwargs, pi_head_kwargs)
    load_policy_weights(policy, fixtures_dir / "vpt_small.weights")
    return policy.eval()


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    return torch.load(fixtures_dir / "vpt_small_golden.pt", weights_only=True)


def assert_close(ours, expected, atol, what):
    assert ours.shape == expected.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(expected.shape)}"
    diff = (ours.float() - expected.float()).abs().max().item()
    assert diff <= atol, f"{what}: max |diff| {diff:.2e} > {atol:.0e}"


def assert_state_equal(state, expected_state, atol, what):
    assert len(state) == len(expected_state)
    for layer, ((mask, (keys, values)), expected) in enumerate(zip(state, expected_state)):
        assert mask.dtype == torch.bool and torch.equal(mask, expected["mask"]), f"{what} layer {layer} mask"
        assert_close(keys, expected["K"], atol, f"{what} layer {layer} K")
        assert_close(values, expected["V"], atol, f"{what} layer {layer} V")


@pytest.mark.parametrize("variant", ["1x", "2x", "3x"])
def test_manifest_matches_official_state_dict(fixtures_dir, variant):
    manifest = json.loads((fixtures_dir / f"vpt_{variant}_manifest.json").read_text())
    with torch.device("meta"):
        policy = MinecraftAgentPolicy(minerl_action_space(), manifest["policy_kwargs"], {"temperature": 2.0})
    ours = [(k, list(v.shape)) for k, v in policy.state_dict().items()]
    assert ours == [(k, v["shape"]) for k, v in manifest["state_dict"].items()]
    assert sum(p.numel() for p in policy.state_dict().values()) == manifest["num_parameters"]
    # Only the 3 value-normaliser statistics are not trainable.
    assert sum(p.numel() for p in policy.parameters() if p.requires_grad) == manifest["num_parameters"] - 3


def test_sequence_golden(small_policy, golden):
    seq = golden["sequence"]
    inputs = seq["inputs"]
    state = small_policy.initial_state(2)
    for expected_layer, (mask, (keys, values)) in zip(seq["initial_state"], state):
        assert mask is None and torch.equal(keys, expected_layer["K"]) and torch.equal(values, expected_layer["V"])
    with torch.no_grad():
        for chunk in ("1", "2"):
            (pd, vpred, extra), state = small_policy(
                {"img": inputs[f"img_chunk{chunk}"]}, inputs[f"first_chunk{chunk}"], state
            )
            expected = seq[f"chunk{chunk}"]
            assert extra is None and list(pd) == ["camera", "buttons"]
            assert_close(pd["buttons"], expected["buttons_logprobs"], ATOL_SEQUENCE, f"chunk{chunk} buttons")
            assert_close(pd["camera"], expected["camera_logprobs"], ATOL_SEQUENCE, f"chunk{chunk} camera")
            assert_close(vpred, expected["vpred_normalized"], ATOL_SEQUENCE, f"chunk{chunk} vpred")
            assert_close(
                small_policy.value_head.denormalize(vpred), expected["value"], ATOL_SEQUENCE, f"chunk{chunk} value"
            )
            assert_state_equal(state, expected["state_out"], ATOL_SEQUENCE, f"chunk{chunk} state_out")


def test_sequence_golden_pi_latent(small_policy, golden):
    seq = golden["sequence"]
    with torch.no_grad():
        (pi_latent, vf_latent), _ = small_policy.net(
            {"img": seq["inputs"]["img_chunk1"]}, small_policy.initial_state(2), {"first": seq["inputs"]["first_chunk1"]}
        )
    assert pi_latent is vf_latent
    assert_close(pi_latent, seq["chunk1"]["pi_latent"], ATOL_SEQUENCE, "pi_latent")


def test_stepping_golden(small_policy, golden):
    stepping = golden["stepping"]
    img, first = stepping["inputs"]["img"], stepping["inputs"]["first"]
    state = small_policy.initial_state(1)
    for i, expected in enumerate(stepping["steps"]):
        action, state, result = small_policy.act({"img": img[i]}, first[i], state, stochastic=False, return_pd=True)
        assert torch.equal(action["buttons"], expected["action_buttons"]), f"step {i} buttons"
        assert torch.equal(action["camera"], expected["action_camera"]), f"step {i} camera"
        assert_close(result["pd"]["buttons"], expected["buttons_logprobs"], ATOL_STEPPING, f"step {i} buttons pd")
        assert_close(result["pd"]["camera"], expected["camera_logprobs"], ATOL_STEPPING, f"step {i} camera pd")
        assert_close(result["vpred"], expected["value"], ATOL_STEPPING, f"step {i} value")
        assert_close(result["log_prob"], expected["log_prob"], ATOL_STEPPING, f"step {i} log_prob")
        assert_state_equal(state, expected["state_out"], ATOL_STEPPING, f"step {i} state_out")


def test_stepping_golden_log_prob_of_taken_action(small_policy, golden):
    """``taken_action`` scores a given action: the golden argmax action gets the golden log-prob."""
    stepping = golden["stepping"]
    expected = stepping["steps"][0]
    taken = {"buttons": expected["action_buttons"], "camera": expected["action_camera"]}
    _, _, result = small_policy.act(
        {"img": stepping["inputs"]["img"][0]}, stepping["inputs"]["first"][0], small_policy.initial_state(1),
        taken_action=taken, return_pd=True,
    )
    assert_close(result["log_prob"], expected["log_prob"], ATOL_STEPPING, "log_prob of taken action")
    pd = {k: v[:, None] for k, v in result["pd"].items()}
    assert_close(small_policy.get_logprob_of_action(pd, taken), expected["log_prob"], ATOL_STEPPING, "get_logprob")
    kl = small_policy.get_kl_of_action_dists(pd, pd)
    assert kl.shape == (1, 1, 1) and kl.abs().max() < 1e-6
