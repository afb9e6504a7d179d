"""hierarchical/flat_ppo.py: the PPO-ResNet recipe on SB3 (EWMA value normalizer, IMPALA extractor, FlatPPO's rollout
hook, save/load) and the ``ppo`` / ``ppo_sb3`` method registry of hierarchical/methods.py."""
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from highlevel_testutils import StandInEnv

from hierarchical import flat_baselines, flat_ppo, methods

TINY_NET = {"impala_chans": [2, 4, 4], "impala_blocks": 1, "impala_outsize": 8, "hidsize": 16,
            "impala_group_norm": True, "value_norm_beta": 0.9}


def test_ewma_normalizer_matches_an_explicit_ewma():
    norm = flat_ppo.EwmaNormalizer(beta=0.9)
    mean, var = norm.mean_var()
    assert float(mean) == 0.0 and float(var) == pytest.approx(1e-2)  # before any update
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(5, 2)), rng.normal(-1.0, 0.5, size=(7, 2)), rng.normal(10.0, 4.0, size=9)]
    m = s = d = 0.0
    for b in batches:
        norm.update(torch.as_tensor(b))
        m, s, d = 0.9 * m + 0.1 * b.mean(), 0.9 * s + 0.1 * (b**2).mean(), 0.9 * d + 0.1
    mean, var = norm.mean_var()
    assert float(mean) == pytest.approx(m / d, rel=1e-12)
    assert float(var) == pytest.approx(s / d - (m / d) ** 2, rel=1e-12)
    x = torch.tensor([0.0, 5.0, -2.0])
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x)
    torch.testing.assert_close(norm.normalize(x), ((x.double() - m / d) / np.sqrt(s / d - (m / d) ** 2)).float())
    with pytest.raises(ValueError, match="beta"):
        flat_ppo.EwmaNormalizer(beta=1.0)


def test_trunk_cost_and_extractor_shapes():
    assert flat_ppo.trunk_macs([64, 128, 128]) == pytest.approx(0.46e9, rel=0.01)  # the spec's figure
    assert flat_ppo.trunk_macs([16, 32, 32]) < flat_ppo.trunk_macs([64, 128, 128]) / 14
    from gymnasium import spaces

    ext = flat_ppo.ImpalaResNetExtractor(spaces.Box(0, 255, (3, 64, 64), np.uint8), [2, 4, 4], 1, 8, 16, True)
    out = ext(torch.rand(3, 3, 64, 64))
    assert out.shape == (3, 16) and out.dtype == torch.float32 and bool((out >= 0).all())  # ReLU last


def _model(seed=0, n_steps=8, **cfg):
    import tasks

    venv = VecMonitor(DummyVecEnv([lambda i=i: flat_baselines.FlatFrameWrapper(StandInEnv(max_steps=5, success_at=4,
                                                                                          seed_offset=i))
                                   for i in range(2)]))
    # the run's typed config as ppo_highlevel.py --method ppo resolves it (the recipe over the task's config)
    recipe, _ = methods.resolve_config(tasks.get_specs("crafter_iron"),
                                       {**TINY_NET, "steps_per_iter": n_steps, "batch_size": 8, **cfg}, method="ppo")
    return flat_ppo.make_recipe_ppo(venv, recipe, seed, torch.device("cpu"))


def test_recipe_hyperparameters_reach_sb3():
    recipe = flat_ppo.load_recipe()
    model = _model(n_steps=recipe["steps_per_iter"], batch_size=recipe["batch_size"])
    assert (model.n_steps, model.batch_size, model.n_epochs) == (512, 512, 3)
    assert (model.gamma, model.gae_lambda, model.ent_coef, model.vf_coef, model.max_grad_norm) == \
        (0.95, 0.65, 0.01, 0.5, 0.5)
    assert model.clip_range(1.0) == 0.2 and model.learning_rate == 3e-4 and model.normalize_advantage
    assert model.policy.share_features_extractor
    assert isinstance(model.policy.features_extractor, flat_ppo.ImpalaResNetExtractor)
    assert model.policy.action_net.in_features == 16 and model.policy.value_net.in_features == 16  # linear heads


