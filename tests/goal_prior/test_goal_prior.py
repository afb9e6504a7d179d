"""Goal prior: dataset labels, model/loader, and training through the shared BC trainer (spec §8, §14.7)."""
from __future__ import annotations

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
