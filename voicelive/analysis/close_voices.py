"""Close voices in the roster: how each enrolled person would be judged if they were NOT enrolled.

The accept threshold is calibrated on enrollment data, where the other enrolled people (and, in a
small roster, voice-shifted copies of them) stand in for strangers. It cannot know how close a real
stranger's voice comes to someone enrolled. This check asks the roster itself. For each person P,
a copy of the recognizer without P (recalibrated as removing P would) judges P's own enrollment
speech: the clips and the live-sized 2-s windows cut from them, none of which that copy has seen.
Windows it accepts as someone else mean that a stranger who sounds like P could be taken for that
person.

On the benchmark corpora the same leave-one-out test, on held-out speech, found exactly such a pair
(docs/BENCHMARKS.md, "A stricter stranger test"). Two caveats: the GMM-UBM member's background
model keeps P's speech, which makes the check a little optimistic; and P's enrollment speech is
cleaner than a stranger at a door. A share above zero is a warning, not a measured rate.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from voicelive.errors import ConfigError

__all__ = ["CloseVoice", "close_voices", "describe", "MAX_SPEAKERS"]

MAX_SPEAKERS = 40
"""The check recalibrates the roster once per person; beyond this many it would take too long."""


@dataclass(frozen=True)
class CloseVoice:
    """One enrolled person, judged by the roster without them.

    Attributes
    ----------
    speaker : str
    trials : int
        Their enrollment clips and live-sized windows that were judged.
    accepted : int
        Trials the roster without them accepted as somebody.
    taken_for : tuple of (name, count)
        Who they were taken for, most often first.
    best_margin : float
        The highest score among their trials minus the threshold, in log-odds (> 0: accepted).
    """

    speaker: str
    trials: int
    accepted: int
    taken_for: tuple[tuple[str, int], ...]
    best_margin: float

    @property
    def share(self) -> float:
        return self.accepted / self.trials if self.trials else 0.0

    def line(self) -> str:
        """``Allison: 8 of 26 windows taken for June (8)`` or ``Carlo: not taken for anyone ...``."""
        if self.accepted:
            whom = ", ".join(f"{n} ({k})" for n, k in self.taken_for)
            return f"{self.speaker}: {self.accepted} of {self.trials} windows taken for {whom}"
        return f"{self.speaker}: not taken for anyone ({self.trials} windows, closest {self.best_margin:+.1f} log-odds)"

    def to_json(self) -> dict:
        return {"speaker": self.speaker, "trials": self.trials, "accepted": self.accepted,
                "share": round(self.share, 4), "taken_for": [{"speaker": n, "trials": c} for n, c in self.taken_for],
                "best_margin": round(self.best_margin, 3)}


def _own_trials(rec, name: str) -> list[list]:
    """``name``'s clips and calibration windows, each as one Features per backend."""
    clips = [list(t) for t in zip(*(feats[name] for feats in rec._feats))]
    windows = [list(t) for t in zip(*([f for s, _, f in w if s == name] for w in rec._windows))]
    return clips + windows


def close_voices(rec, *, progress: Callable[[int, int], None] | None = None) -> list[CloseVoice]:
    """Judge every enrolled person by the roster without them; the closest voices first.

    Raises ConfigError for fewer than 2 or more than :data:`MAX_SPEAKERS` enrolled people."""
    speakers = list(rec.speakers)
    if len(speakers) < 2:
        raise ConfigError("the close-voices check needs at least 2 enrolled people "
                          f"({len(speakers)} enrolled)")
    if len(speakers) > MAX_SPEAKERS:
        raise ConfigError(f"the close-voices check recalibrates the roster once per person; {len(speakers)} "
                          f"people is more than the {MAX_SPEAKERS} it handles")
    from voicelive.recognition.model_io import load_recognizer

    out = []
    with tempfile.TemporaryDirectory(prefix="voicelive-close-") as tmp:
        rec.save(tmp)   # each person's roster-without-them starts from an exact copy
        for i, name in enumerate(speakers):
            out.append(_judge_left_out(rec, load_recognizer(tmp), name))
            if progress is not None:
                progress(i + 1, len(speakers))
    return sorted(out, key=lambda c: (-c.share, -c.best_margin, c.speaker))


def _judge_left_out(rec, without, name: str) -> CloseVoice:
    trials = _own_trials(rec, name)
    without.remove_speaker(name)
    thr, names = without.threshold_logit, without.speakers
    taken: Counter[str] = Counter()
    best = -np.inf
    for feats in trials:
        lg = without.logits_features(feats)
        j = int(np.argmax(lg))
        margin = float(lg[j] - thr)
        best = max(best, margin)
        if margin > 0:
            taken[names[j]] += 1
    return CloseVoice(name, len(trials), sum(taken.values()), tuple(taken.most_common()), best)


def describe(results: list[CloseVoice]) -> str:
    """One sentence on what the check found (the per-person lines are :meth:`CloseVoice.line`)."""
    close = [c for c in results if c.accepted]
    if not close:
        return "No close voices: nobody was taken for anyone else."
    pairs = "; ".join(f"{c.speaker} -> {c.taken_for[0][0]}" for c in close)
    return f"Close voices: {pairs}. A stranger who sounds like the first of a pair may be taken for the second."
