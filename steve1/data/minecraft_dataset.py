"""Goal-conditioned behaviour-cloning dataset with hindsight relabeling (spec §3.8; STEVE-1, PTGM §3.1).

An item is one chunk of ``T`` consecutive frames of one episode, with, for every frame, the goal embedding of a
frame *at or after it* in the same episode (hindsight relabeling), the agent-space action taken, and ``firsts``.
The class is generic over simulators: every episode's ``metadata.json`` names its simulator (``"sim"``, a key of
:data:`tasks.SIMULATORS`; a missing key means :data:`DEFAULT_SIM`, the Minecraft plugin, for contractor episodes),
and that simulator's plugin (``tasks/<sim>/``, found through
:mod:`tasks`) converts the stored env actions to agent actions (Minecraft: MineRL dict -> joint
``{'buttons','camera'}`` indices; Crafter: int -> int). Frames keep the stored size (Minecraft 128x128, Crafter
64x64).

Relabeling of an episode of length ``L`` (frames ``0..L-1``; embeddings exist for ``t >= 15``):

1. **Goal times** (:func:`sample_goal_times`): ``c = 0``; while ``c < L-1``: ``c += randint(min_btwn_goals,
   max_btwn_goals)`` (high-exclusive); if ``L - c < min_btwn_goals`` then ``c = L-1``; append ``c``. So goal times are
   ``>= min_btwn_goals``, successive gaps lie in ``[min, max)`` except the last one, and the last goal is the
   final frame ``L-1``. (Same as upstream, whose ``min_btwn_goals`` is 15.) A goal time before 15 has no embedding
   but is never any frame's goal: the first input frame is ``max(0, 15 - goal_lead)`` (:func:`first_input_frame`),
   so every goal in use is ``>= 15``, and ``min_btwn_goals`` may be below 15 (``>= 1``; short goal horizons).
2. **Per-frame goal** (:func:`frame_goal_times`): frame ``t`` gets the *first goal time ``>= t + goal_lead``*, so
   its horizon ``goal(t) - t`` lies in ``[goal_lead, goal_lead + max_btwn_goals - 1]`` (the final segment, whose
   last gap can be up to ``max + min - 3`` frames, excepted). ``goal_lead = 0`` is upstream's rule (the first goal
   at or after ``t``). Frames ``t > L - 1 - goal_lead`` have no goal far enough ahead and are never inputs.
3. **Goal vector** for frame ``t``: ``embeds[goal(t)]`` (raw, not normalised).
4. **Classifier-free-guidance dropout**: with probability ``p_uncond`` (one Bernoulli draw per *chunk*), every goal
   vector of the chunk is zeroed.

Chunks: start positions ``f, f+T, f+2T, ... < L - goal_lead``, each covering ``[s, s+T)``; a chunk that would run
past the last frame with a goal is shifted to end there (it overlaps the previous one). ``f`` is the first frame
whose goal has an embedding: ``max(0, 15 - goal_lead)``; with ``goal_lead >= 15`` episode starts are inputs.

**Goals as new information** (``goal_lead``, our addition; issue 18): a goal embedding summarises the 16-frame
clip ``[g - 15, g]`` that ends at the goal time ``g``. With ``goal_lead = 16`` that clip starts after frame ``t``,
so it never overlaps the frames the policy has already seen at ``t`` (its memory holds only frames ``<= t``): the
policy cannot read its goal off its own past and has to act towards it. With upstream's rule (``goal_lead = 0``)
the clip of the goal of most frames covers frames the policy already has in memory.

**Next-unlock relabeling** (``relabeling: next_unlock``, our addition; issue 18; Crafter play data, whose
``infos.npz`` holds per-frame ``achievements`` counts): frame ``t``'s goal time is instead the first later frame
``u`` at which some achievement is unlocked for the first time in the episode (its count goes from 0 to 1 between
frames ``u - 1`` and ``u``; ``u`` is the first frame showing the result), when ``u - t <= unlock_horizon`` frames;
frames with no unlock that close keep their hindsight goal (steps 1-2). The clip ``[u - 15, u]`` ends with the
unlock (an unlock before frame 15 takes frame 15's clip, which holds it), so on the tech tree's trunk a frame's goal
is the trunk's next link (wood, table, wood pickaxe, stone, ...) rather than whatever the player does 16-35 env
steps on, which in the play data is often drinking, sleeping or sheltering (``bench/results/README.md``, "The
prior-driven figure"). An unlock may be fewer than ``goal_lead`` frames ahead, so its clip may overlap frames the
policy has seen, but the unlock itself (the clip's last frame) is always ahead. Not PTGM's relabeling (fixed-horizon
hindsight, §3.1/§4.3); ``hindsight`` (the default) is.

**Next-event relabeling** (``relabeling: next_event``, our addition; issue 18, session 40): as next-unlock, with
every achievement event in place of the first-time unlocks: frame ``t``'s goal time is the first later frame ``u``
at which some achievement count rises (the stone mined, the water drunk, the table placed, again or for the first
time), when ``u - t <= unlock_horizon``, else the hindsight goal. The goal clip then ends with what the player does
next, which on a collecting sub-goal is the collection: what decides the player's turn to a material beside it is
the sub-goal it pursues, which the image does not show (on the held-out player episodes it turns to a stone beside
it on 3% of the frames where it pursues something else, always where it pursues stone; ``bench/results/README.md``,
"What the turn depends on"). Not PTGM's relabeling. Measured in models v7's recipe (session 40, "Next-event
goals"): goal information 0.069 nats/frame against 0.038, the turn to the pursued material with the true goal ~0.13
against ~0.10, the issue's other figures within noise of v7's; ``next_unlock`` stays in the configs.

**Codebook goals** (``goal_codes``, Steve1Config ``goal_codebook``; our addition, issue 18): each relabeled goal
embedding is replaced by its nearest code of the PTGM codebook (cosine, the goal prior's label rule, spec §8.1)
before the goal dropout. Upstream trains the low level on the clips' own embeddings and gives it codes only at
deployment; a code then means "act towards this one clip", whatever state the clip came from. Trained on codes, the
low level learns what the frames the goal prior labels with code ``k`` did next, so a code drawn from the prior is
one the low level was taught to follow from such a state. Measured on Crafter it does not help: codes drawn from
the prior still do worse than the zero goal, and the oracle's codes steer less (``bench/results/README.md``,
"Codebook goals").

**Achievement loss weights** (``achievement_loss_weights``, ``achievement_loss_frames``; our addition, issue 18;
Crafter play data with ``infos.npz`` ``achievements``): the BC loss of the ``achievement_loss_frames`` frames that
end at an action which brings a named achievement about (its count is higher on the next frame: the ``do`` that
mines coal, and the move that turned the player to face it) is weighted by that achievement's weight
(:func:`achievement_frame_weights`). Why: ``action_loss_weights`` cannot single out these frames, since moves and
``do`` are most of the play data; and the low level came next to coal or iron from the report's test starts without
turning to it and pressing ``do`` (``bench/results/README.md``, "Why the late links miss").

**Keyframe loss weight** (``keyframe_loss_weight``; our addition, issue 18, session 39; discrete integer actions,
e.g. Crafter): the BC loss of each frame whose stored action differs from the frame before's is weighted (the
first frame of an episode is not). These are the keyframes of Wen et al. 2021 ("Keyframe-focused visual imitation
learning") in their simplest form: the frames where repeating the last action, which a policy can read off its
images (on Crafter the player's facing shows its last move), is wrong. Why: on the play data's own frames, where
the player stands beside the material it then mines and turns to it, the low level gives that turn p ~0.1 and
walking on p ~0.5 (``bench/results/README.md``, "The turn to the material"): behaviour cloning copied the player's
last move.
Measured at 3 (session 39, "Keyframe weights"): the turn rose to p 0.12-0.16, the Crafter score fell; off (1) in
every shipped config.

Where we deliberately differ from upstream (spec §3.8, §12.1):

* **Relabeling off-by-one fixed (§12.1.7).** Upstream advances its goal pointer only *after* frame ``g_k + 1``, so
  the frame right after a goal is reached still carries that (now past) goal and horizons lie in
  ``[-1, max-2]``. Here every frame's goal is at or after it (horizon ``>= 0``): frame ``g_k`` has goal ``g_k``,
  frame ``g_k + 1`` has goal ``g_{k+1}``.
* **Reproducible randomness.** Upstream draws from numpy's global RNG, so a sample depends on worker scheduling.
  Here the relabeling of item ``idx`` uses ``numpy.random.default_rng([seed, epoch, idx])``: goals are still
  re-drawn every epoch (call :meth:`MinecraftDataset.set_epoch`), but a training run resumed from a checkpoint
  sees exactly the same samples as an uninterrupted one, whatever the number of DataLoader workers.
* Generic over simulators (plugin action conversion) instead of MineRL only; an incomplete episode dir (missing
  files or embeddings) raises with its path and the reason instead of being skipped silently (episodes that are
  merely too short for ``T`` are skipped and counted in ``n_skipped_short``, as upstream).

Reuse by the goal prior (spec §8.1): subclass and override :meth:`MinecraftDataset.make_item`, which receives the
loaded chunk and the per-frame goal times (:meth:`MinecraftDataset.chunk_goal_times` gives them on their own), and
returns ``(obs, actions, firsts)``; e.g. replace the goal embeddings by the nearest-codebook-entry label.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from steve1.data.contractor import SIM as CONTRACTOR_SIM

#: Frames before this index have no goal embedding (a MineCLIP window needs 16 frames) and are never inputs.
FIRST_USABLE_FRAME = 15
#: ``sim`` assumed for episodes whose metadata has none: OpenAI contractor episodes converted upstream-style, whose
#: actions are the contractor format's (its simulator's registry key is recorded by :mod:`steve1.data.contractor`).
DEFAULT_SIM = CONTRACTOR_SIM


# ----------------------------------------------------------------------------------------------------------------
# Hindsight relabeling (pure functions, numpy)
# ----------------------------------------------------------------------------------------------------------------

def sample_goal_times(episode_len: int, min_btwn_goals: int, max_btwn_goals: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Goal times over a whole episode (spec §3.8 step 1).

    Args:
        episode_len: ``L``, frames in the episode (>= 1).
        min_btwn_goals, max_btwn_goals: gap bounds in frames; gaps are ``rng.integers(min, max)`` (high-exclusive).
        rng: numpy Generator.

    Returns:
        int64 ``[K]``, strictly increasing frame indices; the last is ``L-1``. All but the last gap lie in
        ``[min_btwn_goals, max_btwn_goals)``; the last gap lies in ``[min_btwn_goals - 1, max_btwn_goals +
        min_btwn_goals - 3]`` (a goal that would land fewer than ``min_btwn_goals`` frames before the end is moved
        to the final frame), or is shorter when the whole episode is.

    Raises:
        ValueError: ``episode_len < 1`` or ``not 0 < min_btwn_goals < max_btwn_goals``.
    """
    if episode_len < 1:
        raise ValueError(f"episode_len must be >= 1, got {episode_len}")
    if not 0 < min_btwn_goals < max_btwn_goals:
        raise ValueError(f"need 0 < min_btwn_goals < max_btwn_goals, got {min_btwn_goals}, {max_btwn_goals}")
    last = episode_len - 1
    times = []
    c = 0
    while c < last:
        c += int(rng.integers(min_btwn_goals, max_btwn_goals))
        if episode_len - c < min_btwn_goals:
            c = last
        times.append(c)
    if not times:  # a one-frame episode: its only frame is its goal
        times.append(last)
    return np.asarray(times, dtype=np.int64)


