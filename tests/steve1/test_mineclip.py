"""MineCLIP in-project: golden outputs of the official code (fixtures §7), the official state-dict layout
(fixtures §2), checkpoint errors, the CLIP BPE tokenizer and the MineCLIP goal embedder."""
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from steve1.mineclip import (
    ClipTokenizer,
    GoalEmbedder,
    MineCLIP,
    MineCLIPEmbedder,
    load_mineclip,
    preprocess_frames,
)
from steve1.mineclip.checkpoint import file_md5
from steve1.mineclip.mineclip import MINECLIP_CONFIG
from steve1.mineclip.tokenizer import CLIP_NUM_MERGES, pre_tokenize
from steve1.mineclip.frames import MINECLIP_RESOLUTION, resize_for_mineclip

REPO_ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5


# ---------------------------------------------------------------------------------------------------------------
# small model from the fixtures
@pytest.fixture(scope="module")
def golden(fixtures_dir):
    return torch.load(fixtures_dir / "mineclip_small_golden.pt", weights_only=True)


def small_kwargs(golden):
    cfg = dict(golden["config"])
    return dict(
        resolution=cfg["resolution"],
        pool_type=cfg["pool_type"],
        image_feature_dim=cfg["image_feature_dim"],
        mlp_adapter_spec=cfg["mlp_adapter_spec"],
        hidden_dim=cfg["hidden_dim"],
        clip_config=cfg["clip_config"],
    )


@pytest.fixture(scope="module")
def small_model(golden, fixtures_dir):
    model = MineCLIP("vit_base_p16_fz.v2.t2", **small_kwargs(golden))
    model.load_ckpt(fixtures_dir / "mineclip_small_attn.pth", strict=True)
    return model.eval()


def test_small_model_reproduces_official_outputs(small_model, golden):
    video = golden["inputs"]["video_uint8_BLCHW"]
    tokens = golden["inputs"]["text_tokens"]
    expected = golden["outputs"]
    with torch.no_grad():
        image_features = small_model.forward_image_features(video)
        video_features = small_model.forward_video_features(image_features)
        logits_per_video, logits_per_text = small_model.forward_reward_head(video_features, text_tokens=tokens)
        got = {
            "preprocessed_frame0": preprocess_frames(video[0, 0]),
            "image_features": image_features,
            "video_features": video_features,
            "video_features_time_reversed": small_model.encode_video(video.flip(1)),
            "text_features": small_model.encode_text(tokens),
            "adapted_video_features": small_model.reward_head.adapt_video(video_features),
            "logits_per_video": logits_per_video,
            "logits_per_text": logits_per_text,
        }
    assert set(got) == set(expected)
    for name, value in got.items():
        assert value.shape == expected[name].shape, name
        assert (value - expected[name]).abs().max().item() <= TOL, name
    # the temporal transformer sees the order of frames (positional embedding), so reversing the clip matters
    assert (got["video_features"] - got["video_features_time_reversed"]).abs().max() > 1e-3
    # encode_video == pooling of per-frame features; float 0-255 input == uint8 input
    with torch.no_grad():
        assert torch.allclose(small_model.encode_video(video.float()), video_features, atol=TOL)


def test_text_tower_pools_at_end_token(small_model, golden):
    tokens = golden["inputs"]["text_tokens"]
    vocab_size = small_model.clip_config["vocab_size"]
    assert (tokens[:, 0] == vocab_size - 2).all()  # start token
    end_at = tokens.argmax(dim=-1)
    assert (tokens[torch.arange(len(tokens)), end_at] == vocab_size - 1).all()
    # HuggingFace pads with the end token instead of 0: causal attention + first argmax give the same features
    hf_padded = tokens.clone()
    for row, pos in enumerate(end_at.tolist()):
        hf_padded[row, pos + 1 :] = vocab_size - 1
    with torch.no_grad():
        assert torch.allclose(small_model.encode_text(hf_padded), small_model.encode_text(tokens), atol=TOL)
        changed = tokens.clone()
        changed[0, 1] = 5  # a token before the end token does change the feature
        assert (small_model.encode_text(changed)[0] - small_model.encode_text(tokens)[0]).abs().max() > 1e-4


