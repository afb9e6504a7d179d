"""CrafterCLIP: captions from the game's state, the CLIP loss, training, the model file and dataset embedding.

A tiny dataset of real Crafter episodes is written to a temporary folder: one scripted episode in which the player
collects wood at a known step (a tree is put in front of it), and a few random-action episodes.
"""
from __future__ import annotations

import copy
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from steve1.data.EpisodeStorage import EpisodeStorage
from tasks.crafter.crafterclip.captions import (ACHIEVEMENT_CAPTIONS, ACHIEVEMENTS, CAPTION_INDEX, CAPTIONS,
                                                FINAL_STATE_PARTS, INVENTORY_ITEMS, MAX_CAPTION_WORDS, NEAR_INDEX,
                                                SEMANTIC_NAMES, CaptionError, WordTokenizer, caption_clips,
                                                caption_vocabulary)
from tasks.crafter.crafterclip.model import CrafterCLIP, clip_loss

ACTION = {"noop": 0, "move_left": 1, "move_right": 2, "move_up": 3, "move_down": 4, "do": 5, "sleep": 6}
TINY_MODEL = {"embed_dim": 512,
              "video": {"frame_size": [64, 64], "frames_per_clip": 16, "channels": [8, 16, 16], "width": 32,
                        "heads": 2, "layers": 1},
              "text": {"max_len": 22, "width": 32, "heads": 2, "layers": 1}}  # 22: the longest caption
WOOD_STEP = 20  # the scripted episode collects wood with the action taken on frame WOOD_STEP


# ---------------------------------------------------------------------- tiny dataset
class WoodPlayer:
    """Puts a tree in front of the player at reset, waits, chops it once at frame WOOD_STEP, then walks left.
    Has the scripted player's interface (``reset(env, info)``, ``act(info)``) for C's ``play_episode``."""

    subgoal_id = 0  # recorded by play_episode

    def __init__(self, length: int):
        self.length = length

    def reset(self, env, info):
        crafter_env = env.crafter_env
        player = crafter_env._player
        crafter_env._world[(player.pos[0] + player.facing[0], player.pos[1] + player.facing[1])] = "tree"
        self.t = 0

    def act(self, info):
        t, self.t = self.t, self.t + 1
        if t == WOOD_STEP:
            return ACTION["do"]
        return ACTION["move_left"] if t > WOOD_STEP + 20 else ACTION["noop"]


def write_tiny_dataset(root: Path) -> list[str]:
    """One WoodPlayer episode and three short scripted-player episodes, written by the play-data generator."""
    from tasks.crafter.env import CrafterEnv
    from tasks.crafter.generate_play_data import generate_episode, play_episode

    ep = play_episode(CrafterEnv(max_steps=64), WoodPlayer(64), env_seed=7)
    EpisodeStorage(root / "ep_wood").write_episode(ep["frames"], ep["actions"], metadata={"sim": "crafter"},
                                                   infos=ep["infos"], frame_format="npz")
    for index in range(3):
        generate_episode(str(root), seed=0, index=index, size=64, max_episode_len=48 + 8 * index,
                         frame_format="npz", task_start_share=0.25)
    return sorted(str(p) for p in root.iterdir())


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset_crafter")
    write_tiny_dataset(root)
    return root


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    from tasks.crafter.crafterclip.embedder import save_crafterclip

    torch.manual_seed(0)
    tokenizer = WordTokenizer(caption_vocabulary())
    kwargs = {"vocab_size": len(tokenizer), **TINY_MODEL}
    path = tmp_path_factory.mktemp("weights") / "crafterclip.pt"
    save_crafterclip(path, CrafterCLIP(**kwargs), kwargs, tokenizer)
    return path


