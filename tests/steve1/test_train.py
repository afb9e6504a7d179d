"""The behaviour-cloning trainer (spec §6): the loss falls on a learnable goal-conditioned task, a resumed run equals
an uninterrupted one, a Crafter STEVE-1 trains from a Crafter dataset, and the pieces (optimiser groups, LR
schedule, validation schedule, config files, booleans)."""
import json
import os

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.bc_trainer import lr_at, param_groups, validation_due, weights_path
from steve1.train import main, parse_config

import tasks.crafter as _crafter_plugin

#: The Crafter plugin's action interface (tasks/crafter, interfaces.md); tests that read Crafter actions need it.
needs_crafter_actions = pytest.mark.skipif(
    not all(hasattr(_crafter_plugin, name) for name in ("ACTION_SPACE", "env_action_to_agent", "agent_action_to_env")),
    reason="tasks/crafter plugin has no ACTION_SPACE/env_action_to_agent/agent_action_to_env yet (helper C)")

N_CLASSES = 4
D = 16
TINY_MODEL = {
    "policy_kwargs": dict(attention_heads=2, attention_mask_style="clipped_causal", attention_memory_size=24,
                          hidsize=32, img_shape=[16, 16, 3], impala_chans=[4, 8, 8],
                          impala_kwargs={"post_pool_groups": 1}, impala_width=1,
                          init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1}, n_recurrence_layers=1,
                          only_img_input=True, pointwise_ratio=2, pointwise_use_activation=False,
                          recurrence_is_residual=True, recurrence_type="transformer", timesteps=8,
                          use_pointwise_layer=True, use_pre_lstm_ln=False),
    "pi_head_kwargs": {"temperature": 1.0},
}


def write_goal_episodes(root, n_episodes, length, size=16, seed=0):
    """Crafter-format episodes where the goal determines the action: episode e has class c = e % 4, every goal
    embedding of it is the class vector v_c (plus noise) and every action is c; frames are noise."""
    rng = np.random.default_rng(seed)
    class_vectors = rng.normal(size=(N_CLASSES, D)).astype(np.float32)
    dirs = []
    for e in range(n_episodes):
        c = e % N_CLASSES
        frames = rng.integers(0, 256, size=(length, size, size, 3), dtype=np.uint8)
        embeds = [None if t < 15 else (class_vectors[c] + 0.05 * rng.normal(size=D)).astype(np.float32)[None]
                  for t in range(length)]
        path = os.path.join(root, f"ep{e:03d}")
        EpisodeStorage(path).write_episode(frames, [c] * length, metadata={"sim": "crafter"}, embeds=embeds)
        dirs.append(path)
    return dirs


def write_sampling(sampling_dir, name, train, val):
    os.makedirs(sampling_dir, exist_ok=True)
    for split, dirs in (("train", train), ("val", val)):
        with open(os.path.join(sampling_dir, f"{name}_{split}.txt"), "w") as f:
            f.writelines(d + "\n" for d in dirs)


@pytest.fixture(scope="module")
def goal_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bc")
    dirs = write_goal_episodes(str(root / "episodes"), 12, 63)
    write_sampling(str(root / "samplings"), "toy", dirs[:8], dirs[8:])
    model = root / "tiny.yaml"
    model.write_text(yaml.safe_dump(TINY_MODEL))
    return root


def toy_argv(root, run, **overrides):
    flags = dict(sampling="toy", sampling_dir=str(root / "samplings"), in_model=str(root / "tiny.yaml"),
                 out_weights=str(root / run / "w" / "toy.weights"), checkpoint_dir=str(root / run / "ckpt"),
                 T=16, trunc_t=8, min_btwn_goals=15, max_btwn_goals=30, p_uncond=0.1, batch_size=4,
                 learning_rate=3e-3, n_frames=8 * 4 * 200, warmup_frames=8 * 4 * 20, weight_decay=0.01,
                 log_freq=25, save_freq=100, snapshot_every_n_frames=8 * 4 * 100, val_freq=100, val_freq_begin=100,
                 val_freq_switch_steps=100, val_every_nth=1, num_workers=0, seed=3)
    flags.update(overrides)
    argv = []
    for k, v in flags.items():
        argv += [f"--{k}", str(v)]
    return argv