def test_bad_inputs_raise(small_model):
    with pytest.raises(ValueError, match=r"\(160, 256\)"):
        small_model.encode_video(torch.zeros(1, 16, 3, 128, 128, dtype=torch.uint8))
    with pytest.raises(ValueError, match="3, H, W"):
        small_model.encode_video(torch.zeros(1, 16, 160, 256, 3, dtype=torch.uint8))
    with pytest.raises(TypeError, match="token ids"):
        small_model.encode_text(torch.zeros(2, 77))


# ---------------------------------------------------------------------------------------------------------------
# full-size layout
def test_full_model_matches_official_manifest(fixtures_dir):
    manifest = json.loads((fixtures_dir / "mineclip_manifest.json").read_text())
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in manifest["config"].items()} == MINECLIP_CONFIG
    with torch.device("meta"):
        model = MineCLIP(**MINECLIP_CONFIG)
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    official = [(k, v["shape"]) for k, v in manifest["state_dict"].items()]
    assert ours == official  # same keys, same shapes, same order (788 entries)
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]  # unique tensors
    assert model.image_encoder is model.clip_model.vision_model
    assert model.reward_head.clip_model is model.clip_model


# ---------------------------------------------------------------------------------------------------------------
# checkpoint loading and its errors
def test_load_mineclip_md5_and_config(fixtures_dir, golden, tmp_path):
    path = fixtures_dir / "mineclip_small_attn.pth"
    kwargs = small_kwargs(golden)
    model = load_mineclip(path, md5=file_md5(path), **kwargs)
    assert not model.training
    with torch.no_grad():
        got = model.encode_video(golden["inputs"]["video_uint8_BLCHW"])
    assert (got - golden["outputs"]["video_features"]).abs().max() <= TOL
    with pytest.raises(ValueError, match="md5"):
        load_mineclip(path, **kwargs)  # the official md5 is the default
    with pytest.warns(UserWarning, match="md5"):
        load_mineclip(path, on_md5_mismatch="warn", **kwargs)
    with pytest.raises(FileNotFoundError, match="downloads.sh"):
        load_mineclip(tmp_path / "mineclip_attn.pth")


def _save(tmp_path, name, obj):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_wrong_checkpoints_give_clear_errors(fixtures_dir, golden, tmp_path):
    model = MineCLIP(**small_kwargs(golden))
    ckpt = torch.load(fixtures_dir / "mineclip_small_attn.pth", weights_only=True)

    # a file of another model (the STEVE-1 prior: a plain state dict)
    prior = fixtures_dir / "steve1_prior_small.pt"
    with pytest.raises(ValueError, match=r"steve1_prior_small\.pt.*'state_dict'"):
        model.load_ckpt(prior)

    # missing and unexpected keys are named, with the file
    state = dict(ckpt["state_dict"])
    del state["model.temporal_encoder.attn.model.norm.weight"]
    state["model.temporal_encoder.extra.weight"] = torch.zeros(1)
    path = _save(tmp_path, "edited.pth", {"state_dict": state})
    with pytest.raises(ValueError) as err:
        model.load_ckpt(path)
    message = str(err.value)
    assert "edited.pth" in message and "1 missing" in message and "1 unexpected" in message
    assert "temporal_encoder.attn.model.norm.weight" in message and "temporal_encoder.extra.weight" in message

    # a checkpoint of another size
    other = MineCLIP(**{**small_kwargs(golden), "clip_config": {**golden["config"]["clip_config"], "text_width": 32}})
    with pytest.raises(ValueError, match="wrong shape"):
        other.load_ckpt(fixtures_dir / "mineclip_small_attn.pth")

    # the three copies of a shared tensor must agree
    state = dict(ckpt["state_dict"])
    state["model.image_encoder.ln_post.bias"] = state["model.image_encoder.ln_post.bias"] + 1.0
    with pytest.raises(ValueError, match="same tensor"):
        model.load_ckpt(_save(tmp_path, "diverged.pth", {"state_dict": state}))

    # not a torch file at all
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        model.load_ckpt(junk)

    # nothing was half-loaded by the failures above: a good load still reproduces the golden features
    model.load_ckpt(fixtures_dir / "mineclip_small_attn.pth")
    with torch.no_grad():
        got = model.eval().encode_text(golden["inputs"]["text_tokens"])
    assert (got - golden["outputs"]["text_features"]).abs().max() <= TOL


