"""VPT action space: camera quantizer, joint mapping and agent <-> env conversions against the official goldens
(shared/fixtures/vpt_action_mapping_golden.json and vpt_action_tables.pt, fixtures README §5)."""
import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from VPT.lib.action_mapping import (
    CameraHierarchicalMapping,
    agent_action_to_env,
    default_action_mapper,
    env_action_to_agent,
)
from VPT.lib.actions import ACTION_TRANSFORMER_KWARGS, ActionTransformer, Buttons

MINERL_NOOP = {
    # the 25-scalar MineRL layout of spec §3.2 (camera counts as 2)
    "ESC": 0, "back": 0, "drop": 0, "forward": 0, **{f"hotbar.{i}": 0 for i in range(1, 10)}, "inventory": 0,
    "jump": 0, "left": 0, "right": 0, "sneak": 0, "sprint": 0, "swapHands": 0, "camera": np.zeros(2),
    "attack": 0, "use": 0, "pickItem": 0,
}


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    with open(fixtures_dir / "vpt_action_mapping_golden.json") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def tables(fixtures_dir):
    return torch.load(fixtures_dir / "vpt_action_tables.pt", weights_only=True)


@pytest.fixture(scope="module")
def transformer():
    return ActionTransformer(**ACTION_TRANSFORMER_KWARGS)


@pytest.fixture(scope="module")
def mapper():
    return CameraHierarchicalMapping(n_camera_bins=11)


def _env_action_from_json(d):
    return {k: (np.asarray(v, dtype=np.float64) if k == "camera" else v) for k, v in d.items()}


def _assert_env_action_equal(ours, expected, where):
    assert list(ours) == list(expected), f"{where}: key order {list(ours)} != {list(expected)}"
    for key, value in expected.items():
        value = np.asarray(value)
        assert ours[key].shape == value.shape, f"{where}: {key} shape {ours[key].shape} != {value.shape}"
        # exact: the camera bin centres must match the official float64 arithmetic bit for bit
        np.testing.assert_array_equal(ours[key], value, err_msg=f"{where}: {key}")


def test_constants_match_official(golden, mapper, transformer):
    assert ACTION_TRANSFORMER_KWARGS == golden["ACTION_TRANSFORMER_KWARGS"]
    assert Buttons.ALL == golden["Buttons.ALL"]
    assert {k: list(v) for k, v in mapper.BUTTONS_GROUPS.items()} == golden["BUTTONS_GROUPS"]
    assert list(mapper.BUTTONS_GROUPS) == list(golden["BUTTONS_GROUPS"])
    assert mapper.n_camera_bins == golden["n_camera_bins"] == transformer.n_camera_bins
    assert mapper.n_button_combinations == golden["num_button_combinations"]
    assert mapper.n_camera_combinations == golden["num_camera_combinations"]
    assert mapper.camera_null_idx == golden["camera_null_idx"]
    assert mapper.null_button_idx == golden["null_button_idx"]
    assert mapper.inventory_button_idx == golden["inventory_button_idx"]
    # camera_zero_bin is a value (spec §12.1.14), equal to the mapping's null bin
    assert transformer.camera_zero_bin == 5 == mapper.camera_null_bin
    assert mapper.get_zero_action() == {"buttons": 0, "camera": 60}


def test_camera_discretize_golden(golden, transformer):
    g = golden["camera_discretize"]
    bins = transformer.discretize_camera(g["input_degrees"])
    assert bins.dtype == np.int64
    np.testing.assert_array_equal(bins, g["bin"])
    np.testing.assert_array_equal(transformer.undiscretize_camera(bins), np.array(g["undiscretized_degrees"]))
    centres = transformer.undiscretize_camera(np.arange(11))
    assert centres.dtype == np.float64
    np.testing.assert_array_equal(centres, np.array(golden["camera_bin_centers_degrees"]))


def test_camera_bin_edges_on_0001_grid(golden, transformer):
    grid = np.arange(-11000, 11001) / 1000.0  # degrees, beyond the ±10 clip on both sides
    bins = transformer.discretize_camera(grid)
    change = np.flatnonzero(np.diff(bins))
    edges = [[grid[i + 1], int(bins[i]), int(bins[i + 1])] for i in change]
    expected = golden["camera_bin_edges_on_0.001_grid"]
    assert [e[1:] for e in edges] == [e[1:] for e in expected]
    np.testing.assert_allclose([e[0] for e in edges], [e[0] for e in expected], rtol=0, atol=1e-9)


def test_camera_works_batched_and_on_int_degrees(transformer):
    xy = np.array([[[2.5, -1.2]], [[45, -180]]])  # [2, 1, 2]
    np.testing.assert_array_equal(transformer.discretize_camera(xy), [[[8, 3]], [[10, 0]]])
    # contractor data carries whole degrees as ints (spec §3.2): 0 and ±1 degree
    np.testing.assert_array_equal(transformer.discretize_camera(np.array([0, 1, -1])), [5, 6, 4])