@needs_crafter_actions
def test_loss_falls_and_outputs_load_into_the_agent(goal_data):
    out = main(toy_argv(goal_data, "fall"))
    losses = [loss for _, loss in out["train_losses"]]
    assert out["n_steps"] == 200 and out["frames"] == 200 * 32
    # log(17) * 8 frames ~ 22.7 at the start; the goal tells the action except in dropped-out chunks
    assert losses[0] > 15 and losses[-1] < 0.4 * losses[0], losses
    assert out["final_val_loss"] < 0.4 * losses[0]
    run = goal_data / "fall"
    out_weights = str(run / "w" / "toy.weights")
    for tag in ("latest", "best", "snapshot_3200", "snapshot_6400"):
        assert os.path.isfile(weights_path(out_weights, tag)), tag
    best = json.loads((run / "w" / "toy_best.json").read_text())
    assert best["best_val_loss"] == pytest.approx(out["best_val_loss"])
    args = yaml.safe_load((run / "ckpt" / "args.yaml").read_text())
    assert args["T"] == 16 and args["save_each_val"] is False
    # the weights are plain state dicts that the agent loads strictly
    from steve1.MineRLConditionalAgent import MineRLConditionalAgent
    from VPT.lib.loading import load_model_config

    policy_kwargs, pi_head_kwargs = load_model_config(goal_data / "tiny.yaml")
    agent = MineRLConditionalAgent(None, "cpu", policy_kwargs, pi_head_kwargs, goal_dim=D, sim="crafter")
    assert "strictly" in agent.load_weights(weights_path(out_weights, "best"))
    # TensorBoard tags
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "ckpt" / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"losses/train_loss", "losses/val_loss", "charts/learning_rate", "charts/frames_per_second"} <= tags
    # running the finished run again resumes at its end: no more training, one more validation
    again = main(toy_argv(goal_data, "fall"))
    assert again["n_steps"] == 200 and again["train_losses"] == []
    assert again["final_val_loss"] == pytest.approx(out["final_val_loss"], abs=1e-5)


class _Crash(Exception):
    pass


@needs_crafter_actions
def test_resume_continues_to_the_same_state(goal_data, monkeypatch):
    """T=24 / trunc_t=8 (3 windows per chunk), accumulation 2, checkpoint every 4 window steps (mid-chunk); the
    first run crashes after step 9, the second resumes from step 8 and must end exactly where an uninterrupted run
    ends."""
    common = dict(T=24, n_frames=8 * 4 * 16, warmup_frames=8 * 4 * 4, gradient_accumulation_steps=2, save_freq=4,
                  log_freq=1, val_freq=5, val_freq_begin=5, val_freq_switch_steps=5, snapshot_every_n_frames=10**9)
    ref = main(toy_argv(goal_data, "ref", **common))

    import steve1.data.minecraft_dataset as mds

    calls = {"n": 0}
    original = mds.MinecraftDataset.load_chunk

    def crashing_load_chunk(self, idx):
        if self.episode_dirs[0].endswith("ep000"):  # the training set (the val set starts at ep008)
            calls["n"] += 1
            if calls["n"] > 4 * 3:  # loading the 4th batch of 4 chunks (for steps 10-12): crash
                raise _Crash()
        return original(self, idx)

    monkeypatch.setattr(mds.MinecraftDataset, "load_chunk", crashing_load_chunk)
    with pytest.raises(_Crash):
        main(toy_argv(goal_data, "resumed", **common))
    monkeypatch.setattr(mds.MinecraftDataset, "load_chunk", original)
    ckpt = json.loads((goal_data / "resumed" / "ckpt" / "checkpoint.json").read_text())
    assert ckpt["n_steps"] == 8
    resumed = main(toy_argv(goal_data, "resumed", **common))
    assert resumed["n_steps"] == ref["n_steps"] == 16
    assert resumed["train_losses"][0][0] == 9  # continued from step 8
    ref_losses = dict(ref["train_losses"])
    for step, loss in resumed["train_losses"]:
        assert loss == pytest.approx(ref_losses[step], abs=1e-6), step
    a = torch.load(weights_path(str(goal_data / "ref" / "w" / "toy.weights"), "latest"), weights_only=True)
    b = torch.load(weights_path(str(goal_data / "resumed" / "w" / "toy.weights"), "latest"), weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)


