"""Clustering of the codebook's goal points (paper §4.2, spec §7 "Clustering"): t-SNE (optional) + k-means, and
for each cluster the member nearest its centre, whose dataset goal embedding becomes the code.

**Label space of the goal prior (spec §12.1.18).** Clusters are formed in the t-SNE space of ``[embedding ; action
history]``, but the goal prior is trained on labels ``argmax_k cos(goal embedding, code_k)`` in the raw embedding
space (:func:`goal_prior.codebook.nearest_code`). :func:`label_agreement` measures how often the two agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ClusterResult", "cluster_goal_points", "label_agreement"]


@dataclass
class ClusterResult:
    """Attributes:
        points: float64 [M, P], the space k-means ran in (t-SNE 2-D points, or the features for ``none``).
        labels: int64 [M], cluster of each goal point.
        centroids: float64 [N, P], k-means centres.
        representatives: int64 [N], index (into the goal points) of each cluster's member nearest its centre.
        sizes: int64 [N], members per cluster.
    """

    points: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray
    representatives: np.ndarray
    sizes: np.ndarray


def cluster_goal_points(features: np.ndarray, n_codebook: int, embedding: str, seed: int,
                        perplexity: float) -> ClusterResult:
    """t-SNE (optional) + k-means, and each cluster's representative member (spec §7 "Clustering").

    Args:
        features: float [M, F] goal-point features.
        n_codebook: N, the number of clusters (codes).
        embedding: ``tsne`` (2-D t-SNE first, sklearn defaults, ``random_state=seed``) or ``none``.
        seed: seeds t-SNE and k-means.
        perplexity: t-SNE perplexity (sklearn default 30; must be < M).
    Raises:
        ValueError: unknown ``embedding``, fewer goal points than ``n_codebook`` (or than the perplexity needs), or
            fewer distinct points than clusters (an empty cluster).
    """
    from sklearn.cluster import KMeans

    features = np.asarray(features, dtype=np.float64)
    m = features.shape[0]
    if n_codebook < 1:
        raise ValueError(f"--n-codebook must be >= 1, got {n_codebook}")
    if m < n_codebook:
        raise ValueError(f"{m} goal points for {n_codebook} codes: lower --sample-interval or raise --video-num")
    if embedding == "tsne":
        from sklearn.manifold import TSNE

        if not perplexity < m:
            raise ValueError(f"t-SNE perplexity {perplexity} must be below the number of goal points ({m}); "
                             f"lower --perplexity or sample more points")
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
        points = np.asarray(points, dtype=np.float64)
    elif embedding == "none":
        points = features
    else:
        raise ValueError(f"--embedding must be 'tsne' or 'none', got {embedding!r}")
    kmeans = KMeans(n_clusters=n_codebook, init="k-means++", n_init=10, random_state=seed).fit(points)
    labels = kmeans.labels_.astype(np.int64)
    centroids = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
    reps = np.empty(n_codebook, dtype=np.int64)
    sizes = np.bincount(labels, minlength=n_codebook).astype(np.int64)
    for k in range(n_codebook):
        members = np.nonzero(labels == k)[0]
        if len(members) == 0:
            raise ValueError(f"cluster {k} is empty: the goal points have fewer than {n_codebook} distinct values; "
                             f"lower --n-codebook or sample more points")
        dist = np.linalg.norm(points[members] - centroids[k], axis=1)
        reps[k] = members[int(np.argmin(dist))]
    return ClusterResult(points=points, labels=labels, centroids=centroids, representatives=reps, sizes=sizes)


def label_agreement(embeds: np.ndarray, labels: np.ndarray, codes: np.ndarray) -> float:
    """Fraction of goal points whose cosine-nearest code (the goal prior's label) is their own cluster's code.

    Args:
        embeds: float [M, D] goal embeddings; labels: int [M] their clusters; codes: float [N, D].
    """
    from goal_prior.codebook import nearest_code

    return float(np.mean(nearest_code(embeds, codes) == np.asarray(labels)))
