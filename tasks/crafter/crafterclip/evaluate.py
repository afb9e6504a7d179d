r"""Evaluate a CrafterCLIP model on held-out Crafter episodes and write the figures to JSON.

    python tasks/crafter/crafterclip/evaluate.py --weights downloads/crafter/crafterclip.pt \
        --sampling downloads/samplings/crafter_seed1 --out downloads/crafter/crafterclip_eval.json

Three measures (the same ones ``train.py`` writes at the end of training):

* **Caption retrieval** on held-out clips chosen as for training (balanced over primary captions, see
  :func:`.data.select_clips`): the clip's video embedding is compared by cosine with the text embeddings of every
  caption in :data:`.captions.CAPTIONS`; top-1 is correct when the best caption is the clip's primary caption.
  Reported: top-1 accuracy over clips, balanced top-1 (mean over captions of the per-caption recall), top-5, the rate
  at which the best caption is *any* true caption of the clip, and chance = 1 / #captions. The same top-1 is also
  given on the natural pool below (where most clips are "walk ..." or "stand still").
* **Prompt retrieval** on a natural pool: every ``pool_stride``-th clip of every held-out episode. For each
  downstream Crafter task of ``tasks/task_specs.yaml`` with an achievement (its ``prompt``: "collect wood", "make a
  stone pickaxe", ...), the ``k`` = 20 pool clips nearest to the prompt's text embedding (cosine) are taken and the
  share of them that contain the task's achievement event is reported, with the number of pool clips that contain
  it (``n_positive``; precision cannot exceed ``n_positive / k``) and its base rate in the pool.
* **Stage probe** on the same pool (issue 18: does the goal space separate stages of the tech tree?): from the clip
  embeddings alone, a nearest-centroid classifier (cosine to the class means, fitted and tested on different
  held-out episodes, up to 5 folds grouped by episode; :func:`.metrics.nearest_centroid_probe`) predicts, at the
  clip's last frame, the best pickaxe held (none/wood/stone/iron) and whether water, trees and stone are in view.
  Reported per label: accuracy, balanced accuracy (mean recall over classes) vs chance (1 / classes), the majority
  class baseline, per-class recall and the confusion matrix; ``pickaxe_from_text`` is the zero-shot version (the
  nearest of the texts "with no pickaxe", ..., "with an iron pickaxe"). The view labels need play data with the
  ``view`` infos (else they are skipped); the probe needs clips of at least two held-out episodes.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional, Sequence

import torch

from steve1.utils.io import atomic_write_json
from tasks.crafter.crafterclip import train as train_lib
from tasks.crafter.crafterclip.metrics import evaluate_model


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a missing or unreadable model file or config, a missing
    sampling list or data folder, an unusable ``--out``) ends the program with one line on stderr naming the flag, and
    exit code 2, before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("evaluate.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> dict:
    from steve1.utils.checks import check_input_file, check_output_path
    from steve1.utils.cli import UsageError
    from steve1.utils.config import config_dict, load_config
    from tasks.crafter.crafterclip.embedder import DEFAULT_CRAFTERCLIP_PATH, load_crafterclip

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=DEFAULT_CRAFTERCLIP_PATH, help="CrafterCLIP model file")
    parser.add_argument("--config", default=train_lib.DEFAULT_CONFIG,
                        help="config with the held-out clip selection (val_clips, max_clips_per_caption, min_gap, "
                             "pool_stride, nearest_k)")
    parser.add_argument("--data_dir", default=None, help="dataset folder (re-roots the --sampling lists; or, "
                        "without --sampling, the folder split as in train.py)")
    parser.add_argument("--sampling", default=None, help="sampling prefix: reads PREFIX_val.txt")
    parser.add_argument("--cache_dir", default=train_lib.DEFAULT_CACHE_DIR, help="clip frame cache")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the held-out clip selection (default: the config's seed, as in training)")
    parser.add_argument("--out", default=None, help="JSON output (default: <weights without .pt>_eval.json)")
    args = parser.parse_args(argv)

    config = config_dict(load_config(train_lib.CrafterCLIPConfig, args.config, {"seed": args.seed})[0])
    check_input_file(args.weights, "--weights", "a CrafterCLIP model file from tasks/crafter/crafterclip/train.py")
    out = args.out or str(Path(args.weights).with_suffix("")) + "_eval.json"
    check_output_path(out, "--out")
    # the same input checks as train.py, without its output paths
    check = argparse.Namespace(sampling=args.sampling, data_dir=args.data_dir, out=out, eval_out=None,
                               run_dir=os.path.dirname(os.path.abspath(out)), cache_dir=args.cache_dir)
    train_lib.check_paths(check)
    try:
        model, tokenizer, _ = load_crafterclip(args.weights)
    except ValueError as e:  # CrafterCLIPFileError: not a CrafterCLIP file, another version, weights that do not fit
        raise UsageError(f"--weights: {e}") from e
    torch.manual_seed(config["seed"])
    try:
        _, val_dirs = train_lib.read_split(args.sampling, args.data_dir, config, config["seed"])
    except ValueError as e:
        raise UsageError(f"{'--sampling' if args.sampling else '--data_dir'}: {e}") from e
    val_caps = train_lib.caption_episodes(val_dirs, "captioning val episodes")
    val_set = train_lib.build_clip_set(val_dirs, val_caps, config["val_clips"], config, config["seed"] + 1,
                                       args.cache_dir, "caching val clips")
    result = evaluate_model(model, tokenizer, val_set, val_dirs, val_caps, config["pool_stride"],
                            k=config["nearest_k"], batch_size=config["batch_size"])
    result["weights"] = str(args.weights)
    result["val_episodes"] = len(val_dirs)
    atomic_write_json(out, result)
    print(train_lib.summary_text(result))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