# ---------------------------------------------------------------------------------------------------------------
# tokenizer
TINY_MERGES = ["h e", "l l", "he ll", "hell o</w>", "w o", "wo r", "wor l", "worl d</w>", "c a", "ca t</w>"]


def write_vocab(path: Path, merges) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return path


def byte_id(ch: str, end_of_word: bool = False) -> int:
    """Id of a printable ASCII byte symbol in CLIP's vocabulary layout (printable bytes start at '!')."""
    return ord(ch) - ord("!") + (256 if end_of_word else 0)


def test_pre_tokenize_splits_like_clip():
    assert pre_tokenize("don't stop!!1 23 héllo") == ["don", "'t", "stop", "!!", "1", "2", "3", "héllo"]
    assert pre_tokenize("<|startoftext|>hi<|endoftext|>") == ["<|startoftext|>", "hi", "<|endoftext|>"]


def test_tokenizer_on_tiny_vocabulary(tmp_path):
    tok = ClipTokenizer(write_vocab(tmp_path / "tiny.txt.gz", TINY_MERGES))
    assert tok.vocab_size == 512 + len(TINY_MERGES) + 2
    assert (tok.sot_token, tok.eot_token) == (tok.vocab_size - 2, tok.vocab_size - 1)
    assert tok.encode("Hello   WORLD") == [515, 519]  # cleaned, lower-cased, fully merged words
    assert tok.encode("cat") == [521]
    assert tok.encode("cats") == [520, byte_id("t"), byte_id("s", end_of_word=True)]
    assert tok.encode("hell") == [512, byte_id("l"), byte_id("l", end_of_word=True)]
    assert tok.encode("a &amp; b") == [byte_id("a", True), byte_id("&", True), byte_id("b", True)]
    assert tok.decode(tok.encode("hello cats")) == "hello cats"

    batch = tok(["hello world", "cat"])
    assert batch.dtype == torch.int64 and batch.shape == (2, 77)
    assert batch[0, :4].tolist() == [tok.sot_token, 515, 519, tok.eot_token]
    assert batch[1, :3].tolist() == [tok.sot_token, 521, tok.eot_token]
    assert (batch[0, 4:] == 0).all() and (batch[1, 3:] == 0).all()
    assert batch.argmax(dim=-1).tolist() == [3, 2]  # the text tower pools at the end token
    long = tok(["cat " * 100])[0]
    assert long[-1].item() == tok.eot_token and (long[1:-1] == 521).all()  # truncated, end token kept


def test_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="downloads.sh"):
        ClipTokenizer(tmp_path / "bpe_simple_vocab_16e6.txt.gz")
    with pytest.raises(ValueError, match=r"bad.txt.gz:3"):
        ClipTokenizer(write_vocab(tmp_path / "bad.txt.gz", ["h e", "a b c"]))
    tok = ClipTokenizer(write_vocab(tmp_path / "tiny.txt.gz", TINY_MERGES))
    with pytest.raises(TypeError):
        tok([1, 2])


def test_real_clip_vocabulary_if_downloaded():
    path = REPO_ROOT / "downloads" / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        pytest.skip(f"{path} not downloaded (bash downloads.sh)")
    tok = ClipTokenizer(path)
    assert tok.vocab_size == 49408 == 512 + CLIP_NUM_MERGES + 2
    # ids as produced by OpenAI's clip.tokenize
    assert tok(["a photo of a cat"])[0, :7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]


