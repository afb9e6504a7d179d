"""Goal codebook: generate_codebook.py outputs and the KMeansCodebook loader (spec §7, §14.6)."""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import yaml

from goal_prior import generate_codebook as gc
from goal_prior import goal_points
from goal_prior.codebook import KMeansCodebook, nearest_code
from steve1.data.EpisodeStorage import EpisodeStorage

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path, *extra):
    return gc.main(["--sampling", "syn", "--sampling_dir", str(tmp_path / "samplings"), "--output-dir",
                    str(tmp_path / "codebook"), "--n-codebook", "4", "--video-num", "-1", "--sample-interval", "3",
                    "--perplexity", "5", "--no-progress", *extra])


def test_tsne_codebook_files_format_and_codes_are_dataset_embeddings(tmp_path, episodes):
    # the summed actions (up to 16 per button) would swamp the small embeddings: weight them down
    meta = _run(tmp_path, "--action-scale", "0.02")
    out = tmp_path / "codebook" / "tsne_n4_s1"
    assert meta["out_dir"] == str(out)

    with open(out / "centers.pkl", "rb") as f:
        centers = pickle.load(f)
    assert isinstance(centers, list) and len(centers) == 4
    for c in centers:
        assert isinstance(c, np.ndarray) and c.shape == (1, 8) and c.dtype == np.float64

    # every code is a real dataset embedding: embeds[frame] of the episode the metadata names
    info = json.loads((out / "codebook.json").read_text())
    assert info["n_codes"] == 4 and info["embed_dim"] == 8 and info["label_space"] == "cosine"
    for k, code in enumerate(info["codes"]):
        embeds = EpisodeStorage(code["episode_dir"]).load_embeds()
        np.testing.assert_array_equal(centers[k], embeds[code["frame"]].astype(np.float64))
        assert code["clip"] == [code["frame"] - 15, code["frame"] + 1]
    # four well-separated goal types -> four codes of four different types (distinct argmax dimension)
    assert sorted(int(np.argmax(np.abs(c))) for c in centers) == [0, 1, 2, 3]
    assert 0.9 < info["label_agreement"] <= 1.0

    # the cluster picture and one GIF per code (its 16-frame clip)
    assert (out / "tsne.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for k, code in enumerate(info["codes"]):
        gif = iio.imread(out / f"center_{k}.gif", index=None)
        assert gif.shape == (16, 16, 16, 3)
        clip = EpisodeStorage(code["episode_dir"]).load_frame_array(tuple(code["clip"]))
        assert np.abs(gif.astype(int).mean(axis=(1, 2)) - clip.astype(int).mean(axis=(1, 2))).max() < 8
    assert not [p for p in os.listdir(out) if ".tmp-" in p]

    # the loader reads it back
    cb = KMeansCodebook(out / "centers.pkl")
    assert cb.N == 4 and cb.embed_dim == 8 and cb.codes.dtype == np.float32 and cb.codes.shape == (4, 8)
    assert cb.get_code(2).shape == (1, 8) and cb.get_code(2).dtype == np.float32
    np.testing.assert_allclose(cb.get_code(np.array([2])), centers[2].astype(np.float32))


def test_embedding_none_without_actions(tmp_path, episodes):
    _run(tmp_path, "--embedding", "none", "--no-action-features", "--gif-frames", "0")
    out = tmp_path / "codebook" / "none_n4_s1_noact"
    assert len(KMeansCodebook(out / "centers.pkl").codes) == 4
    assert (out / "pca.png").is_file() and not list(out.glob("*.gif"))
    with np.load(out / "kmeans.npz") as km:
        assert km["centroids"].shape == (4, 8) and not bool(km["use_action_features"])


def test_action_history_sums_current_and_15_previous_actions():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5))
    hist = goal_points.action_history(a)
    upstream = sum(np.roll(a, k, axis=0) for k in range(16))  # spec §7 'add' (wraps only in rows < 15)
    np.testing.assert_allclose(hist[15:], upstream[15:])
    np.testing.assert_allclose(hist[3], a[:4].sum(0))