@needs_crafter_actions
def test_crafter_steve1_trains_from_a_crafter_dataset(tmp_path, capsys):
    """A few window steps of the shipped Crafter configs (configs/crafter/steve1.yaml, vpt_small.yaml) on a tiny
    play dataset made by tasks/crafter/generate_play_data.py, with random goal embeddings written by
    EpisodeStorage.update_embeds (the embedding step is another stage)."""
    from steve1.data.EpisodeStorage import list_valid_episodes
    from tasks.crafter import generate_play_data

    data_dir = tmp_path / "dataset_crafter"
    generate_play_data.main(["--out_dir", str(data_dir), "--num_episodes", "3", "--max_episode_len", "80",
                             "--workers", "1", "--seed", "0"])
    rng = np.random.default_rng(0)
    dirs = []
    for path, length in list_valid_episodes(data_dir, for_training=False):
        EpisodeStorage(path).update_embeds(
            [None if t < 15 else rng.normal(size=(1, 512)).astype(np.float32) for t in range(length)])
        dirs.append(path)
    assert len(dirs) == 3
    write_sampling(str(tmp_path / "s"), "crafter_toy", dirs[:2], dirs[2:])
    out = main(["--config", "configs/crafter/steve1.yaml", "--sampling", "crafter_toy",
                "--sampling_dir", str(tmp_path / "s"), "--T", "32", "--trunc_t", "16", "--batch_size", "2",
                "--n_frames", str(16 * 2 * 4), "--warmup_frames", "32", "--num_workers", "0",
                "--min_btwn_goals", "15", "--max_btwn_goals", "30",
                "--out_weights", str(tmp_path / "w" / "crafter.weights"),
                "--checkpoint_dir", str(tmp_path / "ckpt"), "--log_freq", "1"])
    assert out["n_steps"] == 4
    assert all(np.isfinite(loss) for _, loss in out["train_losses"])
    assert out["train_losses"][0][1] == pytest.approx(16 * np.log(17), rel=0.2)  # ~uniform at init, 16-frame window
    state = torch.load(weights_path(str(tmp_path / "w" / "crafter.weights"), "latest"), weights_only=True)
    assert state["net.mineclip_embed_linear.weight"].shape == (256, 512)
    assert state["pi_head.linear_layer.weight"].shape == (17, 256)
    # action_loss_weights naming no Crafter action: one line naming the key, before anything is written
    capsys.readouterr()  # the run's progress bars
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load(open("configs/crafter/steve1.yaml")),
                                   "action_loss_weights": {"make_wood_pickaxe": 4.0, "craft_boat": 4.0}}))
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(bad), "--sampling", "crafter_toy", "--sampling_dir", str(tmp_path / "s"),
              "--T", "32", "--trunc_t", "16", "--min_btwn_goals", "15", "--max_btwn_goals", "30", "--out_weights", str(tmp_path / "w2" / "crafter.weights"), "--checkpoint_dir", str(tmp_path / "ck2")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad} key 'action_loss_weights': action_loss_weights names ['craft_boat']" in err[0]
    assert not (tmp_path / "ck2").exists() and not (tmp_path / "w2").exists()


def test_adamw_groups():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(1, 4), nn.Linear(4, 4), nn.LayerNorm(4),
                          nn.Embedding(5, 4))
    decay, no_decay = param_groups(model, 0.1)
    ids = lambda group: {id(p) for p in group["params"]}  # noqa: E731
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert ids(decay) == {id(model[0].weight), id(model[1].weight), id(model[2].weight)}
    assert ids(no_decay) == {id(model[0].bias), id(model[1].bias), id(model[2].bias), id(model[3].weight),
                             id(model[3].bias), id(model[4].weight)}