# ---------------------------------------------------------------------- captions
def test_scripted_wood_clip_is_captioned_collect_wood(tiny_dataset):
    episode = EpisodeStorage(tiny_dataset / "ep_wood")
    infos = episode.load_infos()
    wood = infos["inventory"][:, INVENTORY_ITEMS.index("wood")]
    assert wood[WOOD_STEP] == 0 and wood[WOOD_STEP + 1] == 1, "the scripted 'do' on the tree must give one wood"
    caps = caption_clips(infos)
    # The wood appears in frame WOOD_STEP + 1: the clips [t-15, t] holding both frames end at t in [21, 35].
    for t in range(len(caps)):
        has_wood = bool(caps.captions[t, CAPTION_INDEX["collect wood"]])
        assert has_wood == (WOOD_STEP + 1 <= t <= WOOD_STEP + 15), t
    assert caps.primary_caption(WOOD_STEP + 1) == "collect wood"
    assert caps.primary_caption(WOOD_STEP + 15) == "collect wood"
    assert caps.primary_caption(WOOD_STEP) == "stand still"
    assert caps.event_caption(WOOD_STEP + 5) == "collect wood and stand still"
    # The final state: no pickaxe, the tree put in front of the player in view (trees stay after chopping).
    assert caps.in_view is not None and caps.in_view[WOOD_STEP + 5, NEAR_INDEX["tree"]]
    near = caps.final_state[WOOD_STEP + 5, FINAL_STATE_PARTS.index("near")]
    assert 0 <= near <= NEAR_INDEX["tree"]  # trees, or something more telling
    assert caps.full_caption(WOOD_STEP + 5).startswith("collect wood and stand still with no pickaxe near ")
    assert caps.primary_caption(14) is None and caps.primary[:15].tolist() == [-1] * 15
    # Then the player walks left for the last frames (moves or turns towards obstacles).
    moved = np.any(np.diff(infos["player_pos"][-16:], axis=0) != 0, axis=1).sum()
    if moved >= 3:
        assert caps.primary_caption(len(caps) - 1) in ("walk left", "walk around")


def _synthetic_infos(length: int) -> dict:
    return {"achievements": np.zeros((length, len(ACHIEVEMENTS)), np.int64),
            "inventory": np.tile(np.array([9, 9, 9, 9] + [0] * 12), (length, 1)),
            "player_pos": np.tile(np.array([32, 32]), (length, 1)),
            "sleeping": np.zeros(length, bool)}


def test_captions_priority_state_and_attack():
    length = 40
    infos = _synthetic_infos(length)
    a = {name: i for i, name in enumerate(ACHIEVEMENTS)}
    infos["achievements"][20:, a["collect_wood"]] = 1
    infos["achievements"][22:, a["place_table"]] = 1
    infos["player_pos"][25:30, 0] = np.arange(31, 26, -1)  # five steps left...
    infos["player_pos"][30:, 0] = 27
    caps = caption_clips(infos)
    t = 30  # clip [15, 30] holds both events and the walk
    assert caps.caption_list(t) == ["place a table", "collect wood", "walk left"]
    assert caps.primary_caption(t) == "place a table"
    assert caps.event_caption(t) == "place a table and collect wood and walk left"
    # infos without view and daylight (datasets written before them): only the pickaxe part
    assert caps.full_caption(t) == "place a table and collect wood and walk left with no pickaxe"
    assert caps.in_view is None
    assert caps.primary_caption(39) == "walk left"

    infos = _synthetic_infos(length)
    infos["sleeping"][10:] = True
    infos["inventory"][5:, 0] = 8  # health 9 -> 8 at frame 5
    caps = caption_clips(infos)
    assert caps.caption_list(15) == ["take damage", "stand still"]  # 6 of 16 frames asleep: not "sleep"
    assert caps.caption_list(25) == ["sleep"]  # 16 of 16 frames asleep, the damage is out of the clip

    # Attacking a zombie (do on a faced zombie) without defeating it; needs the faced tile and the actions.
    infos = _synthetic_infos(length)
    infos["target"] = np.full(length, 2)
    infos["target"][18] = 15
    actions = np.zeros(length, np.int64)
    actions[18] = ACTION["do"]
    caps = caption_clips(infos, actions)
    assert caps.primary_caption(20) == "attack a zombie"
    assert caption_clips(infos).primary_caption(20) == "stand still"  # without actions: no attack event


