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

* **final state** (what the clip's LAST frame shows, so that a goal embedding carries the stage of the tech tree,
  issue 18): up to three phrases appended to the events, in this order:

  ===========  ============================================================================================
  ``hold``     the best pickaxe in the inventory: "with no pickaxe", "with a wood pickaxe", "with a stone
               pickaxe", "with an iron pickaxe" (:data:`HOLD_PHRASES`; always present)
  ``near``     the most telling thing in the view window (:data:`NEAR_THINGS`, first found in this order):
               "near diamond", "near iron", "near coal", "near lava", "near a furnace", "near a table",
               "near a zombie", "near a skeleton", "near water", "near stone", "near a cow", "near trees";
               absent when none is in view, or when the infos have no ``view`` (datasets written before it)
  ``light``    "in the dark" when ``daylight`` < :data:`DARK_BELOW` (crafter draws night noise below it);
               absent in daylight or without ``daylight``
  ===========  ============================================================================================

A clip's captions are ordered by :data:`CAPTIONS` (rarest, most specific first): its **primary caption** is the
first (one caption per clip, the retrieval target); its **event caption** joins up to two events and the state
with " and " (e.g. "collect wood and walk left"), and its **full caption** appends the final-state phrases (e.g.
"collect stone and walk left with a wood pickaxe near stone"). The wording of the achievement captions is the
wording of the downstream task prompts in ``tasks/task_specs.yaml`` ("collect wood", "make a stone pickaxe",
"drink water", "defeat a zombie", ...), so a task prompt is a caption the model was trained on (training drops the
final-state phrases of a share of the texts, ``p_drop_final_state``, so bare event captions stay targets).

Window semantics as MineCLIP's (spec §3.4): the clip ending at frame t holds frames ``[t-15, t]``, so it contains
the 15 transitions ``(t-16+k) -> (t-15+k)``, k = 1..15, and no clip ends before t = 15.

