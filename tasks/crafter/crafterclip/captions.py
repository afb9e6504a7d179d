"""Captions of 16-frame Crafter clips, computed from the game's own per-frame state, and the caption tokenizer.

CrafterCLIP plays MineCLIP's role for Crafter (spec §3.4): it embeds a 16-frame clip (the goal window) and a text
into one space. MineCLIP learned from YouTube transcripts; Crafter has none, so a clip's text is written from what
the game records in each frame's ``info`` (EpisodeStorage ``infos.npz``, row t = the state shown in ``frames[t]``):

* **events** (between two consecutive frames of the clip): an achievement counter increases (``collect_wood`` ->
  "collect wood", ``make_stone_pickaxe`` -> "make a stone pickaxe", ``collect_drink`` -> "drink water", ...;
  Crafter counts every unlock, not only the first), the player dies (health reaches 0: "die"), loses health
  ("take damage"), or hits a creature without killing it ("attack a zombie"; needs the faced tile, see below);
* **state** (exactly one per clip): "sleep" (asleep in at least half of the frames), "walk left/right/up/down"
  (moved in >= 3 of the 15 steps and the net displacement is >= 3 tiles, mostly along that axis), "walk around"
  (moved in >= 3 steps otherwise), "stand still".

A clip's captions are ordered by :data:`CAPTIONS` (rarest, most specific first): its **primary caption** is the
first (one caption per clip, the retrieval target), and its **full caption** joins up to two events and the state
with " and " (e.g. "collect wood and walk left"). The wording of the achievement captions is the wording of the
downstream task prompts in ``tasks/task_specs.yaml`` ("collect wood", "make a stone pickaxe", "drink water",
"defeat a zombie", ...), so a task prompt is a caption the model was trained on.

Window semantics as MineCLIP's (spec §3.4): the clip ending at frame t holds frames ``[t-15, t]``, so it contains
the 15 transitions ``(t-16+k) -> (t-15+k)``, k = 1..15, and no clip ends before t = 15.

Per-frame state read (the keys the Crafter play data stores, :mod:`tasks.crafter.env`):
``achievements`` int [L, 22] (columns in crafter's order), ``inventory`` int [L, 16] (health is column 0),
``player_pos`` int [L, 2] (x, y; y grows downwards on screen), ``sleeping`` bool [L]. Optional: ``target`` int [L]
(semantic id of the tile the player faces, objects over materials) with the actions int [L] (``actions[t]`` taken
on ``frames[t]``): "attack a <creature>" needs both and is never produced without them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, INVENTORY_ITEMS, SEMANTIC_NAMES

#: Frames per clip, as MineCLIP (spec §3.4).
FRAMES_PER_CLIP = 16

#: Action id of ``do`` (interact with the faced tile).
DO_ACTION = ACTION_NAMES.index("do")
#: Semantic ids of the creatures that can be attacked, and their names.
CREATURE_IDS: dict[int, str] = {SEMANTIC_NAMES.index(c): c for c in ("cow", "zombie", "skeleton")}

#: The caption of each achievement; the wording of the task prompts in ``tasks/task_specs.yaml``.
ACHIEVEMENT_CAPTIONS: dict[str, str] = {
    "collect_coal": "collect coal",
    "collect_diamond": "collect diamond",
    "collect_drink": "drink water",
    "collect_iron": "collect iron",
    "collect_sapling": "collect a sapling",
    "collect_stone": "collect stone",
    "collect_wood": "collect wood",
    "defeat_skeleton": "defeat a skeleton",
    "defeat_zombie": "defeat a zombie",
    "eat_cow": "eat a cow",
    "eat_plant": "eat a plant",
    "make_iron_pickaxe": "make an iron pickaxe",
    "make_iron_sword": "make an iron sword",
    "make_stone_pickaxe": "make a stone pickaxe",
    "make_stone_sword": "make a stone sword",
    "make_wood_pickaxe": "make a wood pickaxe",
    "make_wood_sword": "make a wood sword",
    "place_furnace": "place a furnace",
    "place_plant": "place a plant",
    "place_stone": "place stone",
    "place_table": "place a table",
    "wake_up": "wake up",
}

#: Event captions, highest priority first (rarer and more specific before common ones).
EVENT_CAPTIONS: tuple[str, ...] = (
    "make an iron pickaxe", "make an iron sword", "collect diamond", "collect iron", "place a furnace",
    "make a stone pickaxe", "make a stone sword", "collect coal", "defeat a skeleton", "defeat a zombie",
    "make a wood pickaxe", "make a wood sword", "place a table", "eat a cow", "eat a plant", "collect stone",
    "place stone", "drink water", "collect wood", "collect a sapling", "place a plant", "wake up", "die",
    "attack a skeleton", "attack a zombie", "attack a cow", "take damage",
)
#: State captions: exactly one per clip, after every event in priority.
STATE_CAPTIONS: tuple[str, ...] = (
    "sleep", "walk left", "walk right", "walk up", "walk down", "walk around", "stand still",
)
#: Every single caption, in priority order; a clip's caption set is a subset of these (its index = priority).
CAPTIONS: tuple[str, ...] = EVENT_CAPTIONS + STATE_CAPTIONS
CAPTION_INDEX: dict[str, int] = {c: i for i, c in enumerate(CAPTIONS)}
N_EVENTS = len(EVENT_CAPTIONS)

#: A clip "walks" when the player moved in at least this many of its 15 steps.
MIN_MOVES_TO_WALK = 3
#: ... and walks in a direction when the net displacement along that axis is at least this many tiles.
MIN_DISPLACEMENT_FOR_DIRECTION = 3
#: Max number of event captions in a full caption (the state caption is always appended).
MAX_EVENTS_IN_FULL_CAPTION = 2
JOIN_WORD = "and"

assert set(ACHIEVEMENT_CAPTIONS) == set(ACHIEVEMENTS) and set(ACHIEVEMENT_CAPTIONS.values()) <= set(EVENT_CAPTIONS)
assert len(set(CAPTIONS)) == len(CAPTIONS)


class CaptionError(ValueError):
    """Per-frame state that cannot be captioned (missing key, wrong shape); the message names the source."""


def _require(infos: Mapping[str, np.ndarray], key: str, shape_tail: tuple, source: str) -> np.ndarray:
    if key not in infos:
        raise CaptionError(f"{source}: per-frame infos have no {key!r} (keys: {sorted(infos)}); CrafterCLIP captions "
                           f"need achievements, inventory, player_pos and sleeping")
    arr = np.asarray(infos[key])
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        raise CaptionError(f"{source}: infos[{key!r}] must have shape [L, {', '.join(map(str, shape_tail))}]"
                           if shape_tail else f"{source}: infos[{key!r}] must have shape [L]")
    return arr


def transition_events(infos: Mapping[str, np.ndarray], actions: Optional[Sequence[int]] = None,
                      source: str = "infos") -> np.ndarray:
    """Which events happen between consecutive frames.

    Args:
        infos: per-frame state (module docstring), arrays with leading dim L (frames).
        actions: optional L Crafter action ids (``actions[t]`` taken on ``frames[t]``); with ``infos["target"]``
            they give the "attack a <creature>" events.
        source: named in error messages (e.g. the episode directory).

    Returns:
        bool [L-1, N_EVENTS]: row i is the transition ``frames[i] -> frames[i+1]``, columns :data:`EVENT_CAPTIONS`.

    Raises:
        CaptionError: a required key is missing or has the wrong shape, or lengths differ.
    """
    ach = _require(infos, "achievements", (len(ACHIEVEMENTS),), source).astype(np.int64)
    inv = _require(infos, "inventory", (len(INVENTORY_ITEMS),), source).astype(np.int64)
    length = len(ach)
    if len(inv) != length:
        raise CaptionError(f"{source}: infos['inventory'] has {len(inv)} rows, infos['achievements'] {length}")
    events = np.zeros((max(length - 1, 0), N_EVENTS), dtype=bool)
    if length < 2:
        return events
    gained = np.diff(ach, axis=0) > 0  # [L-1, 22]
    for a, name in enumerate(ACHIEVEMENTS):
        events[:, CAPTION_INDEX[ACHIEVEMENT_CAPTIONS[name]]] |= gained[:, a]
    health = inv[:, INVENTORY_ITEMS.index("health")]
    died = (health[1:] <= 0) & (health[:-1] > 0)
    events[:, CAPTION_INDEX["die"]] = died
    events[:, CAPTION_INDEX["take damage"]] = (health[1:] < health[:-1]) & ~died
    if actions is not None and "target" in infos:
        target = np.asarray(infos["target"]).astype(np.int64).reshape(-1)
        acts = np.asarray(actions, dtype=np.int64).reshape(-1)
        if len(target) != length or len(acts) != length:
            raise CaptionError(f"{source}: {len(acts)} actions and {len(target)} targets for {length} frames")
        hit = acts[:-1] == DO_ACTION
        for sem_id, creature in CREATURE_IDS.items():
            attacked = hit & (target[:-1] == sem_id)
            killed = {"zombie": "defeat a zombie", "skeleton": "defeat a skeleton", "cow": "eat a cow"}[creature]
            events[:, CAPTION_INDEX[f"attack a {creature}"]] = attacked & ~events[:, CAPTION_INDEX[killed]]
    return events


def _window_sums(per_step: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``per_step`` [L-1, ...] over the ``window - 1`` transitions of each clip ending at t >= window-1.
    Returns [L - window + 1, ...] (row j = clip ending at frame j + window - 1)."""
    csum = np.concatenate([np.zeros((1,) + per_step.shape[1:], np.int64), np.cumsum(per_step, axis=0, dtype=np.int64)])
    steps = window - 1
    return csum[steps:] - csum[:-steps]


