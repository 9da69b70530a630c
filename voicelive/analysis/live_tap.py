"""A tap on the live scorer: collects recent window embeddings (for the drift monitor) and,
when the user allows it, the speech of voices nobody enrolled (for "new voice?" suggestions).

:class:`LiveTap` wraps the recognizer the pipeline scores with. It computes each window's
features once, as the recognizer would, takes the embedding backend's output (GE2E) from them, and
keeps what it saw in bounded in-memory queues; :meth:`LiveTap.drain` hands them over so another
thread (the GUI's job thread) can write them to the store. Nothing here blocks the worker or
touches the disk. Everything else (``speakers``, ``threshold``, ``name``, ``set_target_far`` ...)
is the wrapped recognizer's.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import numpy as np

from voicelive.store.db import utc_now as utc_now_text

log = logging.getLogger(__name__)

MAX_PENDING = 2000
RECENT_EMBEDDINGS = 300
"""In-memory history for the drift monitor (about 2.5 minutes of speech at a 0.5-s hop)."""


class LiveTap:
    """Wraps a :class:`~voicelive.recognition.recognizer.Recognizer` as the pipeline's scorer.

    Parameters
    ----------
    recognizer
        The enrolled model.
    keep_unknown : bool
        Keep the audio of windows no enrolled speaker was accepted for (the user's setting).
    stride : int
        Keep one unknown window in ``stride`` consecutive ones (windows overlap: with 2-s windows
        every 0.5 s, 4 gives back-to-back segments without storing the same audio four times).
    """

    def __init__(self, recognizer, *, keep_unknown: bool = False, stride: int = 4) -> None:
        self.recognizer = recognizer
        self.keep_unknown = bool(keep_unknown)
        self.stride = max(1, int(stride))
        self._emb_index = next((i for i, b in enumerate(recognizer.backends) if b.has_embedding), None)
        self.embedding_hash = (recognizer.backends[self._emb_index].feature_hash
                               if self._emb_index is not None else None)
        self._lock = threading.Lock()
        self._pending_emb: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._pending_unknown: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING // 4)
        self._recent: deque[np.ndarray] = deque(maxlen=RECENT_EMBEDDINGS)
        self._unknown_run = 0
        self.windows = 0
        self.unknown_kept = 0

    # -- the scorer protocol ------------------------------------------------------------------
    @property
    def speakers(self) -> list[str]:
        return self.recognizer.speakers

    @property
    def threshold(self) -> float:
        return self.recognizer.threshold

    def __getattr__(self, name: str):
        # only called for attributes LiveTap does not have: they are the recognizer's
        rec = self.__dict__.get("recognizer")
        if rec is None:
            raise AttributeError(name)
        return getattr(rec, name)

    def score_window(self, wave: np.ndarray) -> dict[str, float]:
        rec = self.recognizer
        feats = rec.extract(wave)
        logits = rec.logits_features(feats)
        probs = 1.0 / (1.0 + np.exp(-logits))
        speakers = rec.speakers
        best = int(np.argmax(logits))
        accepted = bool(logits[best] > rec.threshold_logit)
        emb = None
        if self._emb_index is not None:
            b = rec.backends[self._emb_index]
            e = np.asarray(b.embed_features(feats[self._emb_index]), dtype=np.float32).reshape(-1)
            emb = e / (np.linalg.norm(e) + 1e-12)
        now = utc_now_text()
        with self._lock:
            self.windows += 1
            if emb is not None:
                self._recent.append(emb)
                self._pending_emb.append(dict(time=now, embedding=emb, embedding_hash=self.embedding_hash,
                                              speaker=speakers[best], score=float(probs[best]), accepted=accepted))
            if accepted:
                self._unknown_run = 0
            else:
                if self.keep_unknown and self._unknown_run % self.stride == 0:
                    self._pending_unknown.append(dict(time=now, wave=np.array(wave, dtype=np.float32),
                                                      embedding=emb, embedding_hash=self.embedding_hash,
                                                      best_speaker=speakers[best], score=float(probs[best])))
                    self.unknown_kept += 1
                self._unknown_run += 1
        return {s: float(p) for s, p in zip(speakers, probs)}

    # -- hand-over ------------------------------------------------------------------------------
    def drain(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Take the embeddings and unknown segments collected since the last call."""
        with self._lock:
            emb, unk = list(self._pending_emb), list(self._pending_unknown)
            self._pending_emb.clear()
            self._pending_unknown.clear()
        return emb, unk

    def recent_embeddings(self) -> np.ndarray:
        """The newest window embeddings ``(n, d)`` (empty ``(0, 0)`` when none)."""
        with self._lock:
            rows = list(self._recent)
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def flush_to(self, store) -> tuple[int, int]:
        """Write what :meth:`drain` returns to ``store``; returns (embeddings, segments) written."""
        emb, unk = self.drain()
        n_e = store.add_live_embeddings(emb) if emb else 0
        n_u = len(store.add_unknown_segments(unk)) if unk else 0
        return n_e, n_u


def unwrap(scorer):
    """The recognizer inside a :class:`LiveTap` (or the scorer itself)."""
    return scorer.recognizer if isinstance(scorer, LiveTap) else scorer
