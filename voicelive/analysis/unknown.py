""""New voice?" suggestions from the unknown-voice segments kept during live use.

The segments the live app stored (only when the user allowed it) are grouped by voice with
:func:`voicelive.analysis.clustering.cluster` (``auto``); every group with enough speech becomes a
suggestion that can be enrolled as a new speaker in one step (its segments become the new
speaker's clips and leave the unknown pile).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from voicelive.errors import ConfigError

log = logging.getLogger(__name__)

MIN_SEGMENTS = 3
MIN_SPEECH_S = 4.0
MERGE_COSINE = 0.80
"""Groups whose mean embeddings are more alike than this are one suggestion. Unknown speech is
often one new person, which the speaker-count estimate sometimes splits (see
:data:`voicelive.analysis.clustering.ONE_SPEAKER_COSINE`); measured with GE2E, the halves of one
speaker have centroid cosines of 0.76-0.95 and different asterisk speakers 0.58-0.78."""


@dataclass(frozen=True)
class Suggestion:
    """One group of unknown segments that sound like the same new person."""

    number: int                  # 1-based, largest group first
    segment_ids: tuple[int, ...]
    speech_s: float
    confidence: float            # mean per-segment confidence of the group, 0..1
    closest_speaker: str | None  # the enrolled speaker it came closest to, for information

    def label(self) -> str:
        near = f", closest enrolled: {self.closest_speaker}" if self.closest_speaker else ""
        return (f"New voice {self.number}: {len(self.segment_ids)} segments, {self.speech_s:.0f} s "
                f"(confidence {self.confidence:.2f}{near})")


def suggest_new_voices(store, embedder=None, *, min_segments: int = MIN_SEGMENTS,
                       min_speech_s: float = MIN_SPEECH_S, seed: int = 0) -> list[Suggestion]:
    """Group the stored unknown segments; groups with at least ``min_segments`` segments and
    ``min_speech_s`` seconds become suggestions (largest first). Segments stored without an
    embedding (or with another backend's) are embedded now with ``embedder`` (GE2E by default)."""
    from voicelive.analysis.clustering import cluster

    segs = store.unknown_segments()
    if not segs:
        return []
    if embedder is None:
        from voicelive.analysis.embeddings import Embedder

        embedder = Embedder()
    need = [g.id for g in segs if g.embedding is None or g.embedding_hash != embedder.feature_hash]
    fresh = {}
    if need:
        for g in store.unknown_segments(with_audio=True, ids=need):
            fresh[g.id] = embedder.embed_wave(g.wave())
    x = np.stack([fresh.get(g.id, g.embedding) for g in segs])
    res = cluster(x, method="auto", seed=seed)
    groups = merge_alike(x, res.labels)
    conf = res.confidence if len(groups) > 1 else np.ones(len(segs))
    out = []
    for idx in groups:
        speech = float(sum(segs[i].duration_s for i in idx))
        if idx.size < min_segments or speech < min_speech_s:
            continue
        near = [segs[i].best_speaker for i in idx if segs[i].best_speaker]
        closest = max(set(near), key=near.count) if near else None
        out.append(Suggestion(len(out) + 1, tuple(int(segs[i].id) for i in idx), speech,
                              float(np.mean(conf[idx])), closest))
    return out


def merge_alike(x: np.ndarray, labels: np.ndarray, *, min_cosine: float = MERGE_COSINE) -> list[np.ndarray]:
    """Index groups of ``labels`` (outliers ``-1`` left out), with groups whose unit-length mean
    embeddings have a cosine above ``min_cosine`` merged (most alike first); largest group first."""
    from voicelive.analysis.embeddings import unit_rows

    x = unit_rows(x)
    groups = [np.flatnonzero(labels == c) for c in sorted(set(labels.tolist()) - {-1})]
    while len(groups) > 1:
        cents = unit_rows(np.stack([x[g].mean(axis=0) for g in groups]))
        sim = cents @ cents.T
        np.fill_diagonal(sim, -np.inf)
        i, j = np.unravel_index(int(np.argmax(sim)), sim.shape)
        if sim[i, j] <= min_cosine:
            break
        merged = np.sort(np.r_[groups[i], groups[j]])
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [merged]
    return sorted(groups, key=lambda g: (-g.size, int(g[0])))


def enroll_suggestion(store, suggestion: Suggestion, name: str):
    """Add ``name`` with the suggestion's segments as clips, and drop those segments; returns the
    new :class:`~voicelive.store.SpeakerInfo`. The caller brings the model in line (``sync_model``)."""
    segs = store.unknown_segments(with_audio=True, ids=suggestion.segment_ids)
    if not segs:
        raise ConfigError("those unknown segments are gone (already enrolled or deleted); list the suggestions again")
    info = store.add_speaker_with_clips(name, [g.wave() for g in segs], notes="enrolled from unknown live segments")
    store.remove_unknown_segments([g.id for g in segs])
    return info
