"""From per-window calibrated scores to a steady verdict: smoothing, patience, hysteresis, timeout.

Input, once per analysed window: whether the window holds speech, and if so the calibrated score
of every enrolled speaker (each in [0, 1], higher = more likely) and the accept threshold.

* **Smoothing**: scores are averaged over consecutive speech windows — exponentially (old
  evidence fades by ``1 - ema_alpha`` per window) or over the last ``mean_windows`` — and each
  window counts by how much speech it holds: ``min(1, speech_s / full_weight_speech_s)``. The
  first windows after speech starts hold little speech and score unreliably; they cannot drag the
  average down for long.
* **Proposal**: the best smoothed speaker if its score reaches the threshold, else "unknown".
* **Speech onset**: while the newest window still holds all of the speech since it started (the
  caller says so with ``covers_segment``), its scores replace the average instead of joining it.
  The windows before it heard a part of the same speech, less of it; averaging them in would only
  drag the estimate toward the scores of shorter speech (``onset_supersede``).
* **Patience**: a proposal different from what is shown must win ``patience`` speech windows in a
  row (``unknown_patience`` for "unknown") before it is shown; meanwhile the shown verdict stays
  (or is "listening" if nothing was decided yet). A name whose score in this very window passes
  the stricter ``decisive_threshold`` (the scorer's threshold for a lower false-accept rate) is
  shown at once (``decisive_window``): one window that sure is stronger evidence than a few
  overlapping windows that barely pass.
* **Hysteresis**: a shown name stays while its smoothed score is at least
  ``threshold - hysteresis`` and no other speaker leads it by more than ``hysteresis``. Once it
  falls below that, it is no longer shown ("listening") while the new proposal gathers patience;
  a name is never shown with a score below ``threshold - hysteresis``.
* **Silence**: a non-speech window ends the averaging (speech after it is averaged afresh, so a
  new voice never inherits the previous one's scores), but the shown verdict is held for
  ``silence_timeout_s`` (pauses between sentences) and is kept when speech resumes if the fresh
  evidence still supports it. After the timeout the state is "silence", and the next speech starts
  again from "listening".

States: ``silence`` (no speech), ``listening`` (speech, not decided yet, or nothing to compare
with), ``speaker`` (a name and its smoothed score), ``unknown`` (speech that is none of the
enrolled speakers; score = best smoothed score).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from voicelive.config import DecisionConfig

__all__ = ["Verdict", "DecisionSmoother", "STATES"]

STATES = ("silence", "listening", "speaker", "unknown")


@dataclass(frozen=True)
class Verdict:
    """What the system currently says.

    Attributes
    ----------
    state : {"silence", "listening", "speaker", "unknown"}
    speaker : str or None
        The name, only when ``state == "speaker"``.
    score : float or None
        Smoothed calibrated score of the named speaker ("speaker"), or of the best candidate
        ("unknown"); None otherwise.
    t_s : float
        Stream time of the window this verdict was made at (its end), in seconds.
    candidates : tuple of (name, score)
        Best smoothed candidates, highest first (empty when there are no scores).
    """

    state: str
    speaker: str | None = None
    score: float | None = None
    t_s: float = 0.0
    candidates: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"verdict state must be one of {STATES}, got {self.state!r}")
        if (self.state == "speaker") != (self.speaker is not None):
            raise ValueError("a verdict names a speaker exactly when its state is 'speaker'")

    def same_as(self, other: "Verdict | None") -> bool:
        """Same state and speaker (scores and time may differ): no change worth reporting."""
        return other is not None and self.state == other.state and self.speaker == other.speaker

    def to_json(self) -> dict:
        """``{"t_s", "state", "speaker", "score"}`` as in the CLI's ``--json`` lines."""
        return {"t_s": round(self.t_s, 3), "state": self.state, "speaker": self.speaker,
                "score": None if self.score is None else round(float(self.score), 4)}

    def label(self) -> str:
        """Short text: ``alice (0.87)``, ``unknown (0.31)``, ``listening``, ``silence``."""
        if self.state == "speaker":
            return f"{self.speaker} ({self.score:.2f})"
        if self.state == "unknown" and self.score is not None:
            return f"unknown ({self.score:.2f})"
        return self.state