def test_caption_errors_name_the_source():
    infos = _synthetic_infos(20)
    del infos["player_pos"]
    with pytest.raises(CaptionError, match="my_episode.*player_pos"):
        caption_clips(infos, source="my_episode")
    infos = _synthetic_infos(20)
    infos["achievements"] = infos["achievements"][:, :5]
    with pytest.raises(CaptionError, match="achievements"):
        caption_clips(infos)


def test_final_state_of_a_hand_made_episode():
    """The final-state phrases describe the clip's LAST frame: the best pickaxe held, the most telling thing in the
    view window, the dark."""
    length = 40
    sem = {name: i for i, name in enumerate(SEMANTIC_NAMES)}
    infos = _synthetic_infos(length)
    inv = infos["inventory"]
    inv[10:, INVENTORY_ITEMS.index("wood_pickaxe")] = 1
    inv[30:, INVENTORY_ITEMS.index("stone_pickaxe")] = 1  # wood and stone held from frame 30: the stone one counts
    view = np.full((length, 9, 7), sem["grass"], np.uint8)
    view[:, 4, 3] = sem["player"]
    view[:, 0, 0] = sem["tree"]
    view[20:, 8, 6] = sem["stone"]  # stone comes into view at frame 20 ...
    view[25:, 7, 6] = sem["water"]  # ... water at 25 (stone is the more telling of the two)
    view[35:, 1, 1] = sem["iron"]  # ... iron at 35
    infos["view"] = view
    infos["daylight"] = np.where(np.arange(length) >= 38, 0.2, 0.9).astype(np.float32)
    infos["achievements"][28:, ACHIEVEMENTS.index("collect_stone")] = 1
    caps = caption_clips(infos)
    assert caps.full_caption(15) == "stand still with a wood pickaxe near trees"
    assert caps.full_caption(27) == "stand still with a wood pickaxe near water"  # water before stone
    assert caps.full_caption(30) == "collect stone and stand still with a stone pickaxe near water"
    assert caps.full_caption(36) == "collect stone and stand still with a stone pickaxe near iron"
    assert caps.full_caption(39) == "collect stone and stand still with a stone pickaxe near iron in the dark"
    assert caps.primary_caption(30) == "collect stone"  # the primary (event) caption is unchanged
    assert caps.event_caption(39) == "collect stone and stand still"
    assert caps.full_caption(14) is None and np.all(caps.final_state[:15] == -1) and not caps.in_view[:15].any()
    assert caps.in_view[26, NEAR_INDEX["stone"]] and caps.in_view[26, NEAR_INDEX["water"]]
    assert not caps.in_view[26, NEAR_INDEX["iron"]]
    tokenizer = WordTokenizer(caption_vocabulary())
    longest = ("make an iron pickaxe and make an iron sword and walk around with an iron pickaxe near a skeleton "
               "in the dark")
    assert len(tokenizer.words(longest)) == MAX_CAPTION_WORDS == tokenizer.max_len
    assert not tokenizer.unknown_words(longest) and 1 not in tokenizer([longest])[0]
    # Old datasets: without view or daylight, captions still compute; only the pickaxe part remains.
    del infos["view"], infos["daylight"]
    caps = caption_clips(infos)
    assert caps.in_view is None and caps.full_caption(39) == "collect stone and stand still with a stone pickaxe"
    infos["view"] = view[:, :, :, None]
    with pytest.raises(CaptionError, match="view"):
        caption_clips(infos)


