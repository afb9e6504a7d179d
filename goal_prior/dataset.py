"""Goal-prior dataset: chunks of frames labelled with the codebook index of their hindsight goal (spec §8.1).

The goal prior ``p(code | frames so far)`` (PTGM §4.3) is trained by behaviour cloning on the same chunks and the
same hindsight relabeling as the goal-conditioned policy (:class:`steve1.data.minecraft_dataset.MinecraftDataset`,
spec §3.8), but its "action" at frame t is a **code label**: the index of the codebook entry nearest the goal
embedding relabelled to frame t.

Label spaces (see ``goal_prior/generate_codebook.py`` for the discussion, spec §12.1.18):

* ``cosine`` (default, upstream): ``label_t = argmax_k cos(g_t, code_k)`` in the raw goal-embedding space
  (:func:`goal_prior.codebook.nearest_code`).
* ``kmeans`` (optional; needs a codebook made with ``--embedding none``, which writes ``kmeans.npz``): the nearest
  k-means centroid (Euclidean) of the goal's clustering feature ``[g_t ; action_scale * action history at the goal
  frame]``, i.e. the clustering's own partition.

Relabeling (``relabeling``, :class:`MinecraftDataset`): ``hindsight`` (upstream) labels frame t with the code of its
hindsight goal, exactly as the low level's relabeling draws it; ``next_unlock`` (ours, issue 18; Crafter play data)
with the code of the clip ending at the episode's next first-time achievement within ``unlock_horizon`` frames
(``steve1/data/minecraft_dataset.py``, "Next-unlock relabeling"), so that at a state on the tech tree's trunk the
label is the trunk's next link rather than whatever the player does 16-35 env steps on; ``next_event`` (ours, issue
18, session 40) with the code of the clip ending at the next achievement event of any kind (module docstring there,
"Next-event relabeling").

Where we deliberately differ from upstream (spec §8.1, §12.1.11): no ``collate_fn`` (upstream's lacked a
``return`` and was unused; the default collate is right); the relabeling off-by-one fix and the reproducible
per-item RNG of :class:`MinecraftDataset` apply here too.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np

from goal_prior.codebook import LABEL_SPACES, KMeansCodebook, nearest_code
from steve1.data.minecraft_dataset import LoadedChunk, MinecraftDataset

__all__ = ["MinecraftGoalPriorDataset", "KMeansLabeler", "LABEL_SPACES"]


class KMeansLabeler:
    """Nearest k-means centroid of ``[goal embedding ; action_scale * action history]`` (label space ``kmeans``).

    Args:
        codebook_path: ``centers.pkl``; ``kmeans.npz`` must sit next to it (written by ``generate_codebook.py
            --embedding none``).
    Raises:
        FileNotFoundError: no ``kmeans.npz`` (e.g. a t-SNE codebook: t-SNE cannot place new points).
        ValueError: the file does not match the codebook (number of centroids).
    """

    def __init__(self, codebook_path: str, n_codes: int):
        path = os.path.join(os.path.dirname(os.fspath(codebook_path)), "kmeans.npz")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"label space 'kmeans' needs {path}, written by goal_prior/generate_codebook.py "
                                    f"--embedding none (a t-SNE codebook cannot label new goals by cluster)")
        with np.load(path) as data:
            self.centroids = np.asarray(data["centroids"], dtype=np.float64)
            self.action_scale = float(data["action_scale"])
            self.use_action_features = bool(data["use_action_features"])
            self.embed_dim = int(data["embed_dim"])
        if self.centroids.shape[0] != n_codes:
            raise ValueError(f"{path} has {self.centroids.shape[0]} centroids but the codebook {codebook_path} has "
                             f"{n_codes} codes")

    def labels(self, goal_embeds: np.ndarray, goal_action_history: Optional[np.ndarray]) -> np.ndarray:
        """int64 [T] labels from goal embeddings float [T, D] and their action histories float [T, A] (or None)."""
        feats = np.asarray(goal_embeds, dtype=np.float64)
        if self.use_action_features:
            feats = np.concatenate([feats, self.action_scale * np.asarray(goal_action_history, np.float64)], axis=1)
        if feats.shape[1] != self.centroids.shape[1]:
            raise ValueError(f"goal features have {feats.shape[1]} dims, the k-means centroids {self.centroids.shape[1]}")
        d = ((feats[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        return np.argmin(d, axis=1).astype(np.int64)


class MinecraftGoalPriorDataset(MinecraftDataset):
    """Chunks with code labels for the goal prior (spec §8.1); same chunks and relabeling as
    :class:`MinecraftDataset`, no classifier-free-guidance dropout.

    Args:
        episode_dirs, T, min_btwn_goals, max_btwn_goals, goal_lead, limit, every_nth, seed, storage_cls: as
            :class:`MinecraftDataset`.
        codebook: a :class:`KMeansCodebook` or the path of its ``centers.pkl``.
        label_space: ``cosine`` (default) or ``kmeans`` (module docstring).
        relabeling, unlock_horizon: as :class:`MinecraftDataset` (module docstring).

    Item ``idx`` -> ``(obs, actions, firsts)``:
        ``obs = {'img': uint8 [T, H, W, 3]}`` (no goal input); ``actions``: int64 ``[T, 1]`` code labels in
        ``[0, N)`` (the ``Discrete(N)`` action of the prior policy); ``firsts``: bool ``[T, 1]``, True at index 0.

    Raises:
        ValueError: unknown ``label_space``, a goal embedding whose size differs from the codebook's (message names
            the codebook file and the episode), plus :class:`MinecraftDataset`'s errors.
        FileNotFoundError: codebook (or ``kmeans.npz``) missing.
    """

    def __init__(self, episode_dirs: Sequence[str], T: int, min_btwn_goals: int, max_btwn_goals: int,
                 codebook: Union[KMeansCodebook, str], goal_lead: int, label_space: str = "cosine",
                 relabeling: str = "hindsight", unlock_horizon: int = 100, limit: Optional[int] = None,
                 every_nth: Optional[int] = None, seed: int = 0, storage_cls=None):
        super().__init__(episode_dirs, T=T, min_btwn_goals=min_btwn_goals, max_btwn_goals=max_btwn_goals,
                         goal_lead=goal_lead, p_uncond=0.0, limit=limit, every_nth=every_nth, seed=seed,
                         storage_cls=storage_cls, relabeling=relabeling, unlock_horizon=unlock_horizon)
        if label_space not in LABEL_SPACES:
            raise ValueError(f"label_space must be one of {LABEL_SPACES}, got {label_space!r}")
        self.codebook = codebook if isinstance(codebook, KMeansCodebook) else KMeansCodebook(codebook)
        self.label_space = label_space
        self._kmeans = KMeansLabeler(self.codebook.path, self.codebook.N) if label_space == "kmeans" else None
        self._feature_fns: dict = {}

    @property
    def n_codes(self) -> int:
        """N, the number of codes (the prior's ``Discrete(N)``)."""
        return self.codebook.N

    def _goal_action_history(self, chunk: LoadedChunk) -> Optional[np.ndarray]:
        """float64 [T, A] action history (16 actions ending at the goal frame) of each frame's goal."""
        if not self._kmeans.use_action_features:
            return None
        from goal_prior.goal_points import action_history, get_action_features

        if chunk.sim not in self._feature_fns:
            self._feature_fns[chunk.sim] = get_action_features(chunk.sim)
        fn = self._feature_fns[chunk.sim]
        actions = self._storage(chunk.episode_dir).load_actions()
        hist = action_history(np.stack([np.asarray(fn(a), np.float64).reshape(-1) for a in actions]))
        return hist[chunk.goal_times]

    def labels(self, chunk: LoadedChunk) -> np.ndarray:
        """int64 [T] code label of each frame's relabelled goal (spec §8.1 steps 1-3).

        Raises:
            ValueError: goal embeddings and codebook differ in size.
        """
        goal = self.goal_embeddings(chunk)
        if goal.shape[1] != self.codebook.embed_dim:
            raise ValueError(f"{chunk.episode_dir}: goal embeddings are {goal.shape[1]}-d but the codebook "
                             f"{self.codebook.path} holds {self.codebook.embed_dim}-d codes")
        if self._kmeans is not None:
            return self._kmeans.labels(goal, self._goal_action_history(chunk))
        return nearest_code(goal, self.codebook.codes)

    def make_item(self, chunk: LoadedChunk):
        firsts = np.zeros((self.T, 1), dtype=bool)
        firsts[0] = True
        return {"img": chunk.frames}, self.labels(chunk).reshape(self.T, 1), firsts
