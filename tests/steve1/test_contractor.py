"""The contractor data pipeline (spec §3.1-§3.6): JSONL -> MineRL actions, mp4 -> frames, cursor overlay, index
handling, sliding-window goal embeddings and the ``convert_from_contractor`` CLI on synthetic contractor episodes
written in the real format (640x360 h264 mp4 + JSONL records), with a tiny random MineCLIP."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest
import torch

import tasks
from steve1.data import contractor as C
from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.generation import convert_from_contractor as convert
from steve1.data.generation.draw_cursor import draw_cursor
from steve1.data.generation.window_embedding import embed_episode_windows
from steve1.mineclip import MineCLIP, MineCLIPEmbedder

#: CLIP sizes of the small MineCLIP of fixtures §7 (weights here are random).
SMALL_CLIP_CONFIG = dict(context_length=77, embed_dim=64, image_resolution=224, text_heads=2, text_layers=2,
                         text_width=64, vision_layers=2, vision_patch_size=16, vision_width=128, vocab_size=1000)
#: MineCLIP constructor overrides of that small model.
SMALL_MINECLIP = dict(clip_config=SMALL_CLIP_CONFIG, hidden_dim=64, image_feature_dim=64)


# ---------------------------------------------------------------------------------------------------------------
# synthetic contractor episodes in the real format
def record(keys=(), dx=0.0, dy=0.0, buttons=(), new_buttons=(), hotbar=0, gui=False, x=640.0, y=360.0) -> dict:
    """One JSONL record with the fields of real contractor data (plus a few the conversion ignores)."""
    return {
        "mouse": {"x": x, "y": y, "dx": float(dx), "dy": float(dy), "scaledX": x - 640, "scaledY": y - 360,
                  "dwheel": 0.0, "buttons": list(buttons), "newButtons": list(new_buttons)},
        "keyboard": {"keys": [f"key.keyboard.{k}" for k in keys], "newKeys": [], "chars": ""},
        "isGuiOpen": gui, "isGuiInventory": gui, "hotbar": hotbar, "yaw": 0.0, "pitch": 0.0,
        "xpos": 0.0, "ypos": 64.0, "zpos": 0.0, "tick": 0, "milli": 0,
    }


def gray(i: int) -> int:
    """Grey level of the synthetic frame of step i (survives h264 to +-2)."""
    return 20 + 5 * (i % 46)


def write_episode(folder: Path, name: str, records, frame_fn=None, faststart=False) -> tuple[Path, Path]:
    """Write <name>.mp4 (640x360 h264, 20 fps, one frame per record) and <name>.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    video, jsonl = folder / f"{name}.mp4", folder / f"{name}.jsonl"
    writer = imageio.get_writer(video, fps=20, codec="libx264", macro_block_size=8, ffmpeg_log_level="error",
                                output_params=["-movflags", "+faststart"] if faststart else None)
    for i in range(len(records)):
        writer.append_data(frame_fn(i) if frame_fn else np.full((360, 640, 3), gray(i), np.uint8))
    writer.close()
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    return video, jsonl