def test_batcher_drops_final_state_and_keeps_event_captions():
    """p_drop_final_state = 1: every text is a bare caption (as the task prompts are); 0: every text carries its
    clip's final state after the event caption; a text true of a clip but not its target is left out of its
    softmax, a text with another pickaxe is a negative."""
    from tasks.crafter.crafterclip.data import clip_set
    from tasks.crafter.crafterclip.train import CaptionBatcher

    sem = {name: i for i, name in enumerate(SEMANTIC_NAMES)}
    episodes = []
    for pickaxe in ("wood_pickaxe", "stone_pickaxe"):
        infos = _synthetic_infos(60)
        infos["inventory"][:, INVENTORY_ITEMS.index(pickaxe)] = 1
        infos["achievements"][30:, ACHIEVEMENTS.index("collect_stone")] = 1
        infos["view"] = np.full((60, 9, 7), sem["stone"], np.uint8)
        episodes.append(caption_clips(infos))
    clips = np.array([(e, t) for e in range(2) for t in (20, 35, 50)])
    cs = clip_set(["a", "b"], episodes, clips)
    cs.frames = np.zeros((len(clips), 16, 64, 64, 3), np.uint8)
    tokenizer = WordTokenizer(caption_vocabulary())
    rng = np.random.default_rng(0)
    bare = CaptionBatcher(cs, 0.0, 0.5, tokenizer, p_drop_final_state=1.0).draw(32, rng)
    targets = [bare["texts"][m] for m in bare["target"]]
    assert all(" with " not in t for t in targets) and "collect stone" in targets
    full = CaptionBatcher(cs, 0.0, 0.0, tokenizer, p_drop_final_state=0.0).draw(32, rng)
    targets = [full["texts"][m] for m in full["target"]]
    assert set(targets) == {"stand still with a wood pickaxe near stone",
                            "collect stone with a wood pickaxe near stone",
                            "stand still with a stone pickaxe near stone",
                            "collect stone with a stone pickaxe near stone"}
    texts = full["texts"]
    for i, target in enumerate(targets):
        ignored = {texts[m] for m in np.flatnonzero(full["ignore"][i])}
        event = target.split(" with ")[0]
        assert event in ignored  # the bare caption is true of the clip: not a negative
        swap = {"wood pickaxe": "stone pickaxe", "stone pickaxe": "wood pickaxe"}
        held = next(k for k in swap if k in target)
        other = target.replace(held, swap[held])
        assert other in texts and other not in ignored  # the other pickaxe: a negative
    # "near <thing>" is true of a clip whenever the thing is in its view: water and stone in view, near = water
    infos = _synthetic_infos(60)
    infos["inventory"][:, INVENTORY_ITEMS.index("wood_pickaxe")] = 1
    infos["view"] = np.full((60, 9, 7), sem["stone"], np.uint8)
    infos["view"][:, 0, 0] = sem["water"]
    episodes.append(caption_clips(infos))
    cs3 = clip_set(["a", "b", "c"], episodes, np.array([(0, 20), (2, 20)]))
    cs3.frames = np.zeros((2, 16, 64, 64, 3), np.uint8)
    batch = CaptionBatcher(cs3, 0.0, 0.0, tokenizer, p_drop_final_state=0.0).draw(16, rng)
    texts, target = batch["texts"], batch["target"].numpy()
    near_stone, near_water = (texts.index(f"stand still with a wood pickaxe near {x}") for x in ("stone", "water"))
    for i in range(16):
        if texts[target[i]].endswith("near water"):  # the clip with water in view: "near stone" is true too
            assert batch["ignore"][i, near_stone]
        else:  # the clip with only stone in view: "near water" is a negative
            assert target[i] == near_stone and not batch["ignore"][i, near_water]
    mixed = CaptionBatcher(cs, 0.0, 0.0, tokenizer, p_drop_final_state=0.5).draw(64, rng)
    with_state = np.mean([" with " in mixed["texts"][m] for m in mixed["target"]])
    assert 0.25 < with_state < 0.75


def test_task_prompts_are_captions():
    """Every Crafter task prompt is the caption of its achievement, so the model was trained on it."""
    from tasks.crafter.crafterclip.metrics import task_prompts

    tokenizer = WordTokenizer(caption_vocabulary())
    prompts = task_prompts()
    assert {p["achievement"] for p in prompts} >= {"collect_wood", "collect_stone", "collect_iron",
                                                   "make_stone_pickaxe", "make_iron_pickaxe", "collect_drink",
                                                   "defeat_zombie"}
    for p in prompts:
        assert p["prompt"] == ACHIEVEMENT_CAPTIONS[p["achievement"]], p
        assert p["prompt"] in CAPTIONS and not tokenizer.unknown_words(p["prompt"])


