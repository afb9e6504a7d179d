"""CrafterCLIP: the Crafter goal embedder, in MineCLIP's role (spec §3.4), trained on the Crafter play dataset.

* :mod:`.captions`: captions of 16-frame clips from the game's per-frame state ("collect wood", "make a stone
  pickaxe", "walk left", ..., then the final state of the clip's last frame: "with a wood pickaxe near stone") and
  the closed-vocabulary word tokenizer;
* :mod:`.model`: :class:`CrafterCLIP` (per-frame CNN + temporal transformer video tower, small text tower, learned
  logit scale) and the CLIP loss;
* :mod:`.data`: clip selection balanced over captions and the decoded-clip cache;
* :mod:`.train` / :mod:`.evaluate`: the training and evaluation scripts (:mod:`.metrics`: caption and prompt
  retrieval, the stage probe);
* :mod:`.embedder`: the model file and :class:`CrafterCLIPEmbedder`, a :class:`steve1.mineclip.GoalEmbedder`.

Stage command (after the play dataset and its train/val split exist)::

    python tasks/crafter/crafterclip/train.py --sampling downloads/samplings/crafter_seed1
    python -m steve1.data.generation.embed_episodes --embedder crafterclip --data_dir downloads/dataset_crafter
"""
from tasks.crafter.crafterclip.captions import CAPTIONS, FRAMES_PER_CLIP, caption_clips
from tasks.crafter.crafterclip.embedder import (DEFAULT_CRAFTERCLIP_PATH, CrafterCLIPEmbedder, load_crafterclip,
                                                save_crafterclip)
from tasks.crafter.crafterclip.model import CrafterCLIP, clip_loss

__all__ = ["CAPTIONS", "FRAMES_PER_CLIP", "caption_clips", "DEFAULT_CRAFTERCLIP_PATH", "CrafterCLIPEmbedder",
           "load_crafterclip", "save_crafterclip", "CrafterCLIP", "clip_loss"]
