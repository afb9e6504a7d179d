"""Goal prior: dataset labels, model/loader, and training through the shared BC trainer (spec §8, §14.7)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from goal_prior import generate_codebook as gc
from goal_prior.dataset import MinecraftGoalPriorDataset
from goal_prior.load_prior import (GoalPriorPolicy, PriorSizeMismatchError, build_prior_policy, load_part_vpt_weights,
                                   make_prior_model, read_prior_info, read_prior_weights)
from goal_prior.train import main as train_main
from goal_prior.codebook import KMeansCodebook
from VPT.lib.loading import WeightsLoadError


def _codebook(tmp_path, *extra):
    meta = gc.main(["--sampling", "syn", "--sampling_dir", str(tmp_path / "samplings"), "--output-dir",
                    str(tmp_path / "codebook"), "--n-codebook", "4", "--video-num", "-1", "--sample-interval", "2",
                    "--embedding", "none", "--gif-frames", "0", "--no-progress", *extra])
    return meta["out_dir"] + "/centers.pkl"


def test_labels_are_the_cosine_argmax_of_the_relabelled_goal(tmp_path, episodes):
    path = _codebook(tmp_path, "--no-action-features")
    codes = KMeansCodebook(path).codes.astype(np.float64)
    ds = MinecraftGoalPriorDataset(episodes, T=16, min_btwn_goals=15, max_btwn_goals=20, goal_lead=0,
                                   codebook=path, seed=3)
    assert ds.n_codes == 4 and len(ds) == 8 * 3  # chunks start at 15, 31 and 48-16=32 in 48-frame episodes
    for idx in (0, 5, 11):
        chunk = ds.load_chunk(idx)
        obs, labels, firsts = ds.make_item(chunk)
        assert list(obs) == ["img"] and obs["img"].shape == (16, 16, 16, 3) and obs["img"].dtype == np.uint8
        assert labels.shape == (16, 1) and labels.dtype == np.int64
        assert firsts.shape == (16, 1) and firsts[0, 0] and not firsts[1:].any()
        goals = np.stack([chunk.embeds[g].reshape(-1).astype(np.float64) for g in chunk.goal_times])
        cos = (goals / np.linalg.norm(goals, axis=1, keepdims=True)) @ (codes / np.linalg.norm(codes, axis=1,
                                                                                                keepdims=True)).T
        np.testing.assert_array_equal(labels[:, 0], cos.argmax(1))
        assert (chunk.goal_times >= chunk.start + np.arange(16)).all()
    # the same item is the same sample (per-item RNG), labels re-drawn in another epoch
    np.testing.assert_array_equal(ds[5][1], ds[5][1])


def test_kmeans_label_space_uses_the_clustering_partition(tmp_path, episodes):
    path = _codebook(tmp_path, "--action-scale", "0.02")
    ds = MinecraftGoalPriorDataset(episodes, T=16, min_btwn_goals=15, max_btwn_goals=20, goal_lead=0, codebook=path,
                                   label_space="kmeans")
    chunk = ds.load_chunk(3)
    labels = ds.make_item(chunk)[1][:, 0]
    with np.load(tmp_path / "codebook" / "none_n4_s1" / "kmeans.npz") as km:
        centroids = km["centroids"]
    from tasks.minedojo import action_features

    actions = ds._storage(chunk.episode_dir).load_actions()
    A = np.stack([action_features(a) for a in actions])
    feats = np.stack([np.concatenate([chunk.embeds[g].reshape(-1), 0.02 * A[g - 15:g + 1].sum(0)])
                      for g in chunk.goal_times])
    np.testing.assert_array_equal(labels, ((feats[:, None] - centroids[None]) ** 2).sum(-1).argmin(1))
    # a t-SNE codebook cannot label new goals by cluster
    tsne = gc.main(["--sampling", "syn", "--sampling_dir", str(tmp_path / "samplings"), "--output-dir",
                    str(tmp_path / "codebook"), "--n-codebook", "4", "--perplexity", "5", "--video-num", "2", "--sample-interval", "2",
                    "--gif-frames", "0", "--no-progress"])["out_dir"]
    with pytest.raises(FileNotFoundError, match="--embedding none"):
        MinecraftGoalPriorDataset(episodes, T=16, min_btwn_goals=15, max_btwn_goals=20, goal_lead=0,
                                  codebook=tsne + "/centers.pkl", label_space="kmeans")


def test_codebook_of_other_dimension_is_a_clear_error(tmp_path, episodes):
    import pickle

    path = tmp_path / "cb5.pkl"
    path.write_bytes(pickle.dumps([np.ones((1, 5)), -np.ones((1, 5))]))
    ds = MinecraftGoalPriorDataset(episodes, T=16, min_btwn_goals=15, max_btwn_goals=20, goal_lead=0,
                                   codebook=str(path))
    with pytest.raises(ValueError, match=r"8-d but the codebook .*cb5.pkl holds 5-d codes"):
        ds[0]


def _save(policy, path):
    torch.save(policy.state_dict(), path)
    return str(path)


def test_prior_checkpoint_round_trip_and_size_mismatch(tmp_path, tiny_model):
    torch.manual_seed(0)
    prior = build_prior_policy(tiny_model, n_codes=5)
    assert isinstance(prior, GoalPriorPolicy) and prior.n_codes == 5 and prior.temperature == 2.0
    weights = _save(prior, tmp_path / "prior.weights")
    assert read_prior_info(weights).n_codes == 5 and read_prior_info(weights).temperature == 2.0
    state_dict, info = read_prior_weights(weights)
    assert "goal_prior_n_codes" not in state_dict and "pi_head.linear_layer.weight" in state_dict

    loaded = make_prior_model(tiny_model, weights, n_codes=5, device="cpu")
    assert not loaded.training
    img = torch.randint(0, 256, (2, 3, 16, 16, 3), dtype=torch.uint8)
    first = torch.zeros(2, 3, dtype=torch.bool)
    prior.eval()
    with torch.no_grad():
        (pd_a, _, _), _ = prior({"img": img}, first, prior.initial_state(2))
        (pd_b, _, _), _ = loaded({"img": img}, first, loaded.initial_state(2))
    assert pd_a.shape == (2, 3, 1, 5)
    torch.testing.assert_close(pd_a, pd_b)

    with pytest.raises(PriorSizeMismatchError, match=r"prior.weights' predicts 5 codes but the codebook "
                                                     r"'.*centers.pkl' has 4 codes"):
        make_prior_model(tiny_model, weights, n_codes=4, codebook_path=tmp_path / "centers.pkl")

    # an upstream prior file (no metadata buffers, 'policy.' prefix) loads; its temperature is the config's
    upstream = {"policy." + k: v for k, v in state_dict.items()}
    torch.save(upstream, tmp_path / "upstream.weights")
    assert read_prior_info(tmp_path / "upstream.weights").temperature is None
    loaded = make_prior_model(tiny_model, tmp_path / "upstream.weights", n_codes=5)
    assert loaded.temperature == 2.0

    # strict: a file missing a tensor is refused with a diagnosis
    del upstream["policy.net.final_ln.weight"]
    torch.save(upstream, tmp_path / "broken.weights")
    with pytest.raises(WeightsLoadError, match="final_ln"):
        make_prior_model(tiny_model, tmp_path / "broken.weights", n_codes=5)


def test_sequence_logprob_scores_each_row_under_its_own_distribution(tiny_model):
    prior = build_prior_policy(tiny_model, n_codes=5)
    pd = torch.log_softmax(torch.randn(3, 4, 1, 5), -1)
    labels = torch.randint(0, 5, (3, 4, 1))
    expected = pd[:, :, 0].gather(-1, labels).squeeze(-1)
    torch.testing.assert_close(prior.get_logprob_of_action(pd, labels), expected)
    torch.testing.assert_close(prior.get_logprob_of_action(pd[:, :1], labels[:, 0]), expected[:, 0])


def test_only_image_encoder_and_transformer_come_from_vpt(fixtures_dir):
    prior = build_prior_policy(fixtures_dir / "vpt_small.model", n_codes=7)
    before = {k: v.clone() for k, v in prior.state_dict().items()}
    copied = load_part_vpt_weights(prior, fixtures_dir / "vpt_small.weights")
    vpt = torch.load(fixtures_dir / "vpt_small.weights", weights_only=True)
    after = prior.state_dict()
    assert copied and all(k.startswith(("net.img_process.", "net.recurrent_layer.")) for k in copied)
    assert {k for k in vpt if k.startswith(("net.img_process.", "net.recurrent_layer."))} == set(copied)
    for k in copied:
        torch.testing.assert_close(after[k], vpt[k])
    for k in ("net.lastlayer.layer.weight", "net.final_ln.weight", "value_head.linear.weight"):
        torch.testing.assert_close(after[k], before[k])
        assert not torch.equal(after[k], vpt[k])
    assert after["pi_head.linear_layer.weight"].shape == (7, 64)


def test_vpt_weights_of_another_architecture_are_refused(tmp_path, tiny_model, fixtures_dir):
    prior = build_prior_policy(tiny_model, n_codes=3)
    with pytest.raises(WeightsLoadError, match="vpt_small.weights.*other shapes"):
        load_part_vpt_weights(prior, fixtures_dir / "vpt_small.weights")


def test_prior_loss_falls_through_the_shared_trainer(tmp_path, episodes, tiny_model):
    codebook = _codebook(tmp_path, "--no-action-features")
    out = tmp_path / "results" / "prior.weights"
    result = train_main([
        "--in_model", tiny_model, "--in_weights", "", "--codebook_path", codebook,
        "--sampling", "syn", "--sampling_dir", str(tmp_path / "samplings"), "--out_weights", str(out),
        "--checkpoint_dir", str(tmp_path / "ckpt"), "--T", "16", "--trunc_t", "8", "--batch_size", "4",
        "--gradient_accumulation_steps", "1", "--learning_rate", "3e-3", "--warmup_frames", "0",
        "--n_frames", str(8 * 4 * 60), "--num_workers", "0", "--val_every_nth", "1", "--val_freq", "20",
        "--val_freq_begin", "20", "--val_freq_switch_steps", "20", "--log_freq", "10", "--save_freq", "30",
        "--snapshot_every_n_frames", "1000000", "--weight_decay", "0.0"])
    first_val, best = result["val_losses"][0][1], result["best_val_loss"]
    # 8 frames per window, 4 codes: chance is 8 ln 4 = 11.1 nats; the frame colour gives the code away
    assert first_val > 9.0
    assert best < 0.25 * first_val
    info = read_prior_info(str(out).replace(".weights", "_best.weights"))
    assert info.n_codes == 4 and info.temperature == 2.0
    prior = make_prior_model(tiny_model, str(out).replace(".weights", "_best.weights"), n_codes=4,
                             codebook_path=codebook)
    assert prior.n_codes == 4


def test_crafter_configs_hold_only_known_flags():
    from goal_prior.generate_codebook import parse_args as codebook_args
    from goal_prior.train import parse_config as prior_config

    configs = Path(__file__).resolve().parents[2] / "configs" / "crafter"
    args = codebook_args(["--config", str(configs / "codebook.yaml")])
    assert args.embedding == "tsne" and args.sampling == "crafter_seed1"
    config, _, _ = prior_config(["--config", str(configs / "goal_prior.yaml")])
    assert config.T % config.trunc_t == 0 and config.codebook_path.endswith("centers.pkl")


def test_unlock_frames_and_next_unlock_goal_times():
    from steve1.data.minecraft_dataset import next_unlock_goal_times, unlock_frames

    ach = np.zeros((60, 3), np.int32)
    ach[20:, 0] = 1   # first unlock of achievement 0 shows at frame 20
    ach[30:, 0] = 2   # a second count of the same achievement is no unlock
    ach[45:, 2] = 1   # achievement 2 at frame 45
    np.testing.assert_array_equal(unlock_frames(ach), [20, 45])
    np.testing.assert_array_equal(unlock_frames(ach, first_only=False), [20, 30, 45])   # next_event: every rise
    hindsight = np.arange(100, 110)
    # frames 10..19: unlock 20 is 1..10 ahead; horizon 5 keeps the hindsight goal for frames 10..14
    got = next_unlock_goal_times(hindsight, 10, np.array([20, 45]), horizon=5)
    np.testing.assert_array_equal(got, [100, 101, 102, 103, 104, 20, 20, 20, 20, 20])
    # frame 20 itself looks past its own unlock to 45 (25 ahead); a frame before 15's unlock takes frame 15's clip
    np.testing.assert_array_equal(next_unlock_goal_times(np.array([7, 8]), 19, np.array([20, 45]), 30), [20, 45])
    np.testing.assert_array_equal(next_unlock_goal_times(np.array([7]), 0, np.array([3]), 30), [15])
    np.testing.assert_array_equal(next_unlock_goal_times(np.array([7]), 0, np.array([], np.int64), 30), [7])
    with pytest.raises(ValueError, match="achievements"):
        unlock_frames(np.zeros(5))


def test_next_unlock_labels_are_the_code_of_the_unlock_clip(tmp_path, episodes):
    from steve1.data.EpisodeStorage import EpisodeStorage

    dirs = episodes[:2]
    # give each 48-frame episode an achievement table: unlocks at frames 30 and 40 (episode 0), none (episode 1)
    for i, d in enumerate(dirs):
        st = EpisodeStorage(d)
        ach = np.zeros((48, 2), np.int32)
        if i == 0:
            ach[30:, 0] = 1
            ach[40:, 1] = 1
        np.savez_compressed(Path(d) / "infos.npz", achievements=ach)
        assert (st.load_info("achievements") == ach).all()
    path = _codebook(tmp_path, "--no-action-features")
    common = dict(T=16, min_btwn_goals=15, max_btwn_goals=20, goal_lead=0, codebook=path, seed=3)
    hind = MinecraftGoalPriorDataset(dirs, **common)
    unl = MinecraftGoalPriorDataset(dirs, relabeling="next_unlock", unlock_horizon=10, **common)
    np.testing.assert_array_equal(unl.episode_unlocks(dirs[0]), [30, 40])
    for idx in range(len(unl)):
        a, b = hind.load_chunk(idx), unl.load_chunk(idx)
        t = a.start + np.arange(16)
        if a.episode_dir == dirs[0]:
            u = np.where(t < 30, 30, 40)
            want = np.where((t < 40) & (u - t <= 10), u, a.goal_times)
        else:
            want = a.goal_times
        np.testing.assert_array_equal(b.goal_times, want)
        codes = KMeansCodebook(path).codes.astype(np.float64)
        goals = np.stack([b.embeds[g].reshape(-1).astype(np.float64) for g in b.goal_times])
        cos = (goals / np.linalg.norm(goals, axis=1, keepdims=True)) @ (codes / np.linalg.norm(
            codes, axis=1, keepdims=True)).T
        np.testing.assert_array_equal(unl.make_item(b)[1][:, 0], cos.argmax(1))
    assert any((unl.load_chunk(i).goal_times != hind.load_chunk(i).goal_times).any() for i in range(len(unl)))
    # next_event: every rise of a count is an event (a second count of achievement 0 at frame 35 here)
    ach = np.load(Path(dirs[0]) / "infos.npz")["achievements"]
    ach[35:, 0] = 2
    np.savez_compressed(Path(dirs[0]) / "infos.npz", achievements=ach)
    ev = MinecraftGoalPriorDataset(dirs, relabeling="next_event", unlock_horizon=10, **common)
    np.testing.assert_array_equal(ev.episode_unlocks(dirs[0]), [30, 35, 40])
    for idx in range(len(ev)):
        a, b = hind.load_chunk(idx), ev.load_chunk(idx)
        t = a.start + np.arange(16)
        if a.episode_dir == dirs[0]:
            u = np.select([t < 30, t < 35], [30, 35], 40)
            want = np.where((t < 40) & (u - t <= 10), u, a.goal_times)
        else:
            want = a.goal_times
        np.testing.assert_array_equal(b.goal_times, want)
    with pytest.raises(ValueError, match="relabeling"):
        MinecraftGoalPriorDataset(dirs, relabeling="next", **common)
    with pytest.raises(ValueError, match="unlock_horizon"):
        MinecraftGoalPriorDataset(dirs, relabeling="next_unlock", unlock_horizon=0, **common)
    # an episode without achievements (Minecraft data) is refused by name when its chunk is loaded
    os.remove(Path(dirs[1]) / "infos.npz")
    unl = MinecraftGoalPriorDataset(dirs, relabeling="next_unlock", **common)
    ep1 = next(i for i, (ep, _) in enumerate(unl.chunks) if ep == 1)
    with pytest.raises(ValueError, match="ep_001.*achievements"):
        unl.load_chunk(ep1)
