"""Pictures of a codebook, so a person can see what the goals are (spec §7 outputs): the goal points coloured by
cluster (``tsne.png``, or ``pca.png`` for ``--embedding none``) and each code's goal clip as ``center_<k>.gif``.
Every file is written atomically (:func:`steve1.utils.io.atomic_output`).
"""
from __future__ import annotations

import numpy as np

from steve1.utils.io import atomic_output

#: GIF speed: 20 fps, 0.05 s per frame as upstream (one 20 Hz Minecraft tick per frame).
GIF_FPS = 20.0

__all__ = ["GIF_FPS", "plot_clusters", "write_code_gif", "pca_2d"]


def plot_clusters(points: np.ndarray, labels: np.ndarray, representatives: np.ndarray, path: str,
                  title: str) -> None:
    """Scatter of 2-D points (min-max normalised), coloured by cluster, representatives in red; PNG, atomic.

    Args:
        points: float [M, >=2] (only the first two columns are drawn); labels: int [M]; representatives: int [N]
            indices into ``points``; path: the PNG file; title: the plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.asarray(points, dtype=np.float64)[:, :2]
    span = p.max(axis=0) - p.min(axis=0)
    p = (p - p.min(axis=0)) / np.where(span > 0, span, 1.0)
    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    try:
        ax.scatter(p[:, 0], p[:, 1], c=labels, cmap="tab20", s=6, alpha=0.7)
        r = p[representatives]
        ax.scatter(r[:, 0], r[:, 1], c="red", s=30, marker="x", label="codes")
        for k, (x, y) in enumerate(r):
            ax.annotate(str(k), (x, y), fontsize=6, color="red")
        ax.set_title(title)
        ax.legend(loc="upper right")
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def write_code_gif(storage, frame: int, path: str, n_frames: int, fps: float = GIF_FPS) -> list[int]:
    """GIF of the clip ending at ``frame``: frames ``[frame - n_frames + 1, frame]`` (the clip whose embedding is
    the code when ``n_frames`` = 16; spec §7 ``center_<k>.gif``), ``1/fps`` s per frame, looping; atomic.

    Args:
        storage: the episode's :class:`steve1.data.EpisodeStorage.EpisodeStorage`.
    Returns:
        ``[start, end)`` of the frames written.
    """
    import imageio.v3 as iio

    start = max(0, int(frame) - n_frames + 1)
    clip = storage.load_frame_array((start, int(frame) + 1))
    with atomic_output(path) as tmp:
        iio.imwrite(tmp, clip, extension=".gif", duration=int(round(1000.0 / fps)), loop=0)
    return [start, int(frame) + 1]


def pca_2d(x: np.ndarray) -> np.ndarray:
    """2-D PCA projection of float [M, F] points -> float64 [M, 2] (for display of ``--embedding none`` clusters;
    a zero column is added when F < 2)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    if out.shape[1] < 2:
        out = np.concatenate([out, np.zeros((len(out), 2 - out.shape[1]))], axis=1)
    return out