@dataclass
class ClipCaptions:
    """Captions of every clip of an episode.

    Attributes:
        captions: bool [L, len(CAPTIONS)]: ``captions[t, k]`` is True when caption ``CAPTIONS[k]`` holds for the clip
            ending at frame t (frames ``[t-15, t]``); rows t < 15 are all False.
        primary: int64 [L]: index in :data:`CAPTIONS` of the clip's primary caption, -1 for t < 15.
    """

    captions: np.ndarray
    primary: np.ndarray

    def __len__(self) -> int:
        return len(self.primary)

    def primary_caption(self, t: int) -> Optional[str]:
        """The primary caption of the clip ending at frame t (None for t < 15)."""
        k = int(self.primary[t])
        return None if k < 0 else CAPTIONS[k]

    def caption_list(self, t: int) -> list[str]:
        """All captions of the clip ending at frame t, in priority order (empty for t < 15)."""
        return [CAPTIONS[k] for k in np.flatnonzero(self.captions[t])]

    def full_caption(self, t: int) -> Optional[str]:
        """Up to two event captions and the state caption joined with " and " (None for t < 15)."""
        return full_caption_from_row(self.captions[t])


def full_caption_from_row(row: np.ndarray) -> Optional[str]:
    """The full caption of one clip from its bool [len(CAPTIONS)] caption row (None if the row is empty)."""
    ks = np.flatnonzero(row)
    if len(ks) == 0:
        return None
    events = [CAPTIONS[k] for k in ks if k < N_EVENTS][:MAX_EVENTS_IN_FULL_CAPTION]
    states = [CAPTIONS[k] for k in ks if k >= N_EVENTS]
    return f" {JOIN_WORD} ".join(events + states[:1])


