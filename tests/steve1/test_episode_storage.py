"""EpisodeStorage (spec §3.5): round trip in every frame format, atomic writes, clear errors."""
import json
import os
import pickle

import numpy as np
import pytest

from steve1.data.EpisodeStorage import (EpisodeReadError, EpisodeStorage, list_episode_dirs,
                                        list_valid_episodes)


def _episode(length=20, size=16, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.repeat(np.repeat(rng.integers(0, 256, (length, size // 4, size // 4, 3), dtype=np.uint8), 4, 1), 4, 2)
    actions = [int(a) for a in rng.integers(0, 17, length)]
    infos = {"inventory": rng.integers(0, 10, (length, 16)).astype(np.uint8),
             "player_pos": rng.integers(0, 64, (length, 2)).astype(np.int16)}
    return frames, actions, infos


@pytest.mark.parametrize("fmt", ["npz", "npy"])
def test_lossless_round_trip(tmp_path, fmt):
    frames, actions, infos = _episode()
    path = tmp_path / "with.dots" / "ep.0"  # '.' in paths is fine (spec §12.1.16)
    EpisodeStorage(path).write_episode(frames, actions, metadata={"sim": "crafter", "world_seed": 3}, infos=infos,
                                       frame_format=fmt)
    ep = EpisodeStorage(path, check_valid=True)
    assert ep.frame_format == fmt and ep.get_len() == len(ep) == 20
    np.testing.assert_array_equal(ep.load_frame_array(), frames)
    np.testing.assert_array_equal(ep.load_frame_array((5, 9)), frames[5:9])
    listed = ep.load_frames(only_range=(5, 9))
    assert len(listed) == 20 and listed[4] is None and listed[9] is None
    np.testing.assert_array_equal(listed[5], frames[5])
    np.testing.assert_array_equal(ep.load_frames(to_rgb=False)[0], frames[0][..., ::-1])
    assert ep.load_actions() == actions
    assert ep.load_metadata() == {"sim": "crafter", "world_seed": 3}
    loaded = ep.load_infos()
    assert set(loaded) == set(infos)
    for k in infos:
        np.testing.assert_array_equal(loaded[k], infos[k])
        assert loaded[k].dtype == infos[k].dtype


def test_mp4_round_trip_is_official_format(tmp_path):
    frames = np.zeros((20, 32, 32, 3), np.uint8)
    frames[:, :, :, 0] = 200  # red, to catch an RGB/BGR swap
    frames[10:, :16] = 40
    ep = EpisodeStorage(tmp_path / "ep")
    ep.write_episode(frames, [{"attack": 1}] * 20, frame_format="mp4")
    assert (tmp_path / "ep" / "frames.mp4").is_file()
    back = ep.load_frame_array()
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 8  # lossy, but the channels are in place
    assert back[0, :, :, 0].mean() > 150 and back[0, :, :, 2].mean() < 50


def test_buffered_append_and_embeddings(tmp_path):
    frames, actions, _ = _episode(length=18)
    ep = EpisodeStorage(tmp_path / "ep")
    for t in range(18):
        ep.append(frames[t], actions[t], None if t < 15 else np.full((1, 8), t, np.float32), info={"t": t})
    ep.save_episode(metadata={"contractor_version": "8.x"}, frame_format="npz")
    ep = EpisodeStorage(tmp_path / "ep")
    embeds = ep.load_embeds()
    assert embeds[:15] == [None] * 15 and embeds[17].shape == (1, 8) and embeds[17][0, 0] == 17
    np.testing.assert_array_equal(ep.load_infos()["t"], np.arange(18))
    assert ep.is_valid(for_training=True, min_frames_training=16)


def test_episode_without_embeds_is_valid_but_not_for_training(tmp_path):
    frames, actions, _ = _episode()
    ep = EpisodeStorage(tmp_path / "ep")
    ep.write_episode(frames, actions)
    assert ep.is_valid()
    assert not ep.is_valid(for_training=True, min_frames_training=16)
    assert "embeds_attn.pkl" in ep.invalid_reason(for_training=True, min_frames_training=16)
    assert ep.is_valid(for_training=True, min_frames_training=16, require_embeds=False)
    assert not ep.is_valid(for_training=True, min_frames_training=21, require_embeds=False)
    embeds = [None] * 15 + [np.ones((1, 4), np.float32)] * 5
    ep.update_embeds(embeds)
    assert ep.is_valid(for_training=True, min_frames_training=16)
    assert len(ep.load_embeds()) == 20
    with pytest.raises(ValueError, match="19 embeddings"):
        ep.update_embeds(embeds[:19])
    assert not [p for p in os.listdir(tmp_path / "ep") if p.startswith(".")]  # no temporary files left


def test_interrupted_write_leaves_nothing_valid(tmp_path, monkeypatch):
    frames, actions, _ = _episode()
    path = tmp_path / "ep"

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pickle, "dump", crash)  # dies after the frames were written
    with pytest.raises(KeyboardInterrupt):
        EpisodeStorage(path).write_episode(frames, actions)
    monkeypatch.undo()
    assert not path.exists() and not EpisodeStorage(path).is_valid()
    assert os.listdir(tmp_path) == []  # the temporary directory was removed

    # a killed process leaves its hidden temporary directory behind: never listed, never valid
    (tmp_path / ".ep.tmp-123-abc").mkdir()
    (tmp_path / ".ep.tmp-123-abc" / "frames.npz").write_bytes(b"partial")
    assert list_episode_dirs(tmp_path) == []
    assert not EpisodeStorage(tmp_path / ".ep.tmp-123-abc").is_valid()

    EpisodeStorage(path).write_episode(frames, actions)
    assert EpisodeStorage(path).is_valid()
    with pytest.raises(FileExistsError):
        EpisodeStorage(path).write_episode(frames, actions)


def test_incomplete_directory_is_invalid(tmp_path):
    frames, actions, _ = _episode()
    ep = EpisodeStorage(tmp_path / "ep")
    ep.write_episode(frames, actions)
    os.remove(tmp_path / "ep" / "len.txt")
    assert not ep.is_valid() and "len.txt" in ep.invalid_reason()
    with pytest.raises(EpisodeReadError, match="len.txt"):
        EpisodeStorage(tmp_path / "ep", check_valid=True)


def test_read_errors_name_the_file(tmp_path):
    frames, actions, _ = _episode()
    ep = EpisodeStorage(tmp_path / "ep")
    ep.write_episode(frames, actions)
    (tmp_path / "ep" / "frames.npz").write_bytes(b"not a zip file")
    with pytest.raises(EpisodeReadError, match="frames.npz"):
        ep.load_frames()
    (tmp_path / "ep" / "actions.pkl").write_bytes(b"garbage")
    with pytest.raises(EpisodeReadError, match="actions.pkl"):
        ep.load_actions()
    with pytest.raises(EpisodeReadError, match="infos.npz"):
        ep.load_infos()
    with pytest.raises(EpisodeReadError, match=r"range \[0, 99\)"):
        ep.load_frame_array((0, 99))


def test_mismatched_lengths_are_rejected(tmp_path):
    frames, actions, infos = _episode()
    with pytest.raises(ValueError, match="lengths differ"):
        EpisodeStorage(tmp_path / "a").write_episode(frames, actions[:-1])
    with pytest.raises(ValueError, match="lengths differ"):
        EpisodeStorage(tmp_path / "b").write_episode(frames, actions, infos={"x": np.zeros(3)})
    with pytest.raises(ValueError, match="uint8"):
        EpisodeStorage(tmp_path / "c").write_episode(frames.astype(np.float32), actions)
    assert os.listdir(tmp_path) == []


def test_update_metadata_and_listing(tmp_path):
    for name, length in (("b", 20), ("a", 30), ("short", 10)):
        frames, actions, _ = _episode(length=length)
        EpisodeStorage(tmp_path / name).write_episode(frames, actions, metadata={"n": length})
    (tmp_path / "notes.txt").write_text("x")
    EpisodeStorage(tmp_path / "a").update_metadata({"embedder": "crafterclip"})
    assert json.loads((tmp_path / "a" / "metadata.json").read_text()) == {"n": 30, "embedder": "crafterclip"}
    assert list_episode_dirs(tmp_path) == [str(tmp_path / n) for n in ("a", "b", "short")]
    assert list_valid_episodes(tmp_path, for_training=False) == [(str(tmp_path / "a"), 30), (str(tmp_path / "b"), 20)]
    assert list_valid_episodes(tmp_path, min_frames_training=25, require_embeds=False) == [(str(tmp_path / "a"), 30)]