def test_tokenizer():
    tokenizer = WordTokenizer(caption_vocabulary(), max_len=6)
    tokens = tokenizer(["Collect wood!", "fly to the moon", ""])
    assert tokens.shape == (3, 6) and tokens.dtype == np.int64
    assert tokens[0, 2:].tolist() == [0] * 4 and 1 not in tokens[0]
    assert tokens[1, 0] == 1 and tokens[2].tolist() == [1, 0, 0, 0, 0, 0]
    with pytest.raises(TypeError):
        tokenizer("collect wood")


def test_select_clips_balances_captions_and_keeps_a_gap():
    from tasks.crafter.crafterclip.captions import ClipCaptions
    from tasks.crafter.crafterclip.data import select_clips

    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(3):  # "walk left" everywhere, "collect wood" in 6 clips per episode
        primary = np.full(300, CAPTION_INDEX["walk left"])
        primary[:15] = -1
        primary[rng.choice(np.arange(15, 300), 6, replace=False)] = CAPTION_INDEX["collect wood"]
        rows = np.zeros((300, len(CAPTIONS)), bool)
        rows[np.arange(15, 300), primary[15:]] = True
        episodes.append(ClipCaptions(rows, primary))
    chosen = select_clips(episodes, n_clips=40, max_per_caption=30, min_gap=3, seed=0)
    captions = np.array([episodes[e].primary[t] for e, t in chosen])
    n_wood = int((captions == CAPTION_INDEX["collect wood"]).sum())
    assert n_wood >= 14  # rare caption served first: nearly all of its 18 clips (some lie closer than min_gap)
    assert len(chosen) == 40 and (captions == CAPTION_INDEX["walk left"]).sum() == 40 - n_wood
    for e in range(3):
        ts = np.sort(chosen[chosen[:, 0] == e, 1])
        assert ts.min() >= 15 and np.all(np.diff(ts) >= 3)