def caption_clips(infos: Mapping[str, np.ndarray], actions: Optional[Sequence[int]] = None,
                  window: int = FRAMES_PER_CLIP, source: str = "infos") -> ClipCaptions:
    """Caption every clip of ``window`` frames of one episode (vectorised; ~1 ms per 1,000 frames).

    Args:
        infos: per-frame state with leading dim L (module docstring).
        actions: optional L action ids (for "attack a <creature>").
        window: frames per clip (16, as MineCLIP).
        source: named in error messages.

    Returns:
        :class:`ClipCaptions` with rows for t in [0, L); clips end at t >= window - 1.

    Raises:
        CaptionError: missing or malformed state (see :func:`transition_events`).
    """
    if window < 2:
        raise ValueError(f"window must be >= 2 frames, got {window}")
    events = transition_events(infos, actions, source)
    length = len(events) + 1
    pos = _require(infos, "player_pos", (2,), source).astype(np.int64)
    sleeping = _require(infos, "sleeping", (), source).astype(bool)
    if len(pos) != length or len(sleeping) != length:
        raise CaptionError(f"{source}: player_pos/sleeping have {len(pos)}/{len(sleeping)} rows for {length} frames")
    captions = np.zeros((length, len(CAPTIONS)), dtype=bool)
    primary = np.full(length, -1, dtype=np.int64)
    if length < window:
        return ClipCaptions(captions, primary)
    ends = np.arange(window - 1, length)
    captions[ends, :N_EVENTS] = _window_sums(events, window) > 0

    moved = np.any(np.diff(pos, axis=0) != 0, axis=1)
    n_moves = _window_sums(moved, window)
    net = pos[ends] - pos[ends - (window - 1)]
    n_asleep = _window_sums(sleeping[1:], window) + sleeping[ends - (window - 1)]
    ax, ay = np.abs(net[:, 0]), np.abs(net[:, 1])
    state = np.full(len(ends), CAPTION_INDEX["stand still"])
    walking = n_moves >= MIN_MOVES_TO_WALK
    state[walking] = CAPTION_INDEX["walk around"]
    horiz = walking & (ax >= MIN_DISPLACEMENT_FOR_DIRECTION) & (ax > ay)
    vert = walking & (ay >= MIN_DISPLACEMENT_FOR_DIRECTION) & (ay > ax)
    state[horiz & (net[:, 0] < 0)] = CAPTION_INDEX["walk left"]
    state[horiz & (net[:, 0] > 0)] = CAPTION_INDEX["walk right"]
    state[vert & (net[:, 1] < 0)] = CAPTION_INDEX["walk up"]
    state[vert & (net[:, 1] > 0)] = CAPTION_INDEX["walk down"]
    state[2 * n_asleep >= window] = CAPTION_INDEX["sleep"]
    captions[ends, state] = True
    primary[ends] = np.argmax(captions[ends], axis=1)  # first True = highest priority
    return ClipCaptions(captions, primary)


