"""Picking real-speech clips from a shared corpus for tests and screenshots."""

from __future__ import annotations

import numpy as np

SR = 16_000


def long_utterances(corpus, speaker: str, *, start: int, count: int, min_s: float) -> list[np.ndarray]:
    """Up to ``count`` of ``speaker``'s utterances (from position ``start`` in id order) that last at
    least ``min_s`` seconds."""
    out = []
    for u in corpus.by_speaker()[speaker][start:]:
        a = corpus.audio(u)
        if a.size >= min_s * SR:
            out.append(a)
            if len(out) == count:
                break
    return out