def sync_episode() -> tuple[list, list]:
    """Records exercising every rule, and the expected (step index, env action overrides) of the kept steps."""
    r, expected = [], []

    def add(rec, kept=None):
        if kept is not None:
            expected.append((len(r), kept))
        r.append(rec)

    add(record(buttons=[0], new_buttons=[0]))                                   # 0: stuck attack only -> null
    add(record(keys="w", buttons=[0]), {"forward": 1})                           # 1: attack still ignored
    add(record())                                                                # 2: null
    add(record(buttons=[0], new_buttons=[0]), {"attack": 1})                     # 3: pressed again -> attack
    add(record(keys=["space", "left.shift", "x"]), {"jump": 1, "sneak": 1})      # 4: x is unmapped
    add(record(dx=10, dy=-3), {"camera": [-0.45, 1.5]})                          # 5: camera, 0.15 deg/px
    add(record(keys="3", hotbar=2), {"hotbar.3": 1})                             # 6: hotbar key + change
    add(record(hotbar=4))                                                        # 7: hotbar-only change: null
    add(record(keys="e", hotbar=4, gui=True, x=640, y=360), {"inventory": 1})    # 8: GUI opens, cursor drawn
    for k in range(4):                                                           # 9-12: cursor moves in the GUI
        add(record(dx=40, hotbar=4, gui=True, x=680 + 40 * k, y=360), {"camera": [0.0, 6.0]})
    add(record(dx=2000, hotbar=4, buttons=[1], new_buttons=[1]), {"use": 1, "camera": [0.0, 0.0]})  # 13: glitch
    add(record(keys=["escape", "q", "f", "left.control"], buttons=[2], hotbar=4),
        {"ESC": 1, "drop": 1, "swapHands": 1, "sprint": 1, "pickItem": 1})       # 14
    for k in range(25):                                                          # 15-39, every 5th null
        if k % 5 == 4:
            add(record(hotbar=4))
        else:
            add(record(keys=["w", "a", "s", "d"][k % 4], hotbar=4), {["forward", "left", "back", "right"][k % 4]: 1})
    return r, expected


def expected_action(overrides: dict) -> dict:
    action = C.noop_action()
    for key, value in overrides.items():
        action[key] = np.asarray(value, np.float64) if key == "camera" else value
    return action


def assert_actions_equal(actual: dict, expected: dict) -> None:
    assert list(actual) == list(C.ACTION_KEYS)
    for key in C.ACTION_KEYS:
        if key == "camera":
            np.testing.assert_allclose(actual[key], expected[key], atol=1e-12, err_msg=key)
        else:
            assert actual[key] == expected[key], key


@pytest.fixture(scope="module")
def tiny_mineclip(tmp_path_factory) -> Path:
    """A random MineCLIP with the small CLIP sizes of fixtures §7, saved in the official attn.pth layout."""
    torch.manual_seed(0)
    model = MineCLIP(**SMALL_MINECLIP)
    path = tmp_path_factory.mktemp("mineclip") / "tiny_attn.pth"
    torch.save({"state_dict": {"model." + k: v for k, v in model.state_dict().items()}}, path)
    return path


def tiny_embedder(path: Path) -> MineCLIPEmbedder:
    return MineCLIPEmbedder.from_checkpoint(path, md5=None, **SMALL_MINECLIP)


def cli_args(source_dir, output_dir, mineclip_path, *extra) -> list:
    return ["--source_dir", str(source_dir), "--index", "8.x", "--output_dir", str(output_dir),
            "--num_episodes", "-1", "--min_timesteps", "20", "--batch_size", "4", "--mineclip_path",
            str(mineclip_path), "--mineclip_md5", "none", "--mineclip_config", json.dumps(SMALL_MINECLIP),
            "--device", "cpu", *extra]


# ---------------------------------------------------------------------------------------------------------------
# JSONL -> env actions
def test_json_action_conversion_keys_buttons_camera():
    action, is_null = C.json_action_to_env_action(
        record(keys=["w", "space", "9", "left.control", "z"], buttons=[0, 1, 2], dx=-7, dy=13))
    assert not is_null
    assert_actions_equal(action, expected_action({"forward": 1, "jump": 1, "hotbar.9": 1, "sprint": 1, "attack": 1,
                                                  "use": 1, "pickItem": 1, "camera": [13 * 0.15, -7 * 0.15]}))
    assert action["camera"].dtype == np.float64
    # upstream's integer camera: truncated toward zero to whole degrees, and int64
    legacy, _ = C.json_action_to_env_action(record(dx=-7, dy=13), legacy_int_camera=True)
    assert legacy["camera"].dtype == np.int64 and legacy["camera"].tolist() == [1, -1]
    small, small_null = C.json_action_to_env_action(record(dx=5, dy=-4), legacy_int_camera=True)
    assert small["camera"].tolist() == [0, 0] and not small_null  # 0.75 deg lost by upstream, still not null
    # glitch filter (> 180 degrees) applies to the float camera only
    glitch, _ = C.json_action_to_env_action(record(dx=1300, dy=-10))
    np.testing.assert_allclose(glitch["camera"], [-1.5, 0.0])
    legacy_glitch, _ = C.json_action_to_env_action(record(dx=1300), legacy_int_camera=True)
    assert legacy_glitch["camera"].tolist() == [0, 195]
    # null: nothing mapped, no motion, no button
    assert C.json_action_to_env_action(record(keys=["z", "tab"]))[1]
    assert not C.json_action_to_env_action(record(keys=["escape"]))[1]