def test_lr_schedule_and_validation_schedule():
    lr, warm, n = 4e-5, 10_000_000, 100_000_000
    assert lr_at(0, lr, warm, n) == 0.0
    assert lr_at(warm // 2, lr, warm, n) == pytest.approx(lr / 2)
    assert lr_at(warm, lr, warm, n) == pytest.approx(lr)
    assert lr_at(n, lr, warm, n) == pytest.approx(0.0245 * lr, abs=1e-3 * lr)  # spec §6: ~0.0245 lr_max at stop
    assert lr_at(int(1.2 * n), lr, warm, n) == 0.0
    # PTGM script: every 100 steps until step 500, then every 1000 (spec §6)
    due = [n for n in range(1, 3000) if validation_due(n, 1000, 100, 500)]
    assert due == [1, 101, 201, 301, 401, 1001, 2001]


def test_config_file_booleans_and_overrides(tmp_path):
    """A config file must give every setting (here: the Minecraft one with 5 keys changed); flags override it;
    booleans are real; unknown keys and non-booleans are errors naming the file and key."""
    base = yaml.safe_load(open("configs/minecraft/steve1.yaml"))
    changed = "T: 64\ntrunc_t: 16\nlearning_rate: 1e-4\nsave_each_val: true\nn_frames: 1_000\n"  # 1e-4: str to PyYAML
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({k: v for k, v in base.items() if k not in yaml.safe_load(changed)}) + changed)
    args, sources, _ = parse_config(["--config", str(cfg), "--T", "32"])
    assert args.T == 32 and args.learning_rate == 1e-4 and args.save_each_val is True and args.n_frames == 1000
    assert sources["T"] == "--T" and sources["n_frames"] == f"{cfg} key 'n_frames'"
    args, _, _ = parse_config(["--config", str(cfg), "--no-save_each_val"])
    assert args.save_each_val is False
    args, _, run = parse_config(["--reset_checkpoint_dir"])
    assert run.reset_checkpoint_dir is True and args.save_each_val is False
    with pytest.raises(SystemExit):  # upstream's type=bool accepted "False" as True; now a value is an error
        parse_config(["--save_each_val", "False"])
    cfg.write_text(yaml.safe_dump({**base, "not_a_flag": 1}))
    with pytest.raises(ValueError, match="unknown flag 'not_a_flag'"):
        parse_config(["--config", str(cfg)])
    cfg.write_text(yaml.safe_dump({**base, "save_each_val": "no"}))
    with pytest.raises(ValueError, match="true or false"):
        parse_config(["--config", str(cfg)])
    cfg.write_text(yaml.safe_dump({k: v for k, v in base.items() if k != "goal_lead"}))
    with pytest.raises(ValueError, match=r"key\(s\) \['goal_lead'\] missing"):  # no value in code to fall back on
        parse_config(["--config", str(cfg)])
    # the shipped Crafter config parses and names the shipped model config
    args, _, _ = parse_config(["--config", "configs/crafter/steve1.yaml"])
    assert args.in_model == "configs/crafter/vpt_small.yaml" and args.T % args.trunc_t == 0


def test_default_config_holds_the_upstream_minecraft_values():
    """Without --config the trainer reads configs/minecraft/steve1.yaml: upstream PTGM's argparse defaults (spec §6
    table, "default" column)."""
    args, sources, run = parse_config([])
    assert run.config.endswith("configs/minecraft/steve1.yaml") and sources["T"].endswith("steve1.yaml key 'T'")
    assert (args.seed, args.sampling, args.T, args.trunc_t, args.batch_size, args.gradient_accumulation_steps) == (
        42, "seed0", 300, 10, 4, 1)
    assert (args.min_btwn_goals, args.max_btwn_goals, args.goal_lead, args.p_uncond, args.val_every_nth) == (
        30, 100, 0, 0.1, 10)
    assert (args.learning_rate, args.n_frames, args.warmup_frames, args.weight_decay, args.max_grad_norm) == (
        1e-6, 100_000_000, 10_000_000, 0.039428, 5.0)
    assert (args.log_freq, args.save_freq, args.snapshot_every_n_frames, args.val_freq, args.val_freq_begin,
            args.val_freq_switch_steps, args.save_each_val) == (100, 1000, 10_000_000, 3500, 3500, 3500, False)
    assert (args.in_model, args.in_weights, args.checkpoint_dir) == ("data/weights/vpt/2x.model", None,
                                                                      "data/training_checkpoint")


def test_bad_flag_combinations_end_with_one_line(goal_data, capsys):
    for overrides, expected in [(dict(T=20), "--T: T must be a multiple of trunc_t = 8 (from --trunc_t), got 20"),
                                (dict(gradient_accumulation_steps=3, save_freq=100),
                                 "--save_freq: save_freq must be a multiple of gradient_accumulation_steps = 3")]:
        with pytest.raises(SystemExit) as exc:
            main(toy_argv(goal_data, "bad", **overrides))
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"train.py: error: {expected}"), err
    assert not (goal_data / "bad").exists()
    # a goal_codebook that is not a codebook: one line naming the flag, nothing written
    from goal_prior.codebook import write_codebook

    junk = goal_data / "junk_centers.pkl"
    junk.write_bytes(b"not a pickle")
    other_size = goal_data / "centers_d5.pkl"
    write_codebook(other_size, np.eye(5, dtype=np.float32))
    for path, expected in [(goal_data / "missing.pkl", "--goal_codebook"), (junk, "--goal_codebook"),
                           (other_size, f"--goal_codebook: goal_codebook codes are 5-d, but the episodes' goal "
                                        f"embeddings are {D}-d")]:
        with pytest.raises(SystemExit) as exc:
            main(toy_argv(goal_data, "bad", goal_codebook=str(path)))
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
    assert not (goal_data / "bad").exists()
