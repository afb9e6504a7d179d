"""MineDojo plugin logic against a STAND-IN env (MineDojo itself can never run here).

``StandInMinedojoTask`` below is NOT MineDojo: it only mimics MineDojo's interface, i.e. the observation dict
(``rgb`` uint8 (3, 160, 256), ``inventory`` {name, quantity}, ``life_stats`` {life}, ``location_stats``), the
action handlers (``unwrapped._sim_spec.actionables`` with ``to_string()`` / ``space.no_op()``), ``is_successful``
and the gym 0.21 ``reset() -> obs`` / ``step(a) -> (obs, reward, done, info)`` API.
"""
from __future__ import annotations

import importlib.util
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import tasks
from tasks.minedojo import (ACTION_SPACE, MINERL_ACTION_KEYS, _splice_semifast_reset, action_features,
                            agent_action_to_env, make_env)
from tasks.minedojo.specs import FORCED_SIM_SPECS, check_task_spec, minedojo_env_specs
from tasks.minedojo.wrappers import (FROZEN_EQUIPMENT_KEYS, ClipRewardWrapper, MinedojoGymnasium, RestartOnCrash,
                                     TerminalWrapper, VPTActionWrapper, mineclip_score)

HANDLER_NAMES = (["camera", "smelt", "craft", "craft_with_table", "forward", "back", "left", "right", "jump", "sneak",
                  "sprint", "use", "attack", "drop", "swap_slot", "pickItem"] + [f"hotbar.{i}" for i in range(1, 10)])


class _Handler:
    def __init__(self, name):
        self.name = name
        no_op = np.zeros(2, np.float32) if name == "camera" else ("none" if name.startswith(("craft", "smelt")) else 0)
        self.space = SimpleNamespace(no_op=lambda: no_op)

    def to_string(self):
        return self.name


class StandInMinedojoTask:
    """STAND-IN for a MineDojo meta-task env (interface only; see the module docstring)."""

    def __init__(self, life_at=None, success_at=None, crash_at=None):
        self._sim_spec = SimpleNamespace(actionables=[_Handler(n) for n in HANDLER_NAMES])
        self.unwrapped = self
        self.life_at, self.success_at, self.crash_at = life_at, success_at, crash_at
        self.t = 0
        self.actions = []
        self.n_resets = 0
        self.closed = False

    def _obs(self):
        rgb = np.full((3, 160, 256), self.t % 256, np.uint8)
        rgb[0] = 200
        return {"rgb": rgb,
                "inventory": {"name": np.array(["air"] * 36), "quantity": np.zeros(36)},
                "life_stats": {"life": np.array([0.0 if self.life_at is not None and self.t >= self.life_at else 20.0])},
                "location_stats": {"pos": np.zeros(3)}}

    @property
    def is_successful(self):
        return self.success_at is not None and self.t >= self.success_at

    def reset(self):
        self.t = 0
        self.n_resets += 1
        return self._obs()

    def step(self, action):
        if self.crash_at is not None and self.t + 1 >= self.crash_at:
            raise RuntimeError("stand-in simulator crash")
        self.actions.append(action)
        self.t += 1
        return self._obs(), 0.0, self.is_successful, {}

    def close(self):
        self.closed = True


def _noop_env_action():
    return agent_action_to_env({"buttons": np.array([[0]]), "camera": np.array([[60]])})


def test_task_specs_exactly_upstream():
    spider = tasks.get_specs("spider")
    assert spider["task_id"] == "combat_spider_plains_diamond_armors_diamond_sword_shield"
    assert spider["sim_specs"] == {"initial_inventory": {"mainhand": {"name": "diamond_sword"}}}
    assert tasks.get_specs("cobblestone")["sim_specs"] == {"specified_biome": "plains"}
    assert tasks.get_specs("log_plains")["terminal_specs"]["max_steps"] == 2000
    assert tasks.get_specs("log_plains").get("freeze_equipped") is None
    water = tasks.get_specs("water_bucket")
    assert water["task_id"] == "harvest" and water["sim_specs"]["target_names"] == "water_bucket"
    for name in ("log_plains", "cobblestone", "iron_ore", "water_bucket", "spider"):
        spec = tasks.get_specs(name)
        check_task_spec(spec)
        assert spec["sim"] == "minedojo" and spec["fast_reset"] == 20 and spec["clip_specs"]["prompts"]
    assert {n: tasks.get_specs(n)["terminal_specs"]["max_steps"] for n in tasks.task_names("minedojo")} == {
        "log_plains": 2000, "cobblestone": 500, "iron_ore": 2000, "water_bucket": 2000, "spider": 500}


