"""MineCLIP (Fan et al. 2022) in-project: model, checkpoint loading, CLIP BPE tokenizer and goal embedders.

``MineCLIP`` matches the official ``attn.pth`` layout (loads strictly); ``load_mineclip`` builds the STEVE-1/PTGM
configuration and loads ``downloads/mineclip_attn.pth``; ``ClipTokenizer`` reads
``downloads/bpe_simple_vocab_16e6.txt.gz``; ``GoalEmbedder`` is the interface the pipeline uses for goal
embeddings, ``MineCLIPEmbedder`` its Minecraft implementation; ``resize_for_mineclip`` brings env frames to
MineCLIP's 160x256. Modules: ``mineclip`` (the model) and ``checkpoint`` (reading a checkpoint into it) import
nothing else of the package but ``clip``/``temporal``; ``loading`` builds and loads; ``embedder`` uses them all.
"""
from steve1.mineclip.embedder import GOAL_WINDOW, GoalEmbedder, MineCLIPEmbedder
from steve1.mineclip.frames import MINECLIP_RESOLUTION, resize_for_mineclip
from steve1.mineclip.loading import (
    DEFAULT_MINECLIP_PATH,
    MINECLIP_ATTN_MD5,
    load_mineclip,
    load_mineclip_state_dict,
    read_mineclip_state_dict,
)
from steve1.mineclip.mineclip import (
    MC_IMAGE_MEAN,
    MC_IMAGE_STD,
    MINECLIP_CONFIG,
    VIT_B16_CLIP_CONFIG,
    MineCLIP,
    preprocess_frames,
)
from steve1.mineclip.tokenizer import DEFAULT_VOCAB_PATH, ClipTokenizer

__all__ = [
    "GOAL_WINDOW",
    "GoalEmbedder",
    "MineCLIPEmbedder",
    "MINECLIP_RESOLUTION",
    "resize_for_mineclip",
    "DEFAULT_MINECLIP_PATH",
    "MINECLIP_ATTN_MD5",
    "load_mineclip",
    "load_mineclip_state_dict",
    "read_mineclip_state_dict",
    "MC_IMAGE_MEAN",
    "MC_IMAGE_STD",
    "MINECLIP_CONFIG",
    "VIT_B16_CLIP_CONFIG",
    "MineCLIP",
    "preprocess_frames",
    "DEFAULT_VOCAB_PATH",
    "ClipTokenizer",
]