Per-frame state read (the keys the Crafter play data stores, :mod:`tasks.crafter.env`):
``achievements`` int [L, 22] (columns in crafter's order), ``inventory`` int [L, 16] (health is column 0),
``player_pos`` int [L, 2] (x, y; y grows downwards on screen), ``sleeping`` bool [L]. Optional: ``target`` int [L]
(semantic id of the tile the player faces, objects over materials) with the actions int [L] (``actions[t]`` taken
on ``frames[t]``): "attack a <creature>" needs both and is never produced without them. ``view`` uint8 [L, W, H]
(semantic ids of the window each frame shows, :func:`tasks.crafter.generate_play_data.view_window`) gives the
``near`` phrase, ``daylight`` float [L] the ``light`` phrase.
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

# ---- final state (the clip's last frame)
#: Pickaxes from the lowest stage of the tech tree to the highest; the ``hold`` part is the index of the best
#: one held plus 1 (0: none).
PICKAXES: tuple[str, ...] = ("wood_pickaxe", "stone_pickaxe", "iron_pickaxe")
HOLD_PHRASES: tuple[str, ...] = ("with no pickaxe", "with a wood pickaxe", "with a stone pickaxe",
                                 "with an iron pickaxe")
#: (semantic name, phrase) of what the ``near`` part names, most telling first: the rare materials of the later
#: stages, the player's own table and furnace, the creatures that threaten it, then the common landmarks.
NEAR_THINGS: tuple[tuple[str, str], ...] = (
    ("diamond", "near diamond"), ("iron", "near iron"), ("coal", "near coal"), ("lava", "near lava"),
    ("furnace", "near a furnace"), ("table", "near a table"), ("zombie", "near a zombie"),
    ("skeleton", "near a skeleton"), ("water", "near water"), ("stone", "near stone"), ("cow", "near a cow"),
    ("tree", "near trees"),
)
NEAR_PHRASES: tuple[str, ...] = tuple(phrase for _, phrase in NEAR_THINGS)
NEAR_INDEX: dict[str, int] = {name: k for k, (name, _) in enumerate(NEAR_THINGS)}
#: The ``light`` part's one phrase, used when ``daylight`` < DARK_BELOW (crafter's ``engine._light`` draws night
#: noise below 0.5).
DARK_PHRASE = "in the dark"
DARK_BELOW = 0.5
#: The final-state parts in caption order, and each part's phrases (a part's value = index into them; -1: absent).
FINAL_STATE_PARTS: tuple[str, ...] = ("hold", "near", "light")
FINAL_STATE_PHRASES: dict[str, tuple[str, ...]] = {"hold": HOLD_PHRASES, "near": NEAR_PHRASES,
                                                   "light": (DARK_PHRASE,)}
N_FINAL_STATE_PARTS = len(FINAL_STATE_PARTS)
#: A final-state row that claims nothing (every part absent).
NO_FINAL_STATE: tuple[int, ...] = (-1,) * N_FINAL_STATE_PARTS

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


def final_state(infos: Mapping[str, np.ndarray], source: str = "infos") -> tuple[np.ndarray, Optional[np.ndarray]]:
    """What each frame shows of the player's stage (the module docstring's final-state parts).

    Args:
        infos: per-frame state with leading dim L: ``inventory`` (required), ``view`` and ``daylight`` (optional).
        source: named in error messages.

    Returns:
        ``(parts, in_view)``: ``parts`` int8 [L, N_FINAL_STATE_PARTS], column p = index into
        ``FINAL_STATE_PHRASES[FINAL_STATE_PARTS[p]]`` of frame t's phrase, -1 where the part is absent; ``in_view``
        bool [L, len(NEAR_THINGS)], which of :data:`NEAR_THINGS` the frame's window shows, or None without ``view``.

    Raises:
        CaptionError: ``inventory`` missing or malformed; ``view`` / ``daylight`` of the wrong shape or length.
    """
    inv = _require(infos, "inventory", (len(INVENTORY_ITEMS),), source)
    length = len(inv)
    parts = np.full((length, N_FINAL_STATE_PARTS), -1, dtype=np.int8)
    hold = np.zeros(length, np.int8)
    for k, item in enumerate(PICKAXES):
        hold[inv[:, INVENTORY_ITEMS.index(item)] > 0] = k + 1
    parts[:, FINAL_STATE_PARTS.index("hold")] = hold
    in_view = None
    if "view" in infos:
        view = np.asarray(infos["view"])
        if view.ndim != 3 or len(view) != length:
            raise CaptionError(f"{source}: infos['view'] must have shape [L, W, H] with L = {length} frames, got "
                               f"{list(view.shape)}")
        ids = np.array([SEMANTIC_NAMES.index(name) for name, _ in NEAR_THINGS])
        present = np.zeros((length, len(SEMANTIC_NAMES)), bool)  # [L, ids]: which semantic ids the window holds
        flat = view.reshape(length, -1).astype(np.int64)
        flat = np.where((flat >= 0) & (flat < len(SEMANTIC_NAMES)), flat, 0)
        present[np.repeat(np.arange(length), flat.shape[1]), flat.ravel()] = True
        in_view = present[:, ids]
        near = np.where(in_view.any(axis=1), np.argmax(in_view, axis=1), -1)  # first found = most telling
        parts[:, FINAL_STATE_PARTS.index("near")] = near
    if "daylight" in infos:
        daylight = np.asarray(infos["daylight"], dtype=np.float64).reshape(-1)
        if len(daylight) != length:
            raise CaptionError(f"{source}: infos['daylight'] has {len(daylight)} rows for {length} frames")
        parts[daylight < DARK_BELOW, FINAL_STATE_PARTS.index("light")] = 0
    return parts, in_view


def final_state_text(parts: Sequence[int]) -> str:
    """The final-state phrases of one int [N_FINAL_STATE_PARTS] row joined with spaces ("" if every part is
    absent), e.g. "with a wood pickaxe near stone in the dark"."""
    return " ".join(FINAL_STATE_PHRASES[name][int(v)] for name, v in zip(FINAL_STATE_PARTS, parts) if v >= 0)


def caption_text(caption_ids: Sequence[int], parts: Sequence[int] = NO_FINAL_STATE) -> str:
    """A caption from its parts: the :data:`CAPTIONS` of ``caption_ids`` joined with " and ", then the final-state
    phrases of ``parts`` (e.g. ``caption_text([k_collect_stone, k_walk_left], (1, 9, -1))`` = "collect stone and
    walk left with a wood pickaxe near stone")."""
    text = f" {JOIN_WORD} ".join(CAPTIONS[int(k)] for k in caption_ids)
    state = final_state_text(parts)
    return f"{text} {state}" if state else text


@dataclass
class ClipCaptions:
    """Captions of every clip of an episode.

    Attributes:
        captions: bool [L, len(CAPTIONS)]: ``captions[t, k]`` is True when caption ``CAPTIONS[k]`` holds for the clip
            ending at frame t (frames ``[t-15, t]``); rows t < 15 are all False.
        primary: int64 [L]: index in :data:`CAPTIONS` of the clip's primary caption, -1 for t < 15.
        final_state: int8 [L, N_FINAL_STATE_PARTS]: the final-state parts of the clip ending at t (those of frame t,
            :func:`final_state`), -1 = absent; all -1 for t < 15 (default: all -1).
        in_view: bool [L, len(NEAR_THINGS)]: what frame t's window shows (False for t < 15), or None when the
            episode's infos have no ``view``.
    """

    captions: np.ndarray
    primary: np.ndarray
    final_state: Optional[np.ndarray] = None
    in_view: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.final_state is None:
            self.final_state = np.full((len(self.primary), N_FINAL_STATE_PARTS), -1, dtype=np.int8)

    def __len__(self) -> int:
        return len(self.primary)

    def primary_caption(self, t: int) -> Optional[str]:
        """The primary caption of the clip ending at frame t (None for t < 15)."""
        k = int(self.primary[t])
        return None if k < 0 else CAPTIONS[k]

    def caption_list(self, t: int) -> list[str]:
        """All captions of the clip ending at frame t, in priority order (empty for t < 15)."""
        return [CAPTIONS[k] for k in np.flatnonzero(self.captions[t])]

    def event_caption(self, t: int) -> Optional[str]:
        """Up to two event captions and the state caption joined with " and " (None for t < 15)."""
        return full_caption_from_row(self.captions[t])

    def full_caption(self, t: int) -> Optional[str]:
        """The event caption followed by the final-state phrases (None for t < 15)."""
        return full_caption_from_row(self.captions[t], self.final_state[t])


def event_caption_ids(row: np.ndarray) -> list[int]:
    """Indices in :data:`CAPTIONS` of the event caption of a bool [len(CAPTIONS)] row: up to two events, then the
    state (empty for an empty row)."""
    ks = np.flatnonzero(row)
    events = [int(k) for k in ks if k < N_EVENTS][:MAX_EVENTS_IN_FULL_CAPTION]
    states = [int(k) for k in ks if k >= N_EVENTS]
    return events + states[:1]


def full_caption_from_row(row: np.ndarray, parts: Sequence[int] = NO_FINAL_STATE) -> Optional[str]:
    """The caption of one clip from its bool [len(CAPTIONS)] caption row (None if the row is empty): the event
    caption, followed by the final-state phrases of ``parts`` (int [N_FINAL_STATE_PARTS]; default none)."""
    ids = event_caption_ids(row)
    return caption_text(ids, parts) if ids else None


def caption_clips(infos: Mapping[str, np.ndarray], actions: Optional[Sequence[int]] = None,
                  window: int = FRAMES_PER_CLIP, source: str = "infos") -> ClipCaptions:
    """Caption every clip of ``window`` frames of one episode (vectorised; ~1 ms per 1,000 frames).

    Args:
        infos: per-frame state with leading dim L (module docstring).
        actions: optional L action ids (for "attack a <creature>").
        window: frames per clip (16, as MineCLIP).
        source: named in error messages.

    Returns:
        :class:`ClipCaptions` with rows for t in [0, L) (captions, primary caption, final state, what is in view);
        clips end at t >= window - 1.

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
        parts, in_view = final_state(infos, source)
        return ClipCaptions(captions, primary, np.full_like(parts, -1),
                            None if in_view is None else np.zeros_like(in_view))
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
    parts, in_view = final_state(infos, source)
    parts[: window - 1] = -1
    if in_view is not None:
        in_view[: window - 1] = False
    return ClipCaptions(captions, primary, parts, in_view)


# ---------------------------------------------------------------------- tokenizer
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"


def caption_vocabulary() -> list[str]:
    """The closed word vocabulary: ``<pad>``, ``<unk>``, then every word of :data:`CAPTIONS`, of the final-state
    phrases and "and", sorted."""
    words = {JOIN_WORD}
    for caption in CAPTIONS + tuple(p for phrases in FINAL_STATE_PHRASES.values() for p in phrases):
        words.update(caption.split())
    return [PAD_TOKEN, UNK_TOKEN] + sorted(words)


def max_caption_words() -> int:
    """Words in the longest caption: the two longest event captions, the longest state caption, the joining "and"s
    and the longest phrase of each final-state part (22); the tokenizer's ``max_len`` must be at least this."""
    def n_words(texts):
        return sorted(len(t.split()) for t in texts)

    events = n_words(EVENT_CAPTIONS)[-MAX_EVENTS_IN_FULL_CAPTION:]
    return (sum(events) + n_words(STATE_CAPTIONS)[-1] + MAX_EVENTS_IN_FULL_CAPTION
            + sum(n_words(phrases)[-1] for phrases in FINAL_STATE_PHRASES.values()))


#: Tokens per text by default: the longest caption fits.
MAX_CAPTION_WORDS = max_caption_words()


class WordTokenizer:
    """Word-level tokenizer over a closed vocabulary: lower-cases, keeps ``[a-z0-9]+`` words, maps unknown words to
    ``<unk>`` (id 1) and pads with ``<pad>`` (id 0).

    Args:
        vocab: the word list (index = token id); ``vocab[0]`` must be ``<pad>`` and ``vocab[1]`` ``<unk>``.
        max_len: tokens per text; longer texts are truncated (default :data:`MAX_CAPTION_WORDS`, the longest
            caption).

    Raises:
        ValueError: a malformed vocabulary or ``max_len < 1``.
    """

    def __init__(self, vocab: Sequence[str], max_len: Optional[int] = None):
        max_len = MAX_CAPTION_WORDS if max_len is None else max_len
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