def test_linear_scheme_bins_are_uniform():
    t = ActionTransformer(camera_quantization_scheme="linear")
    np.testing.assert_array_equal(t.undiscretize_camera(np.arange(11)), np.arange(-10, 11, 2))
    np.testing.assert_array_equal(t.discretize_camera([-0.99, 1.01, 3.0, 5.0]), [5, 6, 6, 8])  # 1.5 -> 2 (half-even)


def test_env_to_agent_to_env_golden(golden, transformer):
    cases = golden["env_to_agent_to_env"]
    assert len(cases) == 18
    for case in cases:
        where = case["desc"]
        env_action = _env_action_from_json(case["env_action"])
        factored = transformer.env2policy(env_action)
        np.testing.assert_array_equal(factored["buttons"], case["factored"]["buttons"], err_msg=where)
        np.testing.assert_array_equal(factored["camera"], case["factored"]["camera_bins"], err_msg=where)

        agent_action = env_action_to_agent(env_action)
        for key in ("buttons", "camera"):
            assert agent_action[key].shape == (1, 1), where
            np.testing.assert_array_equal(agent_action[key], case["agent_action"][key], err_msg=where)

        _assert_env_action_equal(agent_action_to_env(agent_action), case["back_to_env"], where)


def test_env_to_agent_batched_matches_single(golden, transformer, mapper):
    cases = golden["env_to_agent_to_env"]
    keys = [k for k in cases[0]["env_action"] if k != "camera"]
    batch = {k: np.array([c["env_action"][k] for c in cases]) for k in keys}
    batch["camera"] = np.array([c["env_action"]["camera"] for c in cases], dtype=np.float64)
    agent_action = env_action_to_agent(batch)
    np.testing.assert_array_equal(agent_action["buttons"], [c["agent_action"]["buttons"][0] for c in cases])
    np.testing.assert_array_equal(agent_action["camera"], [c["agent_action"]["camera"][0] for c in cases])
    back = agent_action_to_env(agent_action)
    for i, case in enumerate(cases):
        for key, value in case["back_to_env"].items():
            np.testing.assert_array_equal(back[key][i], np.asarray(value)[0], err_msg=f"{case['desc']}: {key}")


def test_agent_to_env_golden(golden, mapper):
    cases = golden["agent_to_env"]
    assert len(cases) == 131
    for case in cases:
        where = f"buttons_idx={case['buttons_idx']} camera_idx={case['camera_idx']}"
        comb = mapper.BUTTONS_COMBINATIONS[case["buttons_idx"]]
        assert (comb if isinstance(comb, str) else list(comb)) == case["button_combination"], where
        joint = {"buttons": np.array([[case["buttons_idx"]]]), "camera": np.array([[case["camera_idx"]]])}
        env_action = agent_action_to_env(joint)
        _assert_env_action_equal(env_action, case["env_action"], where)
    # the same through torch tensors, in one batch
    torch_action = {
        "buttons": torch.tensor([[c["buttons_idx"]] for c in cases]),
        "camera": torch.tensor([[c["camera_idx"]] for c in cases]),
    }
    env_action = agent_action_to_env(torch_action)
    np.testing.assert_array_equal(env_action["camera"], np.array([c["env_action"]["camera"][0] for c in cases]))
    np.testing.assert_array_equal(env_action["forward"], [c["env_action"]["forward"][0] for c in cases])


def test_tables_equal_official(tables, mapper):
    np.testing.assert_array_equal(mapper.BUTTON_IDX_TO_FACTORED, tables["BUTTON_IDX_TO_FACTORED"].numpy())
    np.testing.assert_array_equal(mapper.BUTTON_IDX_TO_CAMERA_META_OFF, tables["BUTTON_IDX_TO_CAMERA_META_OFF"].numpy())
    np.testing.assert_array_equal(mapper.CAMERA_IDX_TO_FACTORED, tables["CAMERA_IDX_TO_FACTORED"].numpy())
    official = [c if isinstance(c, str) else tuple(c) for c in tables["BUTTONS_COMBINATIONS"]]
    assert mapper.BUTTONS_COMBINATIONS == official
    assert mapper.BUTTON_IDX_TO_CAMERA_META_OFF.dtype == bool


def test_from_factored_inverts_to_factored_on_all_button_combinations(mapper):
    """Every joint buttons index survives joint -> factored -> joint (vectorised rules vs the lookup tables)."""
    button_idx = np.arange(mapper.n_button_combinations)
    meta_off = mapper.BUTTON_IDX_TO_CAMERA_META_OFF[button_idx]
    is_inventory = button_idx == mapper.inventory_button_idx
    # a non-null camera where the meta action is on, the null camera where it is off or for inventory
    camera_idx = np.where(meta_off | is_inventory, mapper.camera_null_idx, 37)
    joint = {"buttons": button_idx[:, None], "camera": camera_idx[:, None]}
    factored = mapper.to_factored(joint)
    back = mapper.from_factored(factored)
    np.testing.assert_array_equal(back["buttons"], joint["buttons"])
    np.testing.assert_array_equal(back["camera"], joint["camera"])