# ---------------------------------------------------------------------------------------------------------------
# goal embedder
def test_goal_embedder_is_abstract():
    with pytest.raises(TypeError):
        GoalEmbedder()


@pytest.fixture
def small_embedder(small_model, tmp_path):
    # a 1000-token vocabulary, the size of the small model's text tower
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges = [f"{a} {b}" for a in letters for b in letters][: 1000 - 512 - 2]
    return MineCLIPEmbedder(small_model, vocab_path=write_vocab(tmp_path / "vocab1000.txt.gz", merges))


def test_resize_for_mineclip_golden(fixtures_dir):
    """The official cv2 call (fixtures README §6): bit-exact with opencv 5.0, else within ±1 grey level."""
    import cv2

    resize_golden = torch.load(fixtures_dir / "resize_golden.pt", weights_only=True)
    expected = resize_golden["mineclip_frame_160x256x3"].numpy()
    ours = resize_for_mineclip(resize_golden["pov_360x640"].numpy())
    assert MINECLIP_RESOLUTION == (160, 256) and ours.dtype == np.uint8 and ours.shape == expected.shape
    diff = np.abs(ours.astype(np.int16) - expected.astype(np.int16)).max()
    assert diff <= (0 if cv2.__version__.startswith("5.0.") else 1), f"max |diff| {diff} grey levels"
    for bad in (np.zeros((360, 640, 3), np.float32), np.zeros((360, 640), np.uint8)):
        with pytest.raises(ValueError, match=r"^resize_for_mineclip: expected a uint8 frame \[H, W, 3\]"):
            resize_for_mineclip(bad)


def test_mineclip_embedder_video(small_embedder, golden):
    assert small_embedder.window == 16 and small_embedder.embed_dim == 64
    assert small_embedder.frame_size == (160, 256)
    frames = golden["inputs"]["video_uint8_BLCHW"].permute(0, 1, 3, 4, 2).numpy()  # HWC, as datasets store them
    got = small_embedder.encode_video(frames)
    assert got.dtype == torch.float32 and got.shape == (1, 64)
    assert (got - golden["outputs"]["video_features"]).abs().max() <= TOL

    # raw env frames (360x640) and agent frames (128x128) are resized with resize_for_mineclip
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(2, 16, 36, 64, 3), dtype=np.uint8)
    resized = np.stack([[resize_for_mineclip(f) for f in clip] for clip in raw])
    assert torch.allclose(small_embedder.encode_video(torch.from_numpy(raw)), small_embedder.encode_video(resized))

    # per-frame path (window_embedding.py): each frame encoded once, then pooled == encode_video
    features = small_embedder.encode_frames(frames[0])
    assert features.shape == (16, 64)
    assert torch.allclose(small_embedder.pool_frames(features[None]), got, atol=TOL)
    assert torch.allclose(small_embedder.encode_frames(raw[0]), small_embedder.encode_frames(resized[0]))

    with pytest.raises(ValueError, match="uint8"):
        small_embedder.encode_video(frames.astype(np.float32))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        small_embedder.encode_frames(frames)
    with pytest.raises(ValueError, match=r"\[B, 16, H, W, 3\]"):
        small_embedder.encode_video(frames[:, :8])


def test_mineclip_embedder_text(small_embedder, small_model):
    got = small_embedder.encode_text(["collect wood", "kill a spider"])
    assert got.dtype == torch.float32 and got.shape == (2, 64)
    tokens = small_embedder.tokenizer(["collect wood", "kill a spider"])
    with torch.no_grad():
        assert torch.allclose(got, small_model.encode_text(tokens))
    assert (got[0] - got[1]).abs().max() > 1e-4
    with pytest.raises(TypeError):
        small_embedder.encode_text("collect wood")


def test_embedder_rejects_vocabulary_of_other_size(small_model, tmp_path):
    embedder = MineCLIPEmbedder(small_model, vocab_path=write_vocab(tmp_path / "tiny.txt.gz", TINY_MERGES))
    with pytest.raises(ValueError, match="vocabulary of 524 tokens"):
        embedder.encode_text(["hello"])