def test_minedojo_specs_deep_copy_and_overlay():
    all_specs = {"combat_spider": {"__cls__": "combat", "prompt": "p", "target_names": "spider",
                                   "initial_inventory": {"mainhand": {"name": "diamond_sword"},
                                                         "chest": {"name": "diamond_chestplate"}}}}
    overlay = {"initial_inventory": {"mainhand": {"name": "diamond_sword"}}}
    for _ in range(2):  # a second make of the same task works (spec §12.1.13)
        cls, specs = minedojo_env_specs("combat_spider", overlay, all_specs)
        assert cls == "combat"
        assert specs["initial_inventory"] == {"mainhand": {"name": "diamond_sword"}}  # replaced wholesale
        assert specs["image_size"] == (160, 256) and specs["fast_reset"] is False and specs["use_voxel"] is False
        assert "prompt" not in specs and "__cls__" not in specs
    assert set(all_specs["combat_spider"]) == {"__cls__", "prompt", "target_names", "initial_inventory"}
    cls, specs = minedojo_env_specs("harvest", {"target_names": "water_bucket"}, all_specs)
    assert cls == "harvest" and specs == {**FORCED_SIM_SPECS, "target_names": "water_bucket"}


def test_check_task_spec_rejects_unsupported():
    with pytest.raises(ValueError, match="terminal_specs"):
        check_task_spec({"name": "x", "sim": "minedojo", "task_id": "t", "terminal_specs": {"all": ["blocks"]}})
    with pytest.raises(ValueError, match="reward_specs"):
        check_task_spec({"name": "x", "sim": "minedojo", "task_id": "t", "reward_specs": {}})


def test_make_env_without_minedojo_says_what_to_install():
    if importlib.util.find_spec("minedojo") is not None:
        pytest.skip("minedojo is installed")
    with pytest.raises(ImportError, match="MCEnv"):
        make_env(tasks.get_specs("log_plains"))
    with pytest.raises(tasks.SimulatorNotInstalledError, match="minedojo"):
        tasks.make("log_plains")


def test_terminal_wrapper_max_steps_truncates_and_death_terminates():
    env = TerminalWrapper(MinedojoGymnasium(StandInMinedojoTask()), max_steps=3)
    env.reset()
    outs = [env.step({}) for _ in range(3)]
    assert [o[3] for o in outs] == [False, False, True] and not any(o[2] for o in outs)
    env.reset()
    assert env.step({})[3] is False  # counter restarts at reset
    env = TerminalWrapper(MinedojoGymnasium(StandInMinedojoTask(life_at=2)), max_steps=10)
    env.reset()
    assert env.step({})[2] is False
    _, _, terminated, truncated, info = env.step({})
    assert terminated and not truncated and info["dead"]


class _FakeScorer:
    """Logit of a frame = its mean pixel value of channel 1; the window logit = mean over the 16 features."""

    def image_features(self, rgb):
        return torch.tensor([float(rgb[1].mean()), 1.0])

    def logits(self, window):
        assert window.shape == (16, 2)
        return torch.stack([window[:, 0].mean(), torch.tensor(0.0)])


def test_clip_reward_wrapper_shaping():
    env = ClipRewardWrapper(MinedojoGymnasium(StandInMinedojoTask()), _FakeScorer(), prompts=["cut a tree"],
                            clip_min=0.0, clip_target=16.0, smoothing=2)
    env.reset()
    # step t: frame value t; window = 15 past (zeros at start) + current -> logit = sum_{i<=t} i / 16
    rewards = []
    best, fifo = 0.0, []
    for t in range(1, 6):
        _, r, _, _, info = env.step({})
        logit = sum(range(max(1, t - 15), t + 1)) / 16
        fifo = (fifo + [logit])[-2:]
        score = max(np.mean(fifo) - 0.0, 0) / 16.0
        shaping = 0.01 * score if score > best else 0.0
        best = max(best, score)
        assert r == pytest.approx(shaping) and info["clip_reward"] == pytest.approx(shaping)
        rewards.append(r)
    assert all(r > 0 for r in rewards)
    env.reset()  # history and best score reset
    assert env.step({})[1] == pytest.approx(0.01 * (1 / 16) / 16.0)
    assert mineclip_score([22.0, 24.0], 21, 23) == pytest.approx(1.0)
    assert mineclip_score([20.0], 21, 23) == 0.0