# ---------------------------------------------------------------------- tokenizer
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"


def caption_vocabulary() -> list[str]:
    """The closed word vocabulary: ``<pad>``, ``<unk>``, then every word of :data:`CAPTIONS` and "and", sorted."""
    words = {JOIN_WORD}
    for caption in CAPTIONS:
        words.update(caption.split())
    return [PAD_TOKEN, UNK_TOKEN] + sorted(words)


class WordTokenizer:
    """Word-level tokenizer over a closed vocabulary: lower-cases, keeps ``[a-z0-9]+`` words, maps unknown words to
    ``<unk>`` (id 1) and pads with ``<pad>`` (id 0).

    Args:
        vocab: the word list (index = token id); ``vocab[0]`` must be ``<pad>`` and ``vocab[1]`` ``<unk>``.
        max_len: tokens per text; longer texts are truncated.

    Raises:
        ValueError: a malformed vocabulary or ``max_len < 1``.
    """

    def __init__(self, vocab: Sequence[str], max_len: int = 16):
        vocab = list(vocab)
        if len(vocab) < 2 or vocab[0] != PAD_TOKEN or vocab[1] != UNK_TOKEN or len(set(vocab)) != len(vocab):
            raise ValueError(f"vocab must start with {PAD_TOKEN!r}, {UNK_TOKEN!r} and hold distinct words")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.vocab = vocab
        self.max_len = int(max_len)
        self._ids = {w: i for i, w in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    @staticmethod
    def words(text: str) -> list[str]:
        """The words of ``text`` as the tokenizer sees them."""
        return re.findall(r"[a-z0-9]+", text.lower())

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Tokenize B texts -> int64 [B, max_len] (0-padded; an empty text is one ``<unk>``).

        Raises:
            TypeError: ``texts`` is a single str.
        """
        if isinstance(texts, str):
            raise TypeError("WordTokenizer expects a list of strings, got a single str")
        out = np.zeros((len(texts), self.max_len), dtype=np.int64)
        for i, text in enumerate(texts):
            ids = [self._ids.get(w, 1) for w in self.words(text)][: self.max_len] or [1]
            out[i, : len(ids)] = ids
        return out

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` outside the vocabulary (they become ``<unk>``)."""
        return [w for w in self.words(text) if w not in self._ids]
