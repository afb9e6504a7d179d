"""Labels of Crafter goal clips, for the codebook's ``point_sampling: balanced`` (:mod:`goal_prior.goal_points`).

The codebook's goal point at frame t is the goal embedding of the 16-frame clip ``[t-15, t]`` (spec §7). Its
**label** says which sub-goal that clip shows, read from the game's own per-frame state (EpisodeStorage
``infos.npz``, row t = the state shown in ``frames[t]``, written by :mod:`tasks.crafter.generate_play_data`):

* an **achievement** name (``collect_wood``, ``make_stone_pickaxe``, ...; :data:`tasks.crafter.env.ACHIEVEMENTS`)
  when that achievement's counter rose inside the clip, i.e. in one of its 15 transitions
  ``frames[k] -> frames[k+1]``, k = t-15 .. t-1 (Crafter counts every unlock, not only the first). When several
  rose, the rarest one in :data:`ACHIEVEMENT_RARITY` wins;
* else a **state**: ``"sleep"`` when the player is asleep in at least :data:`MIN_SLEEP_FRAMES` of the clip's 16
  frames, otherwise ``"none"`` (walking, standing, fighting without a kill, taking damage, ...).

Per-frame state read: ``achievements`` int [L, 22] (counters, columns in :data:`~tasks.crafter.env.ACHIEVEMENTS`
order) and ``sleeping`` bool [L]. Nothing else is needed (the inventory is not read). This module deliberately does
not use the CrafterCLIP captions (:mod:`tasks.crafter.crafterclip.captions`): a label is a sampling stratum for the
codebook, not a caption, and must not change when the captions are reworded.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from tasks.crafter.env import ACHIEVEMENTS

#: Frames per goal clip (the goal embedding of frame t embeds ``[t-15, t]``; spec §3.4, §7).
CLIP_FRAMES = 16

#: The 22 achievements, rarest first: the tie-break when several counters rise inside one clip. Ordered by depth in
#: Crafter's tech tree (what must be done before: an iron pickaxe needs a furnace, coal, iron, a stone pickaxe, ...),
#: then, within a depth, by how seldom the scripted player's play data shows it (combat and food before the
#: everyday ``collect_drink``, ``collect_wood``, ``collect_sapling``, ``place_plant`` and ``wake_up``).
ACHIEVEMENT_RARITY: tuple[str, ...] = (
    "collect_diamond", "make_iron_pickaxe", "make_iron_sword", "collect_iron", "place_furnace",
    "make_stone_pickaxe", "make_stone_sword", "collect_coal", "defeat_skeleton", "defeat_zombie",
    "make_wood_pickaxe", "make_wood_sword", "place_table", "eat_cow", "eat_plant", "collect_stone", "place_stone",
    "collect_drink", "collect_wood", "collect_sapling", "place_plant", "wake_up",
)
#: Label of a clip without an achievement in which the player sleeps.
SLEEP_LABEL = "sleep"
#: Label of every other clip without an achievement.
NONE_LABEL = "none"
#: Every label a goal point can get: the achievements (rarest first), then the states.
GOAL_LABELS: tuple[str, ...] = ACHIEVEMENT_RARITY + (SLEEP_LABEL, NONE_LABEL)
#: A clip is "sleep" when the player is asleep in at least this many of its 16 frames.
MIN_SLEEP_FRAMES = 8
#: The label of frames t < 15, which are not goal points (no full clip ends there).
NO_CLIP = ""

assert sorted(ACHIEVEMENT_RARITY) == sorted(ACHIEVEMENTS)

__all__ = ["ACHIEVEMENT_RARITY", "CLIP_FRAMES", "GOAL_LABELS", "MIN_SLEEP_FRAMES", "NONE_LABEL", "NO_CLIP",
           "SLEEP_LABEL", "clip_labels", "goal_point_labels"]


def clip_labels(infos: Mapping[str, np.ndarray], source: str = "infos") -> np.ndarray:
    """The label of the clip ``[t-15, t]`` ending at every frame t of one episode (module docstring).

    Args:
        infos: per-frame state with ``achievements`` int [L, 22] and ``sleeping`` bool [L].
        source: named in error messages (e.g. the ``infos.npz`` path).
    Returns:
        str array [L] (numpy unicode): a name of :data:`GOAL_LABELS` for t >= 15, :data:`NO_CLIP` (``""``) for
        t < 15.
    Raises:
        ValueError: a key is missing, has the wrong shape, or the two arrays differ in length.
    """
    for key in ("achievements", "sleeping"):
        if key not in infos:
            raise ValueError(f"{source}: no {key!r} (keys: {sorted(infos)}); Crafter goal-point labels need "
                             f"'achievements' [L, {len(ACHIEVEMENTS)}] and 'sleeping' [L]")
    ach = np.asarray(infos["achievements"])
    sleeping = np.asarray(infos["sleeping"]).astype(bool)
    if ach.ndim != 2 or ach.shape[1] != len(ACHIEVEMENTS):
        raise ValueError(f"{source}: 'achievements' has shape {ach.shape}, expected [L, {len(ACHIEVEMENTS)}]")
    if sleeping.shape != (ach.shape[0],):
        raise ValueError(f"{source}: 'sleeping' has shape {sleeping.shape}, expected [{ach.shape[0]}] (one per "
                         f"frame, as 'achievements')")
    length = ach.shape[0]
    width = max(len(label) for label in GOAL_LABELS)
    labels = np.full(length, NO_CLIP, dtype=f"<U{width}")
    if length < CLIP_FRAMES:
        return labels
    steps = CLIP_FRAMES - 1  # transitions inside one clip
    # rose[i, a]: counter a grew on the transition frames[i] -> frames[i+1]
    rose = (np.diff(ach.astype(np.int64), axis=0) > 0).astype(np.int64)  # [L-1, 22]
    csum = np.concatenate([np.zeros((1, rose.shape[1]), np.int64), np.cumsum(rose, axis=0)])
    in_clip = (csum[steps:] - csum[:-steps]) > 0  # [L-15, 22], row j = clip ending at frame j + 15
    asleep = np.concatenate([[0], np.cumsum(sleeping, dtype=np.int64)])
    asleep = asleep[CLIP_FRAMES:] - asleep[:-CLIP_FRAMES]  # [L-15] frames asleep in the clip ending at j + 15
    clip = np.where(asleep >= MIN_SLEEP_FRAMES, SLEEP_LABEL, NONE_LABEL).astype(labels.dtype)
    # rarest last, so that it overwrites the commoner achievements of the same clip
    for name in reversed(ACHIEVEMENT_RARITY):
        clip[in_clip[:, ACHIEVEMENTS.index(name)]] = name
    labels[steps:] = clip
    return labels


def goal_point_labels(storage) -> np.ndarray:
    """Simulator-plugin function: the goal-clip label of every frame of a recorded Crafter episode.

    Args:
        storage: a :class:`steve1.data.EpisodeStorage.EpisodeStorage` of the Crafter play data (with ``infos.npz``).
    Returns:
        str array [L] (L = ``len.txt``), :func:`clip_labels` of the episode's ``infos.npz``.
    Raises:
        steve1.data.EpisodeStorage.EpisodeReadError: no readable ``infos.npz``.
        ValueError: ``infos.npz`` lacks ``achievements`` or ``sleeping``, or its length differs from ``len.txt``
            (the message names the file).
    """
    from steve1.data.EpisodeStorage import INFOS_FILE

    where = str(storage.episode_dirpath / INFOS_FILE)
    labels = clip_labels(storage.load_infos(), source=where)
    length = storage.get_len()
    if len(labels) != length:
        raise ValueError(f"{where}: {len(labels)} rows, len.txt says {length} frames")
    return labels