def test_vpt_action_wrapper_obs_and_action_filtering():
    task = StandInMinedojoTask(success_at=2)
    env = VPTActionWrapper(MinedojoGymnasium(task), freeze_equipped=True)
    obs, _ = env.reset()
    assert obs["pov"].shape == (128, 128, 3) and obs["pov"].dtype == np.uint8
    assert obs["pov"][..., 0].min() == 200  # channel order kept through CHW -> HWC
    action = _noop_env_action()
    action["forward"] = np.array([1])
    action["hotbar.3"] = np.array([1])
    action["drop"] = np.array([1])
    action["inventory"] = np.array([1])
    action["camera"] = np.array([[1.609, -0.615]])
    _, _, _, _, info = env.step(action)
    sent = task.actions[-1]
    assert set(sent) == set(HANDLER_NAMES)  # exactly the simulator's handlers ('inventory' dropped)
    assert sent["forward"] == 1 and sent["hotbar.3"] == 0 and sent["drop"] == 0  # frozen keys -> no-op
    assert sent["craft"] == "none"
    np.testing.assert_allclose(sent["camera"], [1.609, -0.615], rtol=1e-6)
    assert info["success"] is False
    _, _, terminated, _, info = env.step(action)
    assert info["success"] and info["is_success"] and terminated
    env2 = VPTActionWrapper(MinedojoGymnasium(StandInMinedojoTask()), freeze_equipped=False)
    env2.reset()
    env2.step(action)
    assert env2.env.unwrapped.task_env.actions[-1]["hotbar.3"] == 1
    assert set(FROZEN_EQUIPMENT_KEYS) >= {"drop", "swap_slot", "pickItem", "hotbar.1", "hotbar.9"}


def test_semifast_reset_counts_and_splice():
    class Sim:
        def __init__(self):
            self.resets = 0

        def reset(self):
            self.resets += 1
            return "hard"

    class Fast:
        def __init__(self, sim, **kwargs):
            self.kwargs, self.resets = kwargs, 0

        def reset(self):
            self.resets += 1
            return "fast"

        def step(self, a):
            return "stepped"

    meta = SimpleNamespace(env=SimpleNamespace(env=Sim()))  # meta task -> inner wrapper -> simulator
    semi = _splice_semifast_reset(meta, Sim, Fast, reset_freq=2)
    assert meta.env.env is semi and semi.fast_env.kwargs["random_teleport_range_high"] == 200
    assert [semi.reset() for _ in range(7)] == ["fast", "fast", "hard", "fast", "fast", "hard", "fast"]
    assert semi.step(0) == "stepped"
    with pytest.raises(ValueError, match="no Sim"):
        _splice_semifast_reset(SimpleNamespace(env=SimpleNamespace()), Sim, Fast, 2)


def test_restart_on_crash_rebuilds_and_run_goes_on(caplog):
    built = []

    def build():
        task = StandInMinedojoTask(crash_at=3 if not built else None)
        built.append(task)
        return VPTActionWrapper(MinedojoGymnasium(task))

    env = RestartOnCrash(build)
    env.reset()
    env.step(_noop_env_action())
    env.step(_noop_env_action())
    with caplog.at_level(logging.WARNING):
        obs, reward, terminated, truncated, info = env.step(_noop_env_action())  # crash -> restart
    assert info["sim_restarted"] and truncated and not terminated and reward == 0.0
    assert "restarting the environment" in caplog.text
    assert len(built) == 2 and built[0].closed and env.n_restarts == 1
    obs2, _ = env.reset()  # returns the already-reset observation, no second reset
    np.testing.assert_array_equal(obs["pov"], obs2["pov"])
    assert built[1].n_resets == 1
    for _ in range(5):
        env.step(_noop_env_action())
    assert len(built) == 2

    def always_crash():
        return VPTActionWrapper(MinedojoGymnasium(StandInMinedojoTask(crash_at=1)))

    env = RestartOnCrash(always_crash, max_restarts=2)
    env.reset()
    with pytest.raises(RuntimeError, match="3 times in a row"):
        for _ in range(5):
            env.step(_noop_env_action())


def test_action_helpers():
    assert ACTION_SPACE["buttons"].n == 8641 and ACTION_SPACE["camera"].n == 121
    action = _noop_env_action()
    action["attack"] = np.array([1])
    action["camera"] = np.array([[-3.215, 5.809]])
    feats = action_features(action)
    assert feats.shape == (25,) and len(MINERL_ACTION_KEYS) == 25
    assert feats[MINERL_ACTION_KEYS.index("attack")] == 1
    assert feats[MINERL_ACTION_KEYS.index("camera_pitch")] == pytest.approx(-3.215, abs=1e-3)
    assert feats[MINERL_ACTION_KEYS.index("camera_yaw")] == pytest.approx(5.809, abs=1e-3)
    assert feats.sum() == pytest.approx(1 - 3.215 + 5.809, abs=1e-2)