def test_rollout_targets_are_normalized_and_advantages_are_not():
    from stable_baselines3.common.callbacks import BaseCallback

    class Grab(BaseCallback):  # on_rollout_end runs inside SB3's collect_rollouts, before FlatPPO normalizes
        def _on_rollout_end(self):
            buf = self.model.rollout_buffer
            self.raw = (buf.returns.copy(), buf.values.copy(), buf.advantages.copy())

        def _on_step(self):
            return True

    model = _model()
    grab = Grab()
    model.learn(total_timesteps=16, callback=grab)  # one rollout of 2 envs x 8 steps, one update
    raw_returns, raw_values, advantages = grab.raw
    norm = model.policy.value_normalizer
    assert float(norm.debiasing_term) == pytest.approx(1 - 0.9)  # one EWMA step (beta 0.9)
    assert float(norm.mean_var()[0]) == pytest.approx(raw_returns.mean(), rel=1e-6)  # debiased: the batch mean
    buf = model.rollout_buffer  # SB3's update flattened it: [n_steps, n_envs] -> [n_envs * n_steps, 1]
    flat = lambda a: a.swapaxes(0, 1).reshape(-1, 1)  # noqa: E731
    den = lambda a: norm.denormalize(torch.as_tensor(a, dtype=torch.float64)).numpy()  # noqa: E731
    np.testing.assert_allclose(den(buf.returns), flat(raw_returns), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(den(buf.values), flat(raw_values), rtol=1e-5, atol=1e-5)
    assert abs(float(buf.returns.mean())) < 1e-5  # normalized by the statistics of these very returns (debiased)
    np.testing.assert_array_equal(buf.advantages, flat(advantages))
    np.testing.assert_allclose(raw_returns - raw_values, advantages, atol=1e-5)  # SB3: returns = adv + values


def test_policy_values_in_reward_units_and_save_load_keeps_the_normalizer(tmp_path):
    model = _model()
    model.learn(total_timesteps=32)  # two updates
    pol = model.policy
    obs = torch.as_tensor(np.stack([StandInEnv()._obs()["pov"]] * 2)).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        _, v_act, _ = pol(obs, deterministic=True)
        v_norm, _, _ = pol.evaluate_actions(obs, torch.zeros(2))
        v_pred = pol.predict_values(obs)
    torch.testing.assert_close(v_act, pol.value_normalizer.denormalize(v_norm))
    torch.testing.assert_close(v_pred, v_act)
    mean, var = pol.value_normalizer.mean_var()
    assert float(var) != pytest.approx(1e-2)  # fitted, so a save that dropped it would show
    model.save(tmp_path / "m.zip")
    loaded = flat_ppo.FlatPPO.load(tmp_path / "m.zip", device="cpu")
    assert type(loaded.policy) is flat_ppo.ValueNormPolicy
    for name, buf in pol.value_normalizer.named_buffers():
        assert float(getattr(loaded.policy.value_normalizer, name)) == float(buf)
    with torch.no_grad():
        torch.testing.assert_close(loaded.policy.predict_values(obs), v_pred)


def test_method_registry_ppo_and_ppo_sb3():
    assert {"ppo", "ppo_sb3"} <= set(methods.METHODS)
    out = methods.method_overrides("ppo", {"gamma": 0.9, "seed": 2})
    recipe = flat_ppo.load_recipe()
    assert out["gamma"] == 0.9 and out["seed"] == 2 and out["method"] == "ppo"  # a given flag wins
    assert out["gae_lambda"] == recipe["gae_lambda"] == 0.65 and out["impala_chans"] == recipe["impala_chans"]
    assert "impala_chans" not in methods.method_overrides("ppo_sb3", {})
    assert methods.algorithm_class("ppo") is flat_ppo.FlatPPO
    from stable_baselines3 import PPO

    assert methods.algorithm_class("ppo_sb3") is PPO
    # legacy rule: a "ppo" run without the recipe keys was SB3's defaults
    assert methods.run_method({"method": "ppo"}) == "ppo_sb3"
    assert methods.run_method({"method": "ppo", "impala_chans": [8]}) == "ppo"
    assert methods.run_method({}) == "ptgm"


def test_recipe_file_with_an_unknown_key_is_an_error(tmp_path):
    bad = tmp_path / "ppo.yaml"
    bad.write_text(flat_ppo.RECIPE_PATH.read_text() + "\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"ppo\.yaml.*learning_rate"):
        flat_ppo.load_recipe(bad)


def _load_sample_efficiency():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "sample_efficiency.py"
    if str(path.parent) not in sys.path:  # as `python bench/sample_efficiency.py` does: it imports efficiency_report
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("sample_efficiency", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sample_efficiency"] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_reports_a_legacy_ppo_run_as_ppo_sb3_and_never_resumes_it_as_ppo(tmp_path):
    import json

    import yaml

    se = _load_sample_efficiency()
    assert se.METHODS == methods.METHODS  # one registry
    run = tmp_path / "crafter_iron" / "ppo" / "seed1" / "run_2026-11-22_04-53-06"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"method": "ppo", "env_steps": 200000}))  # SB3 defaults era
    (run / "results.json").write_text(json.dumps({"env_steps": 200000}))
    (run / "stats.csv").write_text("iteration,env_steps,success_rate\n1,200000,0.0\n")
    assert se.plan_run(tmp_path, "crafter_iron", "ppo", 1, 200000) == ("fresh", None)
    (entry,) = se.collect_runs(tmp_path, 10000)
    assert (entry["task"], entry["method"], entry["seed"]) == ("crafter_iron", "ppo_sb3", 1)
    new = run.with_name("run_2026-12-02_08-00-00")  # the recipe's run, started next to it
    new.mkdir()
    (new / "config.yaml").write_text(yaml.safe_dump({"method": "ppo", "impala_chans": [8, 16, 16]}))
    (new / "results.json").write_text(json.dumps({"env_steps": 200000}))
    assert se.plan_run(tmp_path, "crafter_iron", "ppo", 1, 200000)[0] == "done"
    assert [e["method"] for e in se.collect_runs(tmp_path, 10000)] == ["ppo"]