# ---------------------------------------------------------------------- loss, model, training
def test_clip_loss_is_clip_without_duplicates_and_ignores_true_captions():
    torch.manual_seed(0)
    v, t = torch.randn(6, 8, requires_grad=True), torch.randn(6, 8, requires_grad=True)
    scale = torch.tensor(10.0)
    logits = scale * torch.nn.functional.normalize(v, dim=-1) @ torch.nn.functional.normalize(t, dim=-1).T
    labels = torch.arange(6)
    reference = (torch.nn.functional.cross_entropy(logits, labels)
                 + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(clip_loss(v, t, labels, None, scale), reference, atol=1e-6)
    # Ignoring a column for a clip removes it from that clip's softmax: the loss drops and stays finite.
    ignore = torch.zeros(6, 6, dtype=torch.bool)
    ignore[0, 1:] = True
    masked = clip_loss(v, t, labels, ignore, scale)
    assert torch.isfinite(masked) and masked < reference
    masked.backward()
    assert torch.isfinite(v.grad).all() and torch.isfinite(t.grad).all()


def test_training_steps_reduce_the_loss(tiny_dataset, tmp_path):
    from tasks.crafter.crafterclip.data import ClipCache, clip_set, load_episode_captions, select_clips
    from tasks.crafter.crafterclip.train import CaptionBatcher, make_optimizer

    dirs = sorted(str(p) for p in tiny_dataset.iterdir())
    caps = [load_episode_captions(p) for p in dirs]
    clips = select_clips(caps, n_clips=40, max_per_caption=40, min_gap=2, seed=0)
    assert len(clips) > 10
    cached = ClipCache(tmp_path).load_or_build(clip_set(dirs, caps, clips))
    e, t = cached.clips[0]
    expected = EpisodeStorage(dirs[e]).load_frame_array((t - 15, t + 1))
    assert np.array_equal(cached.frames[0], expected)

    torch.manual_seed(0)
    tokenizer = WordTokenizer(caption_vocabulary())
    model = CrafterCLIP(len(tokenizer), **{k: v for k, v in TINY_MODEL.items()})
    batch = CaptionBatcher(cached, 0.5, 0.25, tokenizer, p_drop_final_state=0.0).draw(12, np.random.default_rng(0))
    optimizer = make_optimizer(model, 3e-3, 0.0)

    def loss_fn():
        return clip_loss(model.encode_video(batch["frames"]), model.encode_text(batch["tokens"]), batch["target"],
                         batch["ignore"], model.scale())

    with torch.no_grad():
        before = float(loss_fn())
    for _ in range(12):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(loss_fn())
    assert after < 0.7 * before, (before, after)


def test_train_script_writes_model_and_eval_and_resumes(tiny_dataset, tmp_path, capsys):
    from tasks.crafter.crafterclip import train

    config = yaml.safe_load(open(train.DEFAULT_CONFIG))
    config.update(model=TINY_MODEL, train_clips=40, val_clips=20, max_clips_per_caption=20, min_gap=2,
                  val_frames=60, steps=3, batch_size=8, warmup_steps=1, log_every=1, eval_every=2,
                  checkpoint_every=2, torch_threads=1, pool_stride=4)
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "crafterclip.pt"
    common = ["--config", str(config_path), "--data_dir", str(tiny_dataset), "--out", str(out), "--run_dir",
              str(tmp_path / "run"), "--cache_dir", str(tmp_path / "cache"), "--no_progress"]
    result = train.main(common)
    assert out.is_file() and out.stat().st_size < 10 * 2**20
    evaluation = json.loads((tmp_path / "crafterclip_eval.json").read_text())
    r = evaluation["caption_retrieval"]
    assert r["n_clips"] > 0 and r["chance"] == pytest.approx(1 / len(CAPTIONS))
    assert 0.0 <= r["top1_accuracy"] <= 1.0
    prompts = evaluation["prompt_retrieval"]["prompts"]
    assert "collect wood" in prompts and 0.0 <= prompts["collect wood"]["precision_at_20"] <= 1.0
    probe = evaluation["stage_probe"]
    assert set(probe) >= {"pickaxe", "near_water", "near_tree", "near_stone", "pickaxe_from_text"}
    assert all(probe[k]["n_clips"] > 0 for k in ("pickaxe", "near_tree"))
    assert result["steps"] == 3
    assert list((tmp_path / "run" / "tb").iterdir())
    # A rerun with more steps resumes from the checkpoint of step 3 (same config apart from steps is refused).
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 3
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # one line, exit code 2, the run folder unchanged
        train.main(common + ["--steps", "5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "another config" in err[0] and "'steps'" in err[0], err
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    result = train.main(common + ["--no_resume", "--steps", "2"])
    assert result["steps"] == 2


def test_config_file_is_the_source_and_flags_override(tmp_path):
    from steve1.utils.cli import UsageError
    from tasks.crafter.crafterclip import train

    _, config = train.parse_args(["--config", train.DEFAULT_CONFIG, "--steps", "7", "--lr", "0.01"])
    assert (config.steps, config.lr, config.batch_size, config.seed) == (7, 0.01, 128, 1)
    assert config.model["embed_dim"] == 512
    shipped = yaml.safe_load(open(train.DEFAULT_CONFIG))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in shipped.items() if k != "lr"}))
    with pytest.raises(UsageError, match=r"\['lr'\] missing"):
        train.parse_args(["--config", str(path)])
    broken = copy.deepcopy(shipped)
    del broken["model"]["text"]["max_len"]
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(UsageError, match="bad.yaml key 'model': not a buildable CrafterCLIP"):
        train.parse_args(["--config", str(path)])
    with pytest.raises(SystemExit):  # the nested model block is set in the file only
        train.parse_args(["--config", train.DEFAULT_CONFIG, "--model", "x"])