def frame_goal_times(goal_times: np.ndarray, episode_len: int, goal_lead: int = 0) -> np.ndarray:
    """Per-frame goal time: for each frame ``t`` the first goal time ``>= t + goal_lead`` (spec §3.8 step 2,
    §12.1.7 fixed; ``goal_lead``: module docstring, "Goals as new information").

    Args:
        goal_times: int ``[K]`` increasing, last == ``episode_len - 1`` (from :func:`sample_goal_times`).
        episode_len: ``L``.
        goal_lead: the least number of frames between a frame and its goal (0: upstream).

    Returns:
        int64 ``[max(L - goal_lead, 0)]``, for frames ``0 .. L - 1 - goal_lead`` (later frames have no goal
        ``goal_lead`` frames ahead); ``out[t] >= t + goal_lead``.

    Raises:
        ValueError: the last goal time is not the final frame, or ``goal_lead < 0``.
    """
    goal_times = np.asarray(goal_times, dtype=np.int64)
    if goal_times.size == 0 or goal_times[-1] != episode_len - 1:
        raise ValueError(f"the last goal time must be the final frame {episode_len - 1}, got {goal_times[-1:]}")
    if goal_lead < 0:
        raise ValueError(f"goal_lead must be >= 0 frames, got {goal_lead}")
    idx = np.searchsorted(goal_times, np.arange(max(episode_len - goal_lead, 0)) + goal_lead, side="left")
    return goal_times[idx]