def test_episode_rules_stuck_attack_and_hotbar():
    records = [record(buttons=[0], new_buttons=[0]), record(buttons=[0]), record(buttons=[0], new_buttons=[0]),
               record(buttons=[0], hotbar=3), record(hotbar=3), record(hotbar=0, keys="w")]
    out = list(C.iter_env_actions(records))
    assert [a["attack"] for a, _ in out] == [0, 0, 1, 1, 0, 0]
    assert [null for _, null in out] == [True, True, False, False, True, False]
    assert out[3][0]["hotbar.4"] == 1 and out[5][0]["hotbar.1"] == 1
    assert sum(out[4][0][f"hotbar.{i}"] for i in range(1, 10)) == 0  # same slot: no hotbar action
    assert records[1]["mouse"]["buttons"] == [0]  # records are not mutated
    # attack held at step 0 without being new is a real press
    assert [a["attack"] for a, _ in C.iter_env_actions([record(buttons=[0], new_buttons=[])])] == [1]


def test_read_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(record()) + "\n{not json\n")
    with pytest.raises(C.ContractorDataError, match=r"a\.jsonl:2: not valid JSON"):
        C.read_jsonl(path)
    bad = record()
    del bad["hotbar"]
    path.write_text(json.dumps(record()) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(C.ContractorDataError, match=r"a\.jsonl:2: 'hotbar'"):
        C.read_jsonl(path)
    path.write_text("\n")
    with pytest.raises(C.ContractorDataError, match="no records"):
        C.read_jsonl(path)
    with pytest.raises(C.ContractorDataError, match="not found"):
        C.read_jsonl(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------------------------------------
# frames
def test_cursor_asset_is_the_drawn_cursor():
    image = cv2.imread(str(C.CURSOR_PATH), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(image, draw_cursor())
    bgr, alpha = C.load_cursor()
    assert bgr.shape == (16, 16, 3) and alpha.shape == (16, 16, 1) and alpha.max() == 1.0 and alpha.min() == 0.0


def test_overlay_cursor_blends_and_clips():
    bgr, alpha = C.load_cursor()
    frame = np.full((20, 30, 3), 100, np.uint8)
    C.overlay_cursor(frame, 5, 2)
    expected = np.full((20, 30, 3), 100, np.uint8)
    expected[2:18, 5:21] = (100 * (1 - alpha) + bgr * alpha).astype(np.uint8)
    np.testing.assert_array_equal(frame, expected)
    for x, y in [(-8, -8), (25, 15), (-20, 0), (40, 40)]:  # partly or fully outside: cut off, no error
        frame = np.full((20, 30, 3), 100, np.uint8)
        C.overlay_cursor(frame, x, y)
        ref = np.full((20 + 64, 30 + 64, 3), 100, np.uint8)
        C.overlay_cursor(ref, x + 32, y + 32)
        np.testing.assert_array_equal(frame, ref[32:52, 32:62])


def test_load_episode_drops_null_steps_and_keeps_frames_in_sync(tmp_path):
    records, expected = sync_episode()
    video, jsonl = write_episode(tmp_path, "sync", records)
    frames, frames_mineclip, actions = C.load_episode(video, jsonl)
    kept = [i for i, _ in expected]
    assert len(frames) == len(frames_mineclip) == len(actions) == len(kept) == 32
    assert frames.dtype == frames_mineclip.dtype == np.uint8
    assert frames.shape[1:] == (128, 128, 3) and frames_mineclip.shape[1:] == (160, 256, 3)
    for k, (step, overrides) in enumerate(expected):
        assert_actions_equal(actions[k], expected_action(overrides))
        assert abs(int(np.median(frames[k])) - gray(step)) <= 3, (k, step)  # the frame of that very step
        assert abs(int(np.median(frames_mineclip[k])) - gray(step)) <= 3, (k, step)
    # the cursor is drawn while the GUI is open, at (mouse.x, mouse.y) * 360 / 720 in the 640x360 frame
    for k, (step, _) in enumerate(expected):
        x, y = records[step]["mouse"]["x"] * 0.5, records[step]["mouse"]["y"] * 0.5
        col, row = int(x * 256 / 640), int(y * 160 / 360)
        patch = frames_mineclip[k, row:row + 6, col:col + 4].astype(int)
        outside = frames_mineclip[k, row + 20:row + 26, col + 20:col + 24].astype(int)
        if records[step]["isGuiOpen"]:
            assert patch.max() > gray(step) + 60 and patch.min() < gray(step) - 15, step  # white fill, black edge
        else:
            assert abs(patch - gray(step)).max() <= 4, step
        assert abs(outside - gray(step)).max() <= 4, step
    # upstream's integer camera
    legacy = C.load_episode(video, jsonl, legacy_int_camera=True).actions
    assert [a["camera"].tolist() for a in legacy[3:8]] == [[0, 1], [0, 0], [0, 0], [0, 6], [0, 6]]


def test_corrupt_or_truncated_files_raise_clear_errors(tmp_path):
    records, _ = sync_episode()
    video, jsonl = write_episode(tmp_path, "ep", records)
    data = video.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(C.ContractorDataError, match=r"cut\.mp4.*(cannot open|truncated)"):
        C.load_episode(tmp_path / "cut.mp4", jsonl)
    (tmp_path / "garbage.mp4").write_bytes(os.urandom(5000))
    with pytest.raises(C.ContractorDataError, match=r"garbage\.mp4"):
        C.load_episode(tmp_path / "garbage.mp4", jsonl)
    with pytest.raises(C.ContractorDataError, match="not found"):
        C.load_episode(tmp_path / "missing.mp4", jsonl)
    # index at the front (faststart): a truncated download still opens but ends early
    fast, _ = write_episode(tmp_path, "fast", records, faststart=True)
    fast.write_bytes(fast.read_bytes()[: int(fast.stat().st_size * 0.6)])
    with pytest.raises(C.ContractorDataError, match=r"fast\.mp4: the video ends after \d+ frames but the JSONL has 40"):
        C.load_episode(fast, jsonl)
    # a video shorter than its JSONL
    (tmp_path / "long.jsonl").write_text(jsonl.read_text() + "".join(json.dumps(record(keys="w")) + "\n"
                                                                     for _ in range(3)))
    with pytest.raises(C.ContractorDataError, match=r"ends after 40 frames but the JSONL has 43 records"):
        C.load_episode(video, tmp_path / "long.jsonl")
    tolerated = C.load_episode(video, tmp_path / "long.jsonl", max_missing_frames=3)
    assert len(tolerated.actions) == 32


# ---------------------------------------------------------------------------------------------------------------
# index and downloads
def test_index_urls_and_local_indexes(tmp_path):
    assert C.index_url("8.x") == "https://openaipublic.blob.core.windows.net/minecraft-rl/snapshots/all_8xx_Jun_29.json"
    with pytest.raises(KeyError, match="known"):
        C.index_url("11.x")
    index = C.ContractorIndex.from_json({"basedir": "https://host/data/", "relpaths": ["a/b.mp4", "c/d"]}, "9.x")
    assert len(index) == 2 and not index.is_local
    assert index.video_location(0) == "https://host/data/a/b.mp4"
    assert index.action_location(1) == "https://host/data/c/d.jsonl"
    with pytest.raises(IndexError):
        index.video_location(2)
    with pytest.raises(C.ContractorDataError, match="not a contractor index"):
        C.ContractorIndex.from_json({"relpaths": []}, "9.x")
    # a local index file with a relative basedir, and a folder of pairs
    write_episode(tmp_path / "src" / "sub", "ep1", [record(keys="w")] * 3)
    write_episode(tmp_path / "src", "ep0", [record(keys="w")] * 3)
    (tmp_path / "src" / "orphan.mp4").write_bytes(b"")  # no jsonl: not an episode
    (tmp_path / "index.json").write_text(json.dumps({"basedir": "src/", "relpaths": ["sub/ep1.mp4"]}))
    local = C.load_index("8.x", tmp_path / "index.json")
    assert local.is_local and Path(local.video_location(0)) == tmp_path / "src" / "sub" / "ep1.mp4"
    found = C.index_from_source_dir(tmp_path / "src", "7.x")
    assert found.relpaths == ["ep0.mp4", "sub/ep1.mp4"] and found.version == "7.x"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(C.ContractorDataError, match="not valid JSON"):
        C.load_index("8.x", tmp_path / "bad.json")


def test_remote_index_is_downloaded_atomically_and_cleaned(tmp_path):
    records, _ = sync_episode()
    write_episode(tmp_path / "remote" / "v", "ep", records)
    (tmp_path / "remote" / "index.json").write_text(json.dumps({"basedir": (tmp_path / "remote").as_uri() + "/",
                                                                "relpaths": ["v/ep.mp4"]}))
    index = C.load_index("10.x", (tmp_path / "remote" / "index.json").as_uri(), cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "index_10_x.json").is_file() and not index.is_local
    data = C.ContractorData(index, tmp_path / "cache")
    episode = data.load(0)
    assert len(episode.actions) == 32
    assert not (tmp_path / "cache" / "10.x_0").exists()  # downloads deleted after conversion
    assert not [p for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name]
    with pytest.raises(OSError, match="download of .* failed"):
        C.download_file((tmp_path / "nope.mp4").as_uri(), tmp_path / "x.mp4", retries=0)
    assert not list(tmp_path.glob(".x.mp4.tmp-*")) and not (tmp_path / "x.mp4").exists()


# ---------------------------------------------------------------------------------------------------------------
# sliding-window goal embeddings
class MeanEmbedder:
    """A stand-in goal embedder: the per-window mean colour (and the per-frame path of the same thing)."""

    window = 16
    embed_dim = 3

    def encode_video(self, frames):
        assert frames.shape[1] == 16
        return torch.from_numpy(np.asarray(frames, np.float32).mean(axis=(1, 2, 3)))


class MeanEmbedderPerFrame(MeanEmbedder):
    def encode_frames(self, frames):
        return torch.from_numpy(np.asarray(frames, np.float32).mean(axis=(1, 2)))

    def pool_frames(self, features):
        return features.mean(dim=1)


def test_window_embeddings_layout_and_per_frame_path():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (37, 4, 5, 3), dtype=np.uint8)
    for embedder in (MeanEmbedder(), MeanEmbedderPerFrame()):
        embeds = embed_episode_windows(embedder, frames, batch_size=5)
        assert len(embeds) == 37 and all(e is None for e in embeds[:15])
        for t in range(15, 37):
            assert embeds[t].shape == (1, 3) and embeds[t].dtype == np.float32
            np.testing.assert_allclose(embeds[t][0], frames[t - 15:t + 1].mean(axis=(0, 1, 2)), rtol=1e-5)
    assert embed_episode_windows(MeanEmbedder(), frames[:15]) == [None] * 15
    with pytest.raises(ValueError, match="per_frame=True"):
        embed_episode_windows(MeanEmbedder(), frames, per_frame=True)
    with pytest.raises(ValueError, match=r"uint8 \[L, H, W, 3\]"):
        embed_episode_windows(MeanEmbedder(), frames.astype(np.float32))


def test_mineclip_per_frame_path_matches_encode_video(tiny_mineclip):
    """MineCLIP's clip embedding pools independent per-frame features: encoding each frame once gives the same
    window embeddings as upstream's encode_video per window."""

    embedder = tiny_embedder(tiny_mineclip)
    frames = np.random.default_rng(1).integers(0, 256, (20, 160, 256, 3), dtype=np.uint8)
    slow_embeds = embed_episode_windows(embedder, frames, batch_size=3, per_frame=False)
    fast_embeds = embed_episode_windows(embedder, frames, batch_size=3, per_frame=True)
    for a, b in zip(slow_embeds[15:], fast_embeds[15:]):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# the CLI
def test_convert_cli_converts_skips_corrupt_and_resumes(tmp_path, tiny_mineclip):
    src, out = tmp_path / "src", tmp_path / "dataset"
    records, expected = sync_episode()
    write_episode(src, "a_sync", records)
    rng = np.random.default_rng(0)
    write_episode(src, "b_walk", [record(keys="w", dx=float(rng.integers(-20, 20))) for _ in range(24)],
                  frame_fn=lambda i: np.full((360, 640, 3), (10 * i) % 250, np.uint8))
    write_episode(src, "c_short", [record(keys="w")] * 10)  # 10 kept frames < --min_timesteps 20
    v, _ = write_episode(src, "d_truncated", records)
    v.write_bytes(v.read_bytes()[:3000])
    _, j = write_episode(src, "e_truncated_jsonl", records)
    j.write_text(j.read_text()[:5000])

    results = convert.main(cli_args(src, out, tiny_mineclip))
    assert sorted(r.idx for r in results["converted"]) == [0, 1]
    assert [r.idx for r in results["too_short"]] == [2]
    assert sorted(r.idx for r in results["failed"]) == [3, 4]
    log = (out / convert.LOG_FILE).read_text()
    assert "d_truncated.mp4: OpenCV cannot open the video" in log
    assert re.search(r"e_truncated_jsonl\.jsonl:\d+: not valid JSON", log)
    assert "10 kept frames < 20" in log

    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["contractor_8_x_0_contractor_nmFrm32_term", "contractor_8_x_1_contractor_nmFrm24_term"]
    episode = EpisodeStorage(out / names[0])
    assert episode.is_valid(for_training=True, min_frames_training=32)
    meta = episode.load_metadata()
    assert meta["contractor_version"] == "8.x" and meta["contractor_index"] == 0 and meta["sim"] == C.SIM
    assert C.SIM in tasks.SIMULATORS and meta["contractor_relpath"] == "a_sync.mp4"
    direct = C.load_episode(src / "a_sync.mp4", src / "a_sync.jsonl")
    stored_actions = episode.load_actions()
    assert len(stored_actions) == 32
    for a, b in zip(stored_actions, direct.actions):
        assert_actions_equal(a, b)
    frames = episode.load_frame_array()  # lossy mp4v round trip of the 128x128 agent frames
    assert frames.shape == (32, 128, 128, 3)
    assert np.abs(frames.astype(int) - direct.frames.astype(int)).mean() < 3
    embeds = episode.load_embeds()
    assert len(embeds) == 32 and all(e is None for e in embeds[:15])
    reference = embed_episode_windows(tiny_embedder(tiny_mineclip), direct.frames_mineclip, batch_size=7)
    for t in range(15, 32):
        assert embeds[t].shape == (1, 64) and embeds[t].dtype == np.float32
        np.testing.assert_allclose(embeds[t], reference[t], atol=1e-4, rtol=1e-4)

    # a rerun skips the finished episodes (nothing rewritten) and retries the skipped ones
    mtimes = {n: (out / n / "embeds_attn.pkl").stat().st_mtime_ns for n in names}
    (out / ".contractor_8_x_3_contractor_nmFrm40_term.tmp-123-abcd").mkdir()  # left by a killed run
    again = convert.main(cli_args(src, out, tiny_mineclip))
    assert "1 temporary directories of interrupted writes" in (out / convert.LOG_FILE).read_text()
    assert sorted(r.idx for r in again["exists"]) == [0, 1] and not again["converted"]
    assert sorted(r.idx for r in again["failed"]) == [3, 4]
    assert {n: (out / n / "embeds_attn.pkl").stat().st_mtime_ns for n in names} == mtimes


def test_convert_cli_parallel_workers_and_legacy_camera(tmp_path, tiny_mineclip):
    src, out = tmp_path / "src", tmp_path / "dataset"
    records, _ = sync_episode()
    for name in ("ep0", "ep1"):
        write_episode(src, name, records)
    results = convert.main(cli_args(src, out, tiny_mineclip, "--workers", "2", "--torch_threads", "1",
                                    "--legacy_int_camera", "--frame_format", "npz"))
    assert sorted(r.idx for r in results["converted"]) == [0, 1]
    embeds = []
    for r in results["converted"]:
        episode = EpisodeStorage(r.detail)
        assert episode.is_valid(for_training=True, min_frames_training=32) and episode.frame_format == "npz"
        assert episode.load_metadata()["camera"] == "legacy_int_degrees"
        assert [a["camera"].tolist() for a in episode.load_actions()[3:5]] == [[0, 1], [0, 0]]
        embeds.append(np.concatenate(episode.load_embeds()[15:]))
    np.testing.assert_allclose(embeds[0], embeds[1], atol=1e-5)  # same episode, each worker its own MineCLIP
    # without embeddings (written later by embed_episodes.py)
    results = convert.main(cli_args(src, tmp_path / "no_embeds", tiny_mineclip, "--no_embeds", "--num_episodes", "1"))
    episode = EpisodeStorage(results["converted"][0].detail)
    assert episode.is_valid() and not episode.has_embeds() and "embedder" not in episode.load_metadata()


def test_convert_cli_stops_on_a_bad_mineclip(tmp_path, tiny_mineclip):
    records, _ = sync_episode()
    write_episode(tmp_path / "src", "ep0", records)
    with pytest.raises(SystemExit, match="2"):  # one line naming --mineclip_path, exit code 2, nothing written
        convert.main(cli_args(tmp_path / "src", tmp_path / "out", tmp_path / "missing.pth"))
    assert not (tmp_path / "out").exists()
    # a worker whose model fails to load raises on its first episode instead of respawning forever
    args = convert.parse_args(cli_args(tmp_path / "src", tmp_path / "out", tiny_mineclip, "--mineclip_md5", "0" * 32))
    convert._worker_init(args, C.index_from_source_dir(tmp_path / "src"))
    with pytest.raises(RuntimeError, match="worker setup failed: ValueError: .*md5"):
        convert._worker_convert(0)


def test_episode_range_and_help(capsys):
    assert convert.episode_range(100, 0, -1, 7) == range(7, 100)
    assert convert.episode_range(100, 2, 30, 0) == range(60, 90)
    assert convert.episode_range(100, 3, 30, 5) == range(95, 100)
    with pytest.raises(ValueError, match="worker_id 0"):
        convert.episode_range(100, 1, -1, 0)
    with pytest.raises(SystemExit):
        convert.parse_args(["--help"])
    assert "--legacy_int_camera" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------
# end to end: synthetic contractor episodes -> convert -> split -> train a tiny STEVE-1
#: (action overrides of the JSONL record, frame colour RGB): the action taken is readable from the frame.
LEARNABLE_ACTIONS = [
    (dict(keys="w"), (200, 40, 40)),
    (dict(keys="a"), (40, 200, 40)),
    (dict(keys="d"), (40, 40, 200)),
    (dict(keys="w", buttons=[0]), (200, 200, 40)),
    (dict(keys="space"), (200, 40, 200)),
    (dict(dx=30.0), (40, 200, 200)),  # camera: 4.5 degrees of yaw
]
TINY_STEVE1_YAML = """\
policy_kwargs:
  attention_heads: 2
  attention_mask_style: clipped_causal
  attention_memory_size: 24
  hidsize: 32
  img_shape: [128, 128, 3]
  impala_chans: [2, 4, 4]
  impala_kwargs: {post_pool_groups: 1}
  impala_width: 1
  init_norm_kwargs: {batch_norm: false, group_norm_groups: 1}
  n_recurrence_layers: 2
  pointwise_ratio: 4
  recurrence_type: transformer
  timesteps: 8
  use_pre_lstm_ln: false
pi_head_kwargs: {temperature: 1.0}
"""


def write_learnable_episode(folder: Path, name: str, seed: int, n_records: int = 90) -> None:
    """Runs of 3-8 steps of one action, every 10th record null; each frame is coloured by its step's action."""
    rng = np.random.default_rng(seed)
    records, colours = [], []
    while len(records) < n_records:
        action, colour = LEARNABLE_ACTIONS[rng.integers(len(LEARNABLE_ACTIONS))]
        for _ in range(int(rng.integers(3, 9))):
            null = len(records) % 10 == 9
            records.append(record() if null else record(**action))
            colours.append((128, 128, 128) if null else colour)
    colours = colours[:n_records]
    write_episode(folder, name, records[:n_records],
                  frame_fn=lambda i: np.broadcast_to(np.array(colours[i], np.uint8), (360, 640, 3)).copy())


def test_contractor_episodes_to_trained_steve1(tmp_path, tiny_mineclip):
    """The whole Minecraft data path on synthetic contractor data: convert (MineCLIP goal embeddings) -> train/val
    split -> goal-conditioned behaviour cloning of a tiny STEVE-1; the training loss ends far below its start."""
    from steve1 import train
    from steve1.data.sampling import generate_sampling

    src, data, samplings = tmp_path / "src", tmp_path / "dataset", tmp_path / "samplings"
    for i in range(4):
        write_learnable_episode(src, f"ep{i}", seed=i)
    converted = convert.main(cli_args(src, data, tiny_mineclip))["converted"]
    assert len(converted) == 4 and all(r.length == 81 for r in converted)

    train_split, val_split = generate_sampling.main([
        "--data_dir", str(data), "--output_dir", str(samplings), "--name", "seed1", "--val_frames", "1",
        "--train_frames", "-1", "--T", "16", "--min_btwn_goals", "15"])
    assert len(train_split) == 3 and len(val_split) == 1

    (tmp_path / "tiny_steve1.yaml").write_text(TINY_STEVE1_YAML)
    steps, batch, trunc_t = 150, 1, 8
    result = train.main([
        "--sampling", "seed1", "--sampling_dir", str(samplings), "--in_model", str(tmp_path / "tiny_steve1.yaml"),
        "--out_weights", str(tmp_path / "weights" / "steve1.weights"), "--checkpoint_dir", str(tmp_path / "ckpt"),
        "--T", "16", "--trunc_t", str(trunc_t), "--batch_size", str(batch), "--min_btwn_goals", "15",
        "--max_btwn_goals", "30", "--learning_rate", "3e-3", "--n_frames", str(steps * batch * trunc_t),
        "--warmup_frames", "80", "--num_workers", "0", "--log_freq", "15", "--save_freq", "100000",
        "--val_freq", "100000", "--val_freq_begin", "100000", "--val_every_nth", "1", "--seed", "0"])
    losses = [loss for _, loss in result["train_losses"]]
    print("train losses", [round(x, 2) for x in losses], "val", result["val_losses"])
    assert result["n_steps"] == steps
    assert losses[-1] < 0.2 * losses[0]
    assert result["final_val_loss"] < 0.3 * result["val_losses"][0][1]
    assert (tmp_path / "weights" / "steve1_latest.weights").is_file()