def test_goal_points_stride_runs_over_the_concatenation(episodes):
    pts = goal_points.sample_goal_points(episodes[:3], video_num=-1, sample_interval=5, seed=1, use_action_features=True,
                                action_scale=1.0, progress=False)
    per_episode = 48 - 15
    total = 3 * per_episode
    assert len(pts) == len(range(0, total, 5))
    # point i of the concatenation, in the order the episodes were chosen
    chosen = pts.chosen_episodes
    for j, g in enumerate(range(0, total, 5)):
        assert pts.episode_dirs[j] == chosen[g // per_episode]
        assert pts.frames[j] == 15 + g % per_episode
    # features = [embedding ; 25-number MineRL action history]
    assert pts.features.shape == (len(pts), 8 + 25)
    np.testing.assert_array_equal(pts.features[:, :8], pts.embeds)


def test_bad_inputs_end_with_one_clear_line(tmp_path, episodes, capsys):
    def error(*flags) -> str:
        with pytest.raises(SystemExit) as exc:
            _run(tmp_path, *flags)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("generate_codebook.py: error: "), err
        return err[0]

    assert "goal points for 500 codes" in error("--n-codebook", "500", "--embedding", "none")
    assert re.search("--video-num 99: .*syn_train.txt lists 8 episodes", error("--video-num", "99"))
    assert "nope_train.txt" in error("--sampling", "nope")
    # an episode whose embedding step did not finish
    storage = EpisodeStorage(episodes[0])
    embeds = storage.load_embeds()
    embeds[20] = None
    storage.update_embeds(embeds)
    assert re.search(r"ep_000.*entry 20 is None", error())
    assert not (tmp_path / "codebook").exists()


def test_config_file_sets_flags_and_command_line_wins(tmp_path, episodes):
    minecraft = yaml.safe_load((REPO / gc.DEFAULT_CONFIG).read_text())
    cfg = tmp_path / "codebook.yaml"
    cfg.write_text(yaml.safe_dump({**minecraft, "n_codebook": 3, "embedding": "none", "sample_interval": 4,
                                   "no_action_features": True}))
    args = gc.parse_args(["--config", str(cfg), "--n-codebook", "2"])
    assert (args.n_codebook, args.embedding, args.sample_interval, args.no_action_features) == (2, "none", 4, True)
    assert gc.parse_args(["--config", str(cfg), "--n_codebook", "5"]).n_codebook == 5  # both spellings
    assert gc.parse_args(["--config", str(cfg), "--no-no_action_features"]).no_action_features is False
    # without --config: upstream's recipe (spec §7 table)
    args = gc.parse_args(["--no-action-features"])
    assert (args.embedding, args.n_codebook, args.seed, args.video_num, args.sample_interval, args.sampling,
            args.output_dir, args.no_action_features) == ("tsne", 100, 1, 50, 50, "seed1", "downloads/codebook/", True)
    cfg.write_text(yaml.safe_dump({**minecraft, "n_codebok": 3}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['n_codebok'\]"):
        gc.parse_args(["--config", str(cfg)])
    cfg.write_text(yaml.safe_dump({k: v for k, v in minecraft.items() if k != "perplexity"}))
    with pytest.raises(ValueError, match=r"\['perplexity'\] missing"):
        gc.parse_args(["--config", str(cfg)])


def test_resolved_config_is_written_beside_the_codebook(tmp_path, episodes):
    _run(tmp_path, "--embedding", "none", "--gif-frames", "0", "--seed", "2")
    written = yaml.safe_load((tmp_path / "codebook" / "none_n4_s2" / "config.yaml").read_text())
    assert written == {**yaml.safe_load((REPO / gc.DEFAULT_CONFIG).read_text()), "embedding": "none", "n_codebook": 4,
                       "seed": 2, "video_num": -1, "sample_interval": 3, "perplexity": 5.0, "gif_frames": 0,
                       "sampling": "syn", "sampling_dir": str(tmp_path / "samplings"),
                       "output_dir": str(tmp_path / "codebook")}
    # the file is a complete config: it reproduces the run's settings
    assert gc.parse_args(["--config", str(tmp_path / "codebook" / "none_n4_s2" / "config.yaml")]).seed == 2


def _write(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def test_codebook_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        KMeansCodebook(tmp_path / "missing.pkl")
    with pytest.raises(ValueError, match=r"dict.pkl.*non-empty list"):
        KMeansCodebook(_write(tmp_path / "dict.pkl", {"a": 1}))
    with pytest.raises(ValueError, match=r"mixed dimensions.*code 2 has D=5"):
        KMeansCodebook(_write(tmp_path / "mixed.pkl", [np.ones((1, 4)), np.ones((1, 4)), np.ones((1, 5))]))
    with pytest.raises(ValueError, match=r"code 1 has shape \(2, 4\)"):
        KMeansCodebook(_write(tmp_path / "shape.pkl", [np.ones((1, 4)), np.ones((2, 4))]))
    with pytest.raises(ValueError, match="not a readable pickle"):
        (tmp_path / "text.pkl").write_text("hello")
        KMeansCodebook(tmp_path / "text.pkl")
    cb = KMeansCodebook(_write(tmp_path / "ok.pkl", [np.ones((1, 4)), -np.ones((1, 4))]))
    with pytest.raises(IndexError, match="N=2"):
        cb.get_code(2)
    with pytest.raises(TypeError):
        cb.get_code(0.5)


def test_nearest_code_is_the_cosine_argmax():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(6, 5))
    goals = rng.normal(size=(3, 7, 5)) * rng.uniform(0.1, 10, size=(3, 7, 1))
    cos = np.einsum("btd,nd->btn", goals / np.linalg.norm(goals, axis=-1, keepdims=True),
                    codes / np.linalg.norm(codes, axis=-1, keepdims=True))
    np.testing.assert_array_equal(nearest_code(goals, codes), cos.argmax(-1))
    # not the Euclidean nearest code: a long vector along code 0's direction still maps to code 0
    codes2 = np.array([[1.0, 0.0], [5.0, 0.2]])
    assert nearest_code(np.array([[1.0, 0.0]]), codes2)[0] == 0
    with pytest.raises(ValueError, match="D=3 but the codebook has D=2"):
        nearest_code(np.ones((1, 3)), codes2)