#: Relabeling rules (module docstring, "Next-unlock relabeling" and "Next-event relabeling").
RELABELINGS = ("hindsight", "next_unlock", "next_event")


def unlock_frames(achievements: np.ndarray, first_only: bool = True) -> np.ndarray:
    """Frames at which some achievement is unlocked for the first time in the episode (``first_only=False``: at
    which some achievement count rises, every event: the ``next_event`` relabeling).

    Args:
        achievements: int ``[L, A]`` achievement counts per frame (``infos.npz`` ``achievements``: row ``i`` is the
            count before action ``i``).
        first_only: only the first time each achievement happens.
    Returns:
        int64 ``[K]`` increasing frame indices ``u`` in ``[1, L)``: some count is 0 at ``u - 1`` and > 0 at ``u``
        (``first_only=False``: higher at ``u`` than at ``u - 1``).
    Raises:
        ValueError: ``achievements`` is not 2-d.
    """
    a = np.asarray(achievements)
    if a.ndim != 2:
        raise ValueError(f"achievements must be [frames, achievements], got shape {a.shape}")
    rise = (a[1:] > a[:-1]) if not first_only else (a[1:] > 0) & (a[:-1] == 0)
    return (np.flatnonzero(rise.any(axis=1)) + 1).astype(np.int64)


def next_unlock_goal_times(hindsight: np.ndarray, start: int, unlocks: np.ndarray, horizon: int,
                           first_embedded: int = FIRST_USABLE_FRAME) -> np.ndarray:
    """Per-frame goal times of the ``next_unlock`` relabeling (module docstring, "Next-unlock relabeling").

    Args:
        hindsight: int64 ``[T]`` the frames' hindsight goal times (absolute frame indices).
        start: the absolute index of the first of the ``T`` frames.
        unlocks: int64 ``[K]`` increasing unlock frames (:func:`unlock_frames`).
        horizon: the most frames between a frame and the unlock that becomes its goal (``>= 1``).
        first_embedded: the first frame that has an embedding (spec §3.4: 15).
    Returns:
        int64 ``[T]``: for frame ``t = start + i``, ``max(u, first_embedded)`` where ``u`` is the first unlock
        ``> t`` with ``u - t <= horizon``, else ``hindsight[i]``.
    """
    hindsight = np.asarray(hindsight, np.int64)
    t = start + np.arange(len(hindsight), dtype=np.int64)
    unlocks = np.asarray(unlocks, np.int64)
    if unlocks.size == 0:
        return hindsight.copy()
    idx = np.searchsorted(unlocks, t, side="right")
    has = idx < unlocks.size
    u = unlocks[np.minimum(idx, unlocks.size - 1)]
    use = has & (u - t <= horizon)
    return np.where(use, np.maximum(u, first_embedded), hindsight)