# ---------------------------------------------------------------------- model file and embedder
def test_embedder_round_trip_and_errors(tiny_model_file, tmp_path):
    from tasks.crafter.crafterclip.embedder import (CrafterCLIPEmbedder, CrafterCLIPFileError, load_crafterclip,
                                                    save_crafterclip)
    from steve1.mineclip import GoalEmbedder

    embedder = CrafterCLIPEmbedder.from_checkpoint(tiny_model_file)
    assert isinstance(embedder, GoalEmbedder)
    assert (embedder.embed_dim, embedder.window, embedder.frame_size) == (512, 16, (64, 64))
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (3, 16, 64, 64, 3), dtype=np.uint8)
    video = embedder.encode_video(clips)
    text = embedder.encode_text(["collect wood", "defeat a zombie"])
    assert video.shape == (3, 512) and video.dtype == torch.float32 and text.shape == (2, 512)
    # Save again and reload: identical outputs.
    model, tokenizer, meta = load_crafterclip(tiny_model_file)
    copy_path = tmp_path / "copy.pt"
    save_crafterclip(copy_path, model, meta["model_kwargs"], tokenizer)
    again = CrafterCLIPEmbedder.from_checkpoint(copy_path)
    assert torch.equal(again.encode_video(clips), video)
    assert torch.equal(again.encode_text(["collect wood", "defeat a zombie"]), text)
    # The per-frame path gives the same clip embeddings; other frame sizes are resized.
    features = embedder.encode_frames(clips.reshape(48, 64, 64, 3)).view(3, 16, -1)
    assert torch.allclose(embedder.pool_frames(features), video, atol=1e-5)
    assert embedder.encode_video(np.zeros((1, 16, 128, 128, 3), np.uint8)).shape == (1, 512)
    with pytest.raises(ValueError, match="uint8"):
        embedder.encode_video(clips.astype(np.float32))
    with pytest.raises(ValueError):
        embedder.encode_video(clips[:, :8])
    # Clear errors for bad files.
    with pytest.raises(FileNotFoundError, match="train.py"):
        load_crafterclip(tmp_path / "missing.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CrafterCLIPFileError, match="not a CrafterCLIP"):
        load_crafterclip(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CrafterCLIPFileError, match="cannot read"):
        load_crafterclip(tmp_path / "junk.pt")
    payload = torch.load(tiny_model_file, weights_only=True)
    payload["state_dict"].pop("logit_scale")
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(CrafterCLIPFileError, match="do not fit"):
        load_crafterclip(tmp_path / "broken.pt")


def test_stage_probe_on_tiny_data(tiny_dataset, tiny_model_file):
    """The stage probe computes on the tiny dataset, and separates stages when the embedding carries them."""
    from tasks.crafter.crafterclip.captions import HOLD_PHRASES
    from tasks.crafter.crafterclip.data import load_episode_captions
    from tasks.crafter.crafterclip.embedder import CrafterCLIPEmbedder
    from tasks.crafter.crafterclip.metrics import embed_pool, nearest_centroid_probe, stage_labels, stage_probe

    dirs = sorted(str(p) for p in tiny_dataset.iterdir())
    caps = [load_episode_captions(p) for p in dirs]
    embedder = CrafterCLIPEmbedder.from_checkpoint(tiny_model_file)
    pool = embed_pool(embedder, dirs, caps, stride=2, progress=False)
    assert len(pool) == len(pool.video) == len(pool.episode) > 20 and set(pool.episode) == set(range(len(dirs)))
    assert (pool.in_view >= 0).all()  # the generator writes view
    result = stage_probe(pool, embedder.encode_text(list(HOLD_PHRASES)))
    for name in ("pickaxe", "near_water", "near_tree", "near_stone"):
        r = result[name]
        assert r["n_clips"] == len(pool) and r["n_groups"] == len(dirs)
        if "skipped" not in r:
            assert 0.0 <= r["balanced_accuracy"] <= 1.0 and 0.0 <= r["majority_baseline"] <= 1.0
            assert np.sum(r["confusion"]) == len(pool) and r["n_folds"] == len(dirs)
    assert 0.0 <= result["pickaxe_from_text"]["accuracy"] <= 1.0
    # An embedding that holds the label is classified perfectly; one of noise is not.
    _, classes = stage_labels(pool.final_state, pool.in_view)["near_tree"]
    both = np.arange(len(pool)) % 2  # both classes in every group
    groups = np.arange(len(pool)) // 2 % 4
    rng = np.random.default_rng(0)
    informative = torch.from_numpy(np.eye(2, 8)[both] + 0.1 * rng.standard_normal((len(both), 8))).float()
    r = nearest_centroid_probe(informative, both, groups, classes)
    assert r["balanced_accuracy"] == 1.0 and r["n_folds"] == 4 and r["chance_balanced"] == 0.5
    noise = torch.from_numpy(rng.standard_normal((len(both), 8))).float()
    assert nearest_centroid_probe(noise, both, groups, classes)["balanced_accuracy"] < 0.8
    one_group = nearest_centroid_probe(informative, both, np.zeros(len(both)), classes)
    assert "skipped" in one_group and one_group["n_groups"] == 1


def test_embed_episodes_writes_all_and_rerun_skips(tiny_dataset, tiny_model_file, tmp_path, capsys):
    import shutil

    from steve1.data.generation import embed_episodes
    from tasks.crafter.crafterclip.embedder import CrafterCLIPEmbedder

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    args = ["--embedder", "crafterclip", "--weights", str(tiny_model_file), "--data_dir", str(data),
            "--batch_size", "8", "--no_progress"]
    summary = embed_episodes.main(args)
    assert summary["embedded"] == 4 and summary["skipped_existing"] == 0
    embedder = CrafterCLIPEmbedder.from_checkpoint(tiny_model_file)
    for path in sorted(data.iterdir()):
        episode = EpisodeStorage(path)
        embeds = episode.load_embeds()
        assert len(embeds) == episode.get_len()
        assert all(e is None for e in embeds[:15])
        assert all(e.shape == (1, 512) and e.dtype == np.float32 for e in embeds[15:])
        frames = episode.load_frame_array()
        t = episode.get_len() - 1
        expected = embedder.encode_video(frames[None, t - 15:t + 1]).numpy()
        np.testing.assert_allclose(embeds[t], expected, atol=1e-5)
        meta = episode.load_metadata()
        assert meta["embedder"] == "crafterclip" and meta["embed_dim"] == 512 and meta["sim"] == "crafter"
    mtimes = {p: (p / "embeds_attn.pkl").stat().st_mtime_ns for p in data.iterdir()}
    summary = embed_episodes.main(args)
    assert summary["embedded"] == 0 and summary["skipped_existing"] == 4
    assert mtimes == {p: (p / "embeds_attn.pkl").stat().st_mtime_ns for p in data.iterdir()}
    # Embeddings of other weights (a retrained model) or another embedder are never mixed in silently.
    from tasks.crafter.crafterclip.embedder import load_crafterclip, save_crafterclip

    model, tokenizer, meta = load_crafterclip(tiny_model_file)
    with torch.no_grad():
        model.logit_scale.add_(1.0)
    retrained = tmp_path / "retrained.pt"
    save_crafterclip(retrained, model, meta["model_kwargs"], tokenizer)
    args_retrained = [a if a != str(tiny_model_file) else str(retrained) for a in args]
    def refused(expected: str) -> None:  # one line on stderr naming --data_dir and the cause, exit code 2
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            embed_episodes.main(args_retrained)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and "--data_dir" in err[0] and expected in err[0], err

    refused("other weights")
    assert embed_episodes.main(args_retrained + ["--overwrite"])["embedded"] == 4
    EpisodeStorage(data / "ep_wood").update_metadata({"embedder": "mineclip"})
    refused("another goal embedder")