def test_inventory_overrides_and_meta_off_forces_null_camera(mapper):
    buttons = np.zeros((2, 20), dtype=np.int64)
    buttons[:, Buttons.ALL.index("inventory")] = 1
    buttons[0, Buttons.ALL.index("attack")] = 1
    joint = mapper.from_factored({"buttons": buttons, "camera": np.array([[0, 10], [5, 5]])})
    np.testing.assert_array_equal(joint["buttons"], [[8640], [8640]])
    np.testing.assert_array_equal(joint["camera"], [[60], [60]])
    # "forward" with the camera meta action off: the camera head's output (index 0 = bins 0,0) is discarded
    factored = mapper.to_factored({"buttons": np.array([[288]]), "camera": np.array([[0]])})
    np.testing.assert_array_equal(factored["camera"], [[5, 5]])
    np.testing.assert_array_equal(factored["buttons"][0], np.eye(20, dtype=np.int64)[Buttons.ALL.index("forward")])


def test_check_if_null_returns_none_for_null_action():
    # upstream never returns None here (fixtures README §5); ours does for the null action
    assert env_action_to_agent(dict(MINERL_NOOP), check_if_null=True) is None
    ignored_only = dict(MINERL_NOOP, ESC=1, pickItem=1, swapHands=1, camera=np.array([0.2, -0.2]))
    assert env_action_to_agent(ignored_only, check_if_null=True) is None
    for not_null in (dict(MINERL_NOOP, jump=1), dict(MINERL_NOOP, camera=np.array([0.0, 0.3]))):
        action = env_action_to_agent(not_null, check_if_null=True)
        assert action is not None
    # without the check, the null action is converted like any other
    action = env_action_to_agent(dict(MINERL_NOOP))
    np.testing.assert_array_equal(action["buttons"], [[0]])
    np.testing.assert_array_equal(action["camera"], [[60]])
    # batch: None only if every row is null
    batch = {k: np.array([v, v]) for k, v in MINERL_NOOP.items()}
    assert env_action_to_agent(batch, check_if_null=True) is None
    batch["use"] = np.array([0, 1])
    np.testing.assert_array_equal(env_action_to_agent(batch, check_if_null=True)["buttons"], [[0], [16]])


def test_to_torch_gives_int64_tensors():
    action = env_action_to_agent(dict(MINERL_NOOP, forward=1, camera=np.array([2.5, -1.2])), to_torch=True)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.int64 and v.shape == (1, 1) for v in action.values())
    assert action["buttons"].item() == 289 and action["camera"].item() == 91


def test_action_space_update(mapper):
    space = mapper.get_action_space_update()
    assert isinstance(space, spaces.Dict)
    assert list(space.keys()) == ["camera", "buttons"]
    assert space["camera"] == spaces.Discrete(121) and space["buttons"] == spaces.Discrete(8641)


def test_default_instances_are_the_vpt_ones():
    assert default_action_mapper() is default_action_mapper()
    assert default_action_mapper().n_camera_bins == 11


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(MINERL_NOOP, forward=2), "'forward' must be 0 or 1"),
        (dict(MINERL_NOOP, camera=np.zeros(3)), r"shape \[..., 2\]"),
        (dict(MINERL_NOOP, camera=np.array([np.nan, 0.0])), "NaN"),
        (dict(MINERL_NOOP, jump=np.array([0, 1])), "'jump' has shape"),
    ],
)
def test_env2policy_rejects_bad_input(transformer, bad, match):
    with pytest.raises(ValueError, match=match):
        transformer.env2policy(bad)


def test_bad_joint_and_factored_input_raise(mapper, transformer):
    with pytest.raises(KeyError, match="camera"):
        transformer.env2policy({"forward": 1})
    with pytest.raises(ValueError, match=r"'buttons' must be integer indices in \[0, 8640\]"):
        mapper.to_factored({"buttons": np.array([[8641]]), "camera": np.array([[60]])})
    with pytest.raises(ValueError, match=r"\[\.\.\., 1\]"):
        mapper.to_factored({"buttons": np.array([[0, 0]]), "camera": np.array([[60]])})
    with pytest.raises(ValueError, match="same shape"):
        mapper.to_factored({"buttons": np.array([[0], [1]]), "camera": np.array([[60]])})
    with pytest.raises(ValueError, match=r"\[B, 20\]"):
        mapper.from_factored({"buttons": np.zeros(20, dtype=int), "camera": np.array([5, 5])})
    with pytest.raises(ValueError, match="integer bins"):
        mapper.from_factored({"buttons": np.zeros((1, 20), dtype=int), "camera": np.array([[5, 11]])})
    with pytest.raises(ValueError, match="camera bins must lie"):
        transformer.undiscretize_camera(np.array([11]))
    with pytest.raises(ValueError, match="camera_quantization_scheme"):
        ActionTransformer(camera_quantization_scheme="mulaw")
    with pytest.raises(ValueError, match="odd"):
        CameraHierarchicalMapping(n_camera_bins=10)