def achievement_frame_weights(achievements: np.ndarray, weights: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame BC loss weights from the achievements the frames' actions bring about (module docstring,
    "Achievement loss weights").

    Args:
        achievements: int ``[L, A]`` achievement counts per frame (``infos.npz`` ``achievements``: row ``i`` is the
            count before action ``i``).
        weights: float ``[A]`` weight of each achievement (1: not weighted).
        frames: how many frames end at each achievement's action (``>= 1``): the action ``t`` with some count
            higher at ``t + 1`` than at ``t``, and the ``frames - 1`` before it.
    Returns:
        float32 ``[L]``: 1, or on the frames ``[t - frames + 1, t]`` of each such action the largest weight of the
        achievements it brought about (the largest of overlapping windows). The last frame's action has no next
        row, so it is never weighted.
    Raises:
        ValueError: ``achievements`` is not 2-d, ``weights`` is not ``[A]``, or ``frames < 1``.
    """
    a = np.asarray(achievements)
    w = np.asarray(weights, np.float32)
    if a.ndim != 2 or w.shape != (a.shape[1],):
        raise ValueError(f"achievements must be [frames, A] and weights [A], got {a.shape} and {w.shape}")
    if int(frames) < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    out = np.ones(len(a), np.float32)
    gained = a[1:] > a[:-1]                                    # [L - 1, A]: action t brought achievement k about
    per_action = np.where(gained, w[None, :], 1.0).max(axis=1, initial=1.0) if len(a) > 1 else np.ones(0)
    for t in np.flatnonzero(per_action != 1.0):
        lo = max(0, t - int(frames) + 1)
        out[lo:t + 1] = np.maximum(out[lo:t + 1], per_action[t])
    return out


def keyframe_weights(actions: np.ndarray, weight: float) -> np.ndarray:
    """Per-frame BC loss weights of the keyframes (module docstring, "Keyframe loss weight").

    Args:
        actions: int ``[L]`` the stored actions of an episode.
        weight: the keyframes' weight (``>= 1``).
    Returns:
        float32 ``[L]``: ``weight`` where ``actions[t] != actions[t - 1]`` (``t >= 1``), else 1.
    Raises:
        ValueError: ``actions`` is not a 1-d integer array, or ``weight < 1``.
    """
    a = np.asarray(actions)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"keyframe_loss_weight needs one integer action per frame, got an array of shape {a.shape} "
                         f"and dtype {a.dtype}")
    if not float(weight) >= 1.0:
        raise ValueError(f"keyframe_loss_weight must be >= 1 (an up-weighting), got {weight}")
    out = np.ones(len(a), np.float32)
    out[1:][a[1:] != a[:-1]] = float(weight)
    return out


def first_input_frame(goal_lead: int) -> int:
    """The first frame that can be an input: its goal (``>= goal_lead`` frames ahead) must be a frame with an
    embedding (``>= FIRST_USABLE_FRAME``); so ``max(0, FIRST_USABLE_FRAME - goal_lead)``."""
    return max(0, FIRST_USABLE_FRAME - int(goal_lead))


def chunk_starts(episode_len: int, T: int, first_frame: int = FIRST_USABLE_FRAME) -> list[int]:
    """Chunk start frames of one episode (spec §3.8 "Chunks").

    Starts are ``first_frame, first_frame + T, ... < L``; a chunk that would end past ``L`` is shifted to start at
    ``L - T`` (overlapping the previous one). Returns ``[]`` when ``L < first_frame + T``. With a ``goal_lead``,
    pass ``L - goal_lead`` (the frames that have a goal) as ``episode_len``.
    """
    if episode_len < first_frame + T:
        return []
    return [min(s, episode_len - T) for s in range(first_frame, episode_len, T)]


# ----------------------------------------------------------------------------------------------------------------
# Simulator glue (through the plugin registry in tasks/)
# ----------------------------------------------------------------------------------------------------------------

def sim_plugin(sim: str):
    """The plugin module of simulator ``sim`` (``tasks/<sim>/``: ``ACTION_SPACE``, ``env_action_to_agent``, ...).

    The module is imported directly (not through :func:`tasks.get_plugin`), so reading recorded episodes does not
    need the simulator itself installed (MineDojo never is on CPU machines).

    Raises:
        KeyError: ``sim`` is not a registered simulator.
    """
    import tasks

    if sim not in tasks.SIMULATORS:
        raise KeyError(f"episode metadata names simulator {sim!r}, which is not registered in tasks.SIMULATORS "
                       f"({', '.join(tasks.SIMULATORS)})")
    return importlib.import_module(tasks.SIMULATORS[sim].module)


def plugin_function(sim: str, name: str, hint: str = "") -> Callable[..., Any]:
    """The function ``name`` of simulator ``sim``'s plugin (e.g. ``env_action_to_agent``, ``action_features``).

    Raises:
        KeyError: ``sim`` is not a registered simulator.
        AttributeError: the plugin has no ``name`` (the message ends with ``hint``).
    """
    module = sim_plugin(sim)
    fn = getattr(module, name, None)
    if fn is None:
        raise AttributeError(f"simulator plugin {module.__name__} has no {name}(action){hint}")
    return fn


def get_env_action_to_agent(sim: str) -> Callable[[Any], Any]:
    """The ``env_action_to_agent(env_action) -> agent action`` of simulator ``sim``'s plugin (see
    :func:`plugin_function` for the errors)."""
    return plugin_function(sim, "env_action_to_agent")


def _stack_actions(agent_actions: Sequence[Any]) -> Any:
    """Stack per-frame agent actions along time: each leaf becomes ``[T, d]`` (``d = 1`` for discrete heads)."""
    first = agent_actions[0]
    if isinstance(first, dict):
        return {k: _stack_actions([a[k] for a in agent_actions]) for k in first}
    rows = [np.asarray(a).reshape(1, -1) for a in agent_actions]
    out = np.concatenate(rows, axis=0)
    if np.issubdtype(out.dtype, np.integer) or out.dtype == np.bool_:
        out = out.astype(np.int64)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------------------

#: Key of the optional per-frame BC loss weights in an item's ``obs`` (float32 ``[T]``; see
#: :meth:`MinecraftDataset.loss_mask`); :class:`steve1.bc_trainer.BehaviourCloningLoss` takes it out before the policy.
LOSS_MASK_KEY = "loss_mask"


@dataclass
class LoadedChunk:
    """One chunk's data before relabeling output is built (passed to :meth:`MinecraftDataset.make_item`).

    Attributes:
        episode_dir: path of the episode.
        start: first frame index of the chunk (in the episode).
        frames: uint8 ``[T, H, W, 3]`` RGB.
        env_actions: list of ``T`` stored env actions.
        goal_times: int64 ``[T]`` per-frame goal time (absolute frame index, ``>= start + i``).
        embeds: the episode's embedding list (``None`` for ``t < 15``, else float ``[1, D]``).
        rng: the item's numpy Generator (already used for the goal times).
        sim: the episode's simulator (``tasks.SIMULATORS`` key).
    """

    episode_dir: str
    start: int
    frames: np.ndarray
    env_actions: list
    goal_times: np.ndarray
    embeds: list
    rng: np.random.Generator
    sim: str


class MinecraftDataset(Dataset):
    """Chunks of ``T`` frames with hindsight-relabeled goal embeddings (spec §3.8; see the module docstring).

    Args:
        episode_dirs: EpisodeStorage directories (e.g. the lines of ``<sampling>_train.txt``).
        T: frames per chunk.
        min_btwn_goals, max_btwn_goals: goal gap bounds in frames (``1 <= min < max``; module docstring).
        goal_lead: the least number of frames between a frame and its goal (module docstring, "Goals as new
            information"; 0: upstream, 16: the goal's 16-frame clip never overlaps what the policy has seen).
        p_uncond: probability of zeroing all goal vectors of a chunk (classifier-free-guidance dropout).
        limit: keep only the first ``limit`` episodes.
        every_nth: keep every n-th chunk (used for validation).
        seed: base seed of the per-item RNG (``default_rng([seed, epoch, idx])``).
        storage_cls: the EpisodeStorage class (default :class:`steve1.data.EpisodeStorage.EpisodeStorage`).
        mask_random_actions: add ``obs['loss_mask']`` (:meth:`loss_mask`: the play data's random actions out of
            the BC loss; not upstream).
        relabeling: ``hindsight`` (default: steps 1-2 of the module docstring) or ``next_unlock`` (module docstring,
            "Next-unlock relabeling").
        unlock_horizon: frames; with ``next_unlock``, the farthest unlock that becomes a frame's goal (``>= 1``).
        goal_codes: float ``[N, D]`` codebook (``goal_prior.codebook.KMeansCodebook.codes``) or None (default,
            upstream: the goal is the relabeled clip's own embedding). Given, each goal embedding is replaced by the
            code of highest cosine similarity (:func:`goal_prior.codebook.nearest_code`, the goal prior's label
            space ``cosine``) before the goal dropout: the low level then learns, for every code, the behaviour of
            the frames the goal prior labels with that code (module docstring, "Codebook goals"). Not upstream.
        action_loss_weights: ``{env action name: weight}``: add ``obs['loss_mask']`` with each frame weighted by
            its stored action's weight (others 1; multiplied with the random-action mask). The names are the
            simulator plugin's ``ACTION_NAMES`` (Crafter: ``tasks.crafter.env.ACTION_NAMES``). Not upstream: on
            Crafter the crafting and placing actions are ~1.4% of the player's frames, and BC left them at
            p <= 0.1 on the frames where the player chose them (``configs/crafter/steve1.yaml``).
        achievement_loss_weights: ``{achievement name: weight >= 1}``: add ``obs['loss_mask']`` with the
            ``achievement_loss_frames`` frames that end at each action bringing an achievement about weighted by it
            (module docstring, "Achievement loss weights"; the names are the plugin's ``ACHIEVEMENTS``). Not
            upstream.
        achievement_loss_frames: frames per weighted achievement (``>= 1``: the action, and the frames before it).
        keyframe_loss_weight: ``>= 1``; above 1, add ``obs['loss_mask']`` with the frames whose action differs from
            the frame before's weighted by it (:func:`keyframe_weights`, module docstring "Keyframe loss weight";
            needs integer actions, e.g. Crafter). 1 (default): off. Not upstream.

    Item ``idx`` -> ``(obs, actions, firsts)``:
        ``obs = {'img': uint8 [T, H, W, 3], 'mineclip_embed': float32 [T, D]}`` (plus ``'loss_mask'``: float32
        ``[T]`` with ``mask_random_actions`` or ``action_loss_weights``); ``actions``: the plugin's agent
        action stacked over time, each leaf int64 ``[T, 1]`` (Minecraft ``{'buttons','camera'}``, Crafter one
        array); ``firsts``: bool ``[T, 1]``, True only at index 0. The default collate adds the batch axis.
        (``'loss_mask'`` also with ``achievement_loss_weights`` or ``keyframe_loss_weight`` above 1.)

    Raises:
        ValueError: bad ``T``/goal bounds, an unknown ``relabeling`` or ``unlock_horizon < 1``, an episode dir
            that is not a complete episode with embeddings (the message names it and says what is missing), no
            episode long enough (the message gives the minimum length), or ``action_loss_weights`` naming an action
            the episodes' simulator does not have (or one without named discrete actions; the message starts with
            ``action_loss_weights``), likewise ``achievement_loss_weights`` naming an unknown achievement or a
            weight below 1 (the message starts with ``achievement_loss_weights``) or ``achievement_loss_frames < 1``,
            ``keyframe_loss_weight < 1`` (or, when an item is loaded, an episode without integer actions),
            or ``goal_codes`` of another size than the episodes' goal embeddings (the message starts with
            ``goal_codebook``). Loading an item
            raises ``EpisodeReadError`` (naming the file) on unreadable data, and ``ValueError`` (naming the episode)
            under ``next_unlock`` for an episode without ``infos.npz`` ``achievements``.
    """

    def __init__(self, episode_dirs: Sequence[str], T: int, min_btwn_goals: int, max_btwn_goals: int,
                 goal_lead: int, p_uncond: float = 0.1, limit: Optional[int] = None,
                 every_nth: Optional[int] = None, seed: int = 0, storage_cls=None, mask_random_actions: bool = False,
                 action_loss_weights: Optional[Mapping[str, float]] = None, relabeling: str = "hindsight",
                 unlock_horizon: int = 100, goal_codes: Optional[np.ndarray] = None,
                 achievement_loss_weights: Optional[Mapping[str, float]] = None, achievement_loss_frames: int = 1,
                 keyframe_loss_weight: float = 1.0):
        if min_btwn_goals < 1:
            raise ValueError(f"min_btwn_goals must be >= 1 frame, got {min_btwn_goals}")
        if min_btwn_goals >= max_btwn_goals:
            raise ValueError(f"need min_btwn_goals < max_btwn_goals, got {min_btwn_goals} >= {max_btwn_goals}")
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        if goal_lead < 0:
            raise ValueError(f"goal_lead must be >= 0 frames, got {goal_lead}")
        if not 0.0 <= p_uncond <= 1.0:
            raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond}")
        if relabeling not in RELABELINGS:
            raise ValueError(f"relabeling must be one of {RELABELINGS}, got {relabeling!r}")
        if int(unlock_horizon) < 1:
            raise ValueError(f"unlock_horizon must be >= 1 frame, got {unlock_horizon}")
        self.relabeling = relabeling
        self.unlock_horizon = int(unlock_horizon)
        if goal_codes is not None:
            goal_codes = np.asarray(goal_codes, np.float32)
            if goal_codes.ndim != 2 or goal_codes.shape[0] < 1:
                raise ValueError(f"goal_codes must be a [N, D] codebook with N >= 1, got shape {goal_codes.shape}")
        self.goal_codes = goal_codes
        self._unlocks: dict[str, np.ndarray] = {}  # episode dir -> first-time unlock frames, lazily
        if storage_cls is None:
            from steve1.data.EpisodeStorage import EpisodeStorage as storage_cls
        self.storage_cls = storage_cls
        self.T = int(T)
        self.min_btwn_goals = int(min_btwn_goals)
        self.max_btwn_goals = int(max_btwn_goals)
        self.goal_lead = int(goal_lead)
        self.first_frame = first_input_frame(self.goal_lead)
        self.p_uncond = float(p_uncond)
        self.mask_random_actions = bool(mask_random_actions)
        self._random_flags: dict[str, Optional[np.ndarray]] = {}  # episode dir -> infos.npz random_action, lazily
        self.seed = int(seed)
        self.epoch = 0
        #: Minimum episode length to be used (spec §3.5 ``min_frames_training``).
        self.min_frames = max(self.min_btwn_goals + FIRST_USABLE_FRAME,
                              self.T + self.first_frame + self.goal_lead)

        episode_dirs = [str(d) for d in episode_dirs]
        if limit is not None:
            episode_dirs = episode_dirs[:limit]
        self.episode_dirs: list[str] = []
        self.episode_lens: list[int] = []
        self.episode_sims: list[str] = []
        self.n_skipped_short = 0
        chunks = []
        for d in episode_dirs:
            storage = self._storage(d)
            reason = storage.invalid_reason(for_training=False, require_embeds=True)
            if reason is not None:
                raise ValueError(f"{d}: not a usable episode: {reason}")
            length = int(storage.get_len())
            if length < self.min_frames:
                self.n_skipped_short += 1
                continue
            ep = len(self.episode_dirs)
            self.episode_dirs.append(d)
            self.episode_lens.append(length)
            self.episode_sims.append(self._episode_sim(storage))
            chunks.extend((ep, s) for s in chunk_starts(length - self.goal_lead, self.T, self.first_frame))
        if every_nth is not None:
            if every_nth < 1:
                raise ValueError(f"every_nth must be >= 1, got {every_nth}")
            chunks = chunks[::every_nth]
        if not chunks:
            raise ValueError(f"no usable chunk: {len(episode_dirs)} episode dir(s), {self.n_skipped_short} shorter "
                             f"than the minimum {self.min_frames} frames (= max(min_btwn_goals + "
                             f"{FIRST_USABLE_FRAME}, T + first input frame {self.first_frame} + goal_lead "
                             f"{self.goal_lead}))")
        self.chunks: list[tuple[int, int]] = chunks
        #: simulator -> float32 [n actions]: each env action's loss weight (``action_loss_weights``), or empty
        self.action_weights = self._per_sim_weights("action_loss_weights", action_loss_weights, "ACTION_NAMES",
                                                    "actions", "named discrete actions")
        if int(achievement_loss_frames) < 1:
            raise ValueError(f"achievement_loss_frames must be >= 1 frame, got {achievement_loss_frames}")
        self.achievement_loss_frames = int(achievement_loss_frames)
        low = {n: w for n, w in (achievement_loss_weights or {}).items() if not float(w) >= 1.0}
        if low:
            raise ValueError(f"achievement_loss_weights must be >= 1 (an up-weighting), got {low}")
        #: simulator -> float32 [n achievements]: each achievement's loss weight (``achievement_loss_weights``)
        self.achievement_weights = self._per_sim_weights("achievement_loss_weights", achievement_loss_weights,
                                                         "ACHIEVEMENTS", "achievements", "achievements")
        self._event_weights: dict[str, np.ndarray] = {}  # episode dir -> float32 [L] achievement weights, lazily
        if not float(keyframe_loss_weight) >= 1.0:
            raise ValueError(f"keyframe_loss_weight must be >= 1 (an up-weighting), got {keyframe_loss_weight}")
        self.keyframe_loss_weight = float(keyframe_loss_weight)
        self._keyframe_weights: dict[str, np.ndarray] = {}  # episode dir -> float32 [L] keyframe weights, lazily
        self._converters: dict[str, Callable] = {}
        self._goal_dim: Optional[int] = None
        if self.goal_codes is not None and self.goal_codes.shape[1] != self.goal_dim:
            raise ValueError(f"goal_codebook codes are {self.goal_codes.shape[1]}-d, but the episodes' goal "
                             f"embeddings are {self.goal_dim}-d ({self.episode_dirs[0]})")

    # -- helpers -----------------------------------------------------------------------------------------------
    def _per_sim_weights(self, key: str, weights: Optional[Mapping[str, float]], attr: str, what: str,
                         needs: str) -> dict[str, np.ndarray]:
        """``{simulator: float32 [len(plugin.<attr>)]}``: each name's weight from ``weights`` (others 1), for every
        simulator of the episodes; empty when ``weights`` is empty or None.

        Raises:
            ValueError: starting with ``key``: a simulator whose plugin has no ``attr`` (``needs`` says what), or
                names in ``weights`` that are not in it (``what``: what the names are).
        """
        out: dict[str, np.ndarray] = {}
        for sim in sorted(set(self.episode_sims)) if weights else ():
            names = getattr(sim_plugin(sim), attr, None)
            if names is None:
                raise ValueError(f"{key} needs {needs}, and simulator {sim!r} has none")
            unknown = sorted(set(weights) - set(names))
            if unknown:
                raise ValueError(f"{key} names {unknown}, not {what} of simulator {sim!r} ({', '.join(names)})")
            out[sim] = np.asarray([float(weights.get(n, 1.0)) for n in names], np.float32)
        return out

    def _storage(self, episode_dir: str):
        return self.storage_cls(episode_dir)

    @staticmethod
    def _episode_sim(storage) -> str:
        meta = storage.load_metadata() if hasattr(storage, "load_metadata") else {}
        return (meta or {}).get("sim", DEFAULT_SIM)

    def _env_action_to_agent(self, sim: str) -> Callable:
        if sim not in self._converters:
            self._converters[sim] = get_env_action_to_agent(sim)
        return self._converters[sim]

    @property
    def sim(self) -> str:
        """The simulator of the episodes (``metadata.json`` ``"sim"``).

        Raises:
            ValueError: the episodes come from several simulators.
        """
        sims = sorted(set(self.episode_sims))
        if len(sims) != 1:
            raise ValueError(f"episodes from several simulators {sims} in one dataset")
        return sims[0]

    @property
    def goal_dim(self) -> int:
        """D, the goal-embedding size, read from the first episode's first non-None embedding.

        Raises:
            ValueError: the first episode has no embedding at all.
        """
        if self._goal_dim is None:
            embeds = self._storage(self.episode_dirs[0]).load_embeds()
            dims = [np.asarray(e).size for e in embeds if e is not None]
            if not dims:
                raise ValueError(f"{self.episode_dirs[0]}: embeds_attn.pkl holds no embedding (all None)")
            self._goal_dim = int(dims[0])
        return self._goal_dim

    def set_epoch(self, epoch: int) -> None:
        """Select the relabeling draw: item ``idx`` uses ``default_rng([seed, epoch, idx])``."""
        self.epoch = int(epoch)

    def item_rng(self, idx: int) -> np.random.Generator:
        """The numpy Generator of item ``idx`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(idx)])

    def get_total_frames(self) -> int:
        """Frames covered by the chunks (``len(self) * T``)."""
        return len(self.chunks) * self.T

    def __len__(self) -> int:
        return len(self.chunks)

    # -- relabeling --------------------------------------------------------------------------------------------
    def chunk_goal_times(self, episode_len: int, start: int, rng: np.random.Generator) -> np.ndarray:
        """Per-frame goal times (absolute frame indices, int64 ``[T]``) for the chunk ``[start, start+T)``.

        Draws a fresh set of goal times over the whole episode from ``rng`` (spec §3.8 steps 1-2); every goal is
        at least ``goal_lead`` frames after its frame.
        """
        goals = sample_goal_times(episode_len, self.min_btwn_goals, self.max_btwn_goals, rng)
        return frame_goal_times(goals, episode_len, self.goal_lead)[start:start + self.T]

    def episode_unlocks(self, episode_dir: str) -> np.ndarray:
        """int64 ``[K]`` the episode's first-time unlock frames (:func:`unlock_frames`; with ``relabeling``
        ``next_event`` every achievement event's frame), cached.

        Raises:
            ValueError: the episode has no ``infos.npz`` ``achievements`` (e.g. Minecraft data).
        """
        if episode_dir not in self._unlocks:
            ach = self._storage(episode_dir).load_info("achievements")
            if ach is None:
                raise ValueError(f"{episode_dir}: relabeling {self.relabeling} needs infos.npz 'achievements' "
                                 f"(Crafter play data from tasks/crafter/generate_play_data.py); this episode has none")
            self._unlocks[episode_dir] = unlock_frames(ach, first_only=self.relabeling != "next_event")
        return self._unlocks[episode_dir]

    def load_chunk(self, idx: int) -> LoadedChunk:
        """Load chunk ``idx``'s frames, env actions and embeddings and draw its per-frame goal times (``relabeling``).

        Raises:
            IndexError: ``idx`` out of range.
            ValueError: the episode's stored data is inconsistent (message names the episode dir).
        """
        ep, start = self.chunks[idx]
        episode_dir = self.episode_dirs[ep]
        length = self.episode_lens[ep]
        rng = self.item_rng(idx)
        goal_times = self.chunk_goal_times(length, start, rng)
        if self.relabeling in ("next_unlock", "next_event"):
            goal_times = next_unlock_goal_times(goal_times, start, self.episode_unlocks(episode_dir),
                                                self.unlock_horizon)
        storage = self._storage(episode_dir)
        end = start + self.T
        frames = storage.load_frame_array((start, end))
        actions = storage.load_actions()
        embeds = storage.load_embeds()
        if len(actions) < end or len(embeds) < length:
            raise ValueError(f"{episode_dir}: {len(actions)} actions / {len(embeds)} embeds for len {length}")
        return LoadedChunk(episode_dir=episode_dir, start=start, frames=frames,
                           env_actions=list(actions[start:end]), goal_times=goal_times, embeds=embeds, rng=rng,
                           sim=self.episode_sims[ep])

    def goal_embeddings(self, chunk: LoadedChunk) -> np.ndarray:
        """float32 ``[T, D]``: the embedding at each frame's goal time (spec §3.8 step 3).

        Raises:
            ValueError: a goal time has no embedding (``None``; names the episode dir and frame).
        """
        rows = []
        for g in chunk.goal_times:
            e = chunk.embeds[int(g)]
            if e is None:
                raise ValueError(f"{chunk.episode_dir}: frame {int(g)} is a goal but has no embedding "
                                 f"(embeds_attn.pkl entry is None)")
            rows.append(np.asarray(e, dtype=np.float32).reshape(1, -1))
        return np.concatenate(rows, axis=0)

    def quantize_goals(self, goal: np.ndarray, episode_dir: str = "") -> np.ndarray:
        """float32 ``[T, D]``: each row of ``goal`` (float32 ``[T, D]``) replaced by its nearest code of
        ``goal_codes`` (cosine similarity, :func:`goal_prior.codebook.nearest_code`).

        Raises:
            ValueError: the codebook's D differs from the goals' (names the episode dir).
        """
        from goal_prior.codebook import nearest_code

        if goal.shape[1] != self.goal_codes.shape[1]:
            raise ValueError(f"goal_codebook: {episode_dir}: goal embeddings are {goal.shape[1]}-d but the codes are "
                             f"{self.goal_codes.shape[1]}-d")
        return self.goal_codes[nearest_code(goal, self.goal_codes)]

    def agent_actions(self, chunk: LoadedChunk) -> Any:
        """The chunk's actions converted by the simulator plugin, leaves int64 ``[T, d]``."""
        convert = self._env_action_to_agent(chunk.sim)
        return _stack_actions([convert(a) for a in chunk.env_actions])

    def make_item(self, chunk: LoadedChunk):
        """Build ``(obs, actions, firsts)`` from a loaded chunk (override for other labels, e.g. the goal prior).

        Applies the whole-chunk classifier-free-guidance dropout with one Bernoulli(``p_uncond``) draw from
        ``chunk.rng`` (spec §3.8 step 4).
        """
        goal = self.goal_embeddings(chunk)
        if self.goal_codes is not None:
            goal = self.quantize_goals(goal, chunk.episode_dir)
        if chunk.rng.random() < self.p_uncond:
            goal = np.zeros_like(goal)
        firsts = np.zeros((self.T, 1), dtype=bool)
        firsts[0] = True
        obs = {"img": chunk.frames, "mineclip_embed": goal}
        if self.mask_random_actions or self.action_weights or self.achievement_weights or \
                self.keyframe_loss_weight != 1.0:
            obs[LOSS_MASK_KEY] = self.loss_mask(chunk)
        return obs, self.agent_actions(chunk), firsts

    def loss_mask(self, chunk: LoadedChunk) -> np.ndarray:
        """float32 ``[T]``: 0 for the frames whose stored action the play data flags as a random (epsilon) action
        (``infos.npz`` ``random_action``, written by ``tasks/crafter/generate_play_data.py``), 1 elsewhere (every
        frame of an episode without the flag, e.g. contractor data). Issue 18: behaviour cloning leaves the player's
        random actions out of its loss (with ``mask_random_actions``). With ``action_loss_weights``, each frame is
        weighted by its stored action's weight (times the 0/1 of the random-action mask). With
        ``achievement_loss_weights``, a frame's weight is the larger of its action's weight and its
        :func:`achievement_frame_weights` weight; with ``keyframe_loss_weight`` above 1, the larger of those and its
        :func:`keyframe_weights` weight.

        Raises:
            ValueError: ``achievement_loss_weights`` and an episode without ``infos.npz`` ``achievements`` (naming
                the episode).
        """
        mask = np.ones(self.T, np.float32)
        weights = self.action_weights.get(chunk.sim)
        if weights is not None:
            acts = np.asarray(chunk.env_actions, np.int64)
            mask[:len(acts)] = weights[acts]
        ach_weights = self.achievement_weights.get(chunk.sim)
        if ach_weights is not None:
            if chunk.episode_dir not in self._event_weights:
                ach = self._storage(chunk.episode_dir).load_info("achievements")
                if ach is None:
                    raise ValueError(f"{chunk.episode_dir}: achievement_loss_weights needs infos.npz 'achievements' "
                                     f"(Crafter play data from tasks/crafter/generate_play_data.py); this episode "
                                     f"has none")
                self._event_weights[chunk.episode_dir] = achievement_frame_weights(ach, ach_weights,
                                                                                   self.achievement_loss_frames)
            window = self._event_weights[chunk.episode_dir][chunk.start:chunk.start + self.T]
            mask[:len(window)] = np.maximum(mask[:len(window)], window)
        if self.keyframe_loss_weight != 1.0:
            if chunk.episode_dir not in self._keyframe_weights:
                try:
                    self._keyframe_weights[chunk.episode_dir] = keyframe_weights(
                        np.asarray(self._storage(chunk.episode_dir).load_actions()), self.keyframe_loss_weight)
                except ValueError as e:
                    raise ValueError(f"{chunk.episode_dir}: {e}") from e
            window = self._keyframe_weights[chunk.episode_dir][chunk.start:chunk.start + self.T]
            mask[:len(window)] = np.maximum(mask[:len(window)], window)
        if not self.mask_random_actions:
            return mask
        if chunk.episode_dir not in self._random_flags:
            flags = self._storage(chunk.episode_dir).load_info("random_action")
            self._random_flags[chunk.episode_dir] = None if flags is None else np.asarray(flags, bool)
        flags = self._random_flags[chunk.episode_dir]
        if flags is not None:
            window = flags[chunk.start:chunk.start + self.T]
            mask[:len(window)] *= np.where(window, 0.0, 1.0).astype(np.float32)
        return mask

    def __getitem__(self, idx: int):
        return self.make_item(self.load_chunk(idx))


def load_sampling(sampling_dir: str, sampling: str, data_dir: Optional[str] = None) -> tuple[list[str], list[str]]:
    """Episode dirs of a train/val split: the lines of ``<sampling_dir>/<sampling>_{train,val}.txt`` (spec §3.7,
    written by ``steve1/data/sampling/generate_sampling.py``).

    Args:
        sampling_dir: folder of the sampling files.
        sampling: sampling name (e.g. ``seed1``).
        data_dir: if given, every listed episode is taken as ``<data_dir>/<basename of the listed path>`` (a
            dataset moved or mounted elsewhere than where the lists were made).

    Returns:
        ``(train_dirs, val_dirs)``.

    Raises:
        FileNotFoundError: a sampling file is missing (the message names it).
    """
    from steve1.data.sampling.generate_sampling import read_episode_list

    out = []
    for split in ("train", "val"):
        path = os.path.join(sampling_dir, f"{sampling}_{split}.txt")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"sampling file not found: {path} (write it with "
                                    f"python -m steve1.data.sampling.generate_sampling)")
        dirs = read_episode_list(path)
        if data_dir is not None:
            dirs = [os.path.join(data_dir, os.path.basename(os.path.normpath(d))) for d in dirs]
        out.append(dirs)
    return out[0], out[1]
