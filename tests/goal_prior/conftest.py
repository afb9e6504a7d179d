"""Synthetic episode datasets for the codebook and goal-prior tests.

Each episode has one hidden "goal type" k: its frames are a flat colour of type k (plus noise) and its goal
embeddings point near the unit vector e_k (with a random per-frame scale, so cosine and Euclidean nearest codes
differ). A prior that sees the frames can therefore predict the code of every hindsight goal in the episode.
Actions are MineRL env-action dicts (contractor-style metadata without "sim", i.e. the Minecraft plugin).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from steve1.data.EpisodeStorage import EpisodeStorage

FRAME = 16
EMBED_DIM = 8
TYPE_COLOURS = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]], dtype=np.int64)


def make_episodes(root, n_episodes=8, length=48, n_types=4, seed=0, sim=None):
    """Write ``n_episodes`` episodes under ``root/data`` and the split files ``root/samplings/syn_{train,val}.txt``
    (every episode in train; the last two also in val). Returns the list of episode dirs."""
    rng = np.random.default_rng(seed)
    data = os.path.join(root, "data")
    dirs = []
    for i in range(n_episodes):
        k = i % n_types
        frames = np.clip(TYPE_COLOURS[k][None, None, None, :] + rng.integers(-20, 21, (length, FRAME, FRAME, 3)),
                         0, 255).astype(np.uint8)
        actions = [{"forward": int(rng.integers(0, 2)), "attack": int(k == 1), "jump": int(rng.integers(0, 2)),
                    "camera": np.array([float(rng.normal()), float(rng.normal())])} for _ in range(length)]
        embeds = [None] * 15
        for _ in range(15, length):
            v = np.zeros(EMBED_DIM)
            v[k] = 1.0
            v = (v + 0.1 * rng.normal(size=EMBED_DIM)) * rng.uniform(0.5, 3.0)
            embeds.append(v.astype(np.float32).reshape(1, EMBED_DIM))
        d = os.path.join(data, f"ep_{i:03d}")
        EpisodeStorage(d).write_episode(frames, actions, metadata={} if sim is None else {"sim": sim},
                                        embeds=embeds, frame_format="npz")
        dirs.append(d)
    samplings = os.path.join(root, "samplings")
    os.makedirs(samplings, exist_ok=True)
    with open(os.path.join(samplings, "syn_train.txt"), "w") as f:
        f.write("\n".join(dirs) + "\n")
    with open(os.path.join(samplings, "syn_val.txt"), "w") as f:
        f.write("\n".join(dirs[-2:]) + "\n")
    return dirs


@pytest.fixture
def episodes(tmp_path):
    return make_episodes(str(tmp_path))


TINY_POLICY_YAML = """\
policy_kwargs:
  attention_heads: 2
  attention_mask_style: clipped_causal
  attention_memory_size: 16
  diff_mlp_embedding: false
  hidsize: 32
  img_shape: [16, 16, 3]
  impala_chans: [4, 8, 8]
  impala_kwargs: {post_pool_groups: 1}
  impala_width: 1
  init_norm_kwargs: {batch_norm: false, group_norm_groups: 1}
  n_recurrence_layers: 1
  only_img_input: true
  pointwise_ratio: 2
  pointwise_use_activation: false
  recurrence_is_residual: true
  recurrence_type: transformer
  timesteps: 8
  use_pointwise_layer: true
  use_pre_lstm_ln: false
pi_head_kwargs: {temperature: 2.0}
"""


@pytest.fixture
def tiny_model(tmp_path):
    path = tmp_path / "tiny_vpt.yaml"
    path.write_text(TINY_POLICY_YAML)
    return str(path)