class DecisionSmoother:
    """Stateful verdict maker; feed it one window at a time with :meth:`update`.

    Parameters
    ----------
    config : DecisionConfig
        Smoothing and timing options.
    """

    def __init__(self, config: DecisionConfig | None = None) -> None:
        self.config = config or DecisionConfig()
        self._shown = Verdict("listening")
        self.reset()

    @property
    def verdict(self) -> Verdict:
        """The verdict after the last update ("listening" at t = 0 before any)."""
        return self._shown

    def reset(self) -> None:
        """Forget the smoothed scores, any pending proposal and the last speech time (the shown
        verdict stays until the next update)."""
        self._new_segment()
        self._last_speech_t: float | None = None

    def _new_segment(self) -> None:
        self._names: tuple[str, ...] = ()
        self._num: np.ndarray | None = None   # decayed sum of weight * scores
        self._den = 0.0                       # decayed sum of weights
        self._recent: deque[tuple[float, np.ndarray]] = deque(maxlen=self.config.mean_windows)
        self._pending: tuple[str, str | None] | None = None
        self._pending_count = 0

    # ---------------------------------------------------------------------------------------
    def _smooth(self, scores: Mapping[str, float], weight: float, restart: bool) -> np.ndarray:
        names = tuple(scores)
        x = np.array([float(scores[k]) for k in names], dtype=np.float64)
        x[~np.isfinite(x)] = 0.0
        np.clip(x, 0.0, 1.0, out=x)
        if names != self._names or restart:  # roster changed (model swapped), or onset: start over
            self._names = names
            self._num, self._den = None, 0.0
            self._recent.clear()
        if self.config.smoothing == "ema":
            keep = 1.0 - self.config.ema_alpha
            if self._num is None:
                self._num, self._den = weight * x, weight
            else:
                self._num = keep * self._num + weight * x
                self._den = keep * self._den + weight
            return self._num / self._den
        self._recent.append((weight, x))
        w = np.array([r[0] for r in self._recent])
        return (w[:, None] * np.stack([r[1] for r in self._recent])).sum(axis=0) / w.sum()

    def update(self, *, t_s: float, is_speech: bool, scores: Mapping[str, float] | None = None,
               threshold: float | None = None, speech_s: float | None = None,
               decisive_threshold: float | None = None, covers_segment: bool = False) -> Verdict:
        """Take one window's evidence; return the verdict to show now.

        Parameters
        ----------
        t_s : float
            Stream time of the window's end.
        is_speech : bool
            The speech gate's decision for the window.
        scores : mapping name -> calibrated score, optional
            None when no recogniser is attached (speech gives "listening"); an empty mapping when
            nobody is enrolled (speech gives "unknown").
        threshold : float, optional
            Calibrated accept threshold in [0, 1] (required when ``scores`` is not empty).
        speech_s : float, optional
            Seconds of speech the scores rest on; None counts the window fully.
        decisive_threshold : float, optional
            Stricter calibrated threshold: a name whose score in this window passes it is shown
            without waiting for ``patience`` windows (if ``config.decisive_window``).
        covers_segment : bool
            The window holds all of the speech since it started (no non-speech window since the
            speech began, and the window reaches back to its start).
        """
        c = self.config
        t_s = float(t_s)
        shown = self._shown
        if not is_speech:
            holding = shown.state in ("speaker", "unknown") and self._last_speech_t is not None \
                and t_s - self._last_speech_t < c.silence_timeout_s
            if holding:
                # keep showing it through the pause, but average afresh when speech resumes: the
                # next voice may be someone else, and must not inherit this one's scores
                self._new_segment()
                self._shown = Verdict(shown.state, shown.speaker, shown.score, t_s, shown.candidates)
            else:
                self.reset()
                self._shown = Verdict("silence", t_s=t_s)
            return self._shown

        self._last_speech_t = t_s
        if scores is None:
            self._shown = Verdict("listening", t_s=t_s)
            return self._shown
        if len(scores) == 0:
            self._shown = Verdict("unknown", t_s=t_s)
            return self._shown
        if threshold is None:
            raise ValueError("a threshold is needed to decide on scores")
        thr = float(threshold)

        weight = 1.0 if speech_s is None else min(1.0, max(0.05, float(speech_s) / c.full_weight_speech_s))
        smoothed = self._smooth(scores, weight, restart=covers_segment and c.onset_supersede)
        order = np.argsort(-smoothed, kind="stable")
        names = self._names
        candidates = tuple((names[i], float(smoothed[i])) for i in order[:c.top_k])
        top_name, top_score = names[order[0]], float(smoothed[order[0]])

        proposal: tuple[str, str | None] = ("speaker", top_name) if top_score >= thr else ("unknown", None)
        still_held = False  # the shown name is still above its lower (hysteresis) threshold
        if shown.state == "speaker" and shown.speaker in names:
            held = float(smoothed[names.index(shown.speaker)])
            still_held = held >= thr - c.hysteresis
            if still_held and top_score - held <= c.hysteresis:
                proposal = ("speaker", shown.speaker)

        current = (shown.state, shown.speaker)
        if proposal == current:
            self._pending, self._pending_count = None, 0
            state, speaker = current
        else:
            if proposal == self._pending:
                self._pending_count += 1
            else:
                self._pending, self._pending_count = proposal, 1
            need = c.patience if proposal[0] == "speaker" else c.unknown_patience
            if proposal[0] == "speaker" and c.decisive_window and decisive_threshold is not None \
                    and float(scores[proposal[1]]) >= max(float(decisive_threshold), thr):
                need = 1
            if self._pending_count >= need:
                state, speaker = proposal
                self._pending, self._pending_count = None, 0
            elif still_held or shown.state == "unknown":
                state, speaker = current  # keep showing it until the new proposal has proved itself
            else:
                state, speaker = "listening", None

        if state == "speaker":
            score = float(smoothed[names.index(speaker)])
        elif state == "unknown":
            score = top_score
        else:
            score = None
        self._shown = Verdict(state, speaker, score, t_s, candidates)
        return self._shown
