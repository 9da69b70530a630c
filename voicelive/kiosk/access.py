"""The kiosk's door logic: Locked -> Listening -> Granted (door open, countdown) or Denied -> Cooldown -> Locked.

Qt-free and clock-free: every call takes ``now_s`` (any monotonic clock in seconds — stream time in
tests and the benchmark, ``time.monotonic()`` in the live kiosk), so the same code is driven
deterministically from files and live from a microphone.

Input, once per analysed window of the live pipeline: a :class:`WindowEvidence` (is it speech, how
many seconds of speech it holds, the calibrated score of every enrolled speaker for *that window*
and the calibrated accept threshold in force). False accepts are what matter at a door, so the rule
is strict and every window must stand on its own:

* a window *counts* when it holds at least :attr:`KioskPolicy.min_window_speech_s` of speech
  (windows with less are too short to judge and are ignored — they neither count nor reset);
* a counting window *agrees* when its top speaker's score reaches the threshold **and** the score
  floor, and is the same speaker as the streak's;
* the door opens after :attr:`KioskPolicy.min_windows` agreeing windows in a row that together
  cover at least :attr:`KioskPolicy.min_speech_s` of speech (windows overlap, so each window adds
  only the speech of the audio it adds: ``min(speech_s, t_s - previous window's t_s)``);
* a window whose top speaker is below threshold is *unknown*: it resets the streak; after
  :attr:`KioskPolicy.deny_after_unknown` unknown windows in a row access is denied;
* a window naming *another* enrolled speaker resets the streak (it starts a new one for that
  speaker), and so does an ambiguous window in which two enrolled speakers both pass, so voices
  that take turns (window by window) never open the door;
* with a replay guard (:class:`~voicelive.kiosk.replay.ReplayGuard`), a streak that would open the
  door is first compared with the fingerprints of earlier granted visits: if two of its windows
  line up with one of them, it is a recording of that visit played back, and access is denied.

Every decision (granted or denied) is returned as an :class:`AccessDecision` with the time, the
speaker (None = unknown), the score, the threshold and the seconds of speech used; the kiosk
session writes it to the store's access log.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Mapping

from voicelive.config import check_range
from voicelive.dsp.fingerprint import Fingerprint
from voicelive.errors import ConfigError
from voicelive.kiosk.replay import REPLAY_SIMILARITY

__all__ = ["KioskPolicy", "WindowEvidence", "AccessDecision", "AccessController", "KioskState",
           "LOCKED", "LISTENING", "GRANTED", "DENIED", "COOLDOWN", "STATES"]

log = logging.getLogger(__name__)

LOCKED, LISTENING, GRANTED, DENIED, COOLDOWN = "locked", "listening", "granted", "denied", "cooldown"
STATES = (LOCKED, LISTENING, GRANTED, DENIED, COOLDOWN)


@dataclass(frozen=True)
class KioskPolicy:
    """When the kiosk opens the door.

    Attributes
    ----------
    target_far : float
        Target false-accept rate the recognizer's calibrated threshold is set for (0.005 = 0.5 %;
        stricter than the desktop app's 1 %).
    min_windows : int
        Agreeing analysis windows in a row needed to open.
    min_speech_s : float
        ... and the seconds of speech they must cover together.
    min_window_speech_s : float
        A window with less speech than this is ignored (neither counts nor resets).
    score_floor : float
        A window's top score must also reach this (guards against a very lenient calibration).
    deny_after_unknown : int
        Unknown windows in a row that deny access.
    unlock_s : float
        How long the door stays open after a grant.
    cooldown_s : float
        After a denial (shown as "Access denied") and after the door relocks, new speech is
        ignored this long.
    listen_timeout_s : float
        While listening, this long without a speech window returns to Locked (the visitor left).
    replay_guard : bool
        Refuse a recording of an earlier grant played back (see :mod:`voicelive.kiosk.replay`).
    replay_similarity : float
        How much of a window's fingerprint must line up with an earlier grant to call it a replay.
    """

    target_far: float = 0.005
    min_windows: int = 3
    min_speech_s: float = 1.5
    min_window_speech_s: float = 0.5
    score_floor: float = 0.5
    deny_after_unknown: int = 4
    unlock_s: float = 5.0
    cooldown_s: float = 3.0
    listen_timeout_s: float = 2.0
    replay_guard: bool = True
    replay_similarity: float = REPLAY_SIMILARITY

    def __post_init__(self) -> None:
        if not isinstance(self.target_far, (int, float)) or not 0.0 < self.target_far < 0.5:
            raise ConfigError(f"kiosk target false-accept rate must be between 0 and 0.5 (e.g. 0.005 for "
                              f"0.5 %), got {self.target_far!r}")
        check_range("kiosk", "min_windows", self.min_windows, 1, 50, integer=True)
        check_range("kiosk", "min_speech_s", self.min_speech_s, 0.0, 30.0)
        check_range("kiosk", "min_window_speech_s", self.min_window_speech_s, 0.0, 10.0)
        check_range("kiosk", "score_floor", self.score_floor, 0.0, 1.0)
        check_range("kiosk", "deny_after_unknown", self.deny_after_unknown, 1, 100, integer=True)
        check_range("kiosk", "unlock_s", self.unlock_s, 0.5, 600.0)
        check_range("kiosk", "cooldown_s", self.cooldown_s, 0.0, 600.0)
        check_range("kiosk", "listen_timeout_s", self.listen_timeout_s, 0.1, 60.0)
        check_range("kiosk", "replay_similarity", self.replay_similarity, 0.001, 1.0)

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) rows for the admin screen."""
        return [
            ("Target false-accept rate", f"{self.target_far * 100:g} %"),
            ("Agreeing windows to open", f"{self.min_windows} in a row, ≥ {self.min_speech_s:g} s of speech"),
            ("Speech per window (min)", f"{self.min_window_speech_s:g} s"),
            ("Score floor", f"{self.score_floor:.2f}"),
            ("Deny after", f"{self.deny_after_unknown} unknown windows in a row"),
            ("Door open for", f"{self.unlock_s:g} s"),
            ("Cooldown", f"{self.cooldown_s:g} s"),
            ("Replayed recordings", (f"refused (2 windows line up with an earlier visit, ≥ "
                                     f"{self.replay_similarity:g} each)") if self.replay_guard else "not checked"),
        ]


@dataclass(frozen=True)
class WindowEvidence:
    """One analysed window of the live pipeline.

    Attributes
    ----------
    t_s : float
        Stream time of the window's end.
    is_speech : bool
        The speech gate passed it.
    speech_s : float
        Seconds of speech in the window.
    scores : mapping name -> calibrated score in [0, 1], or None
        This window's own scores (None: not scored — no speech, nobody enrolled, or scoring failed).
    threshold : float or None
        The calibrated accept threshold the scores were made against.
    fingerprint : Fingerprint or None
        Acoustic fingerprint of the scored audio (for the replay guard).
    """

    t_s: float
    is_speech: bool
    speech_s: float = 0.0
    scores: Mapping[str, float] | None = None
    threshold: float | None = None
    fingerprint: Fingerprint | None = field(default=None, repr=False, compare=False)

    def top(self) -> tuple[str | None, float]:
        """The best-scoring speaker and score (None, nan without scores)."""
        if not self.scores:
            return None, float("nan")
        name = max(self.scores, key=lambda k: (self.scores[k], k))
        return name, float(self.scores[name])


@dataclass(frozen=True)
class AccessDecision:
    """A door decision, as written to the access log.

    Attributes
    ----------
    decision : {"granted", "denied"}
    speaker : str or None
        Who was let in; None for an unknown voice.
    score : float or None
        Granted: the lowest of the agreeing windows' scores (the weakest evidence the door opened
        on). Denied: the best top score of the unknown windows.
    threshold : float or None
        The accept threshold in force (the calibrated one, or the floor if that is higher).
    speech_s : float
        Seconds of speech the decision rests on.
    windows : int
        Windows it rests on.
    t_s : float
        When it was made (the controller's clock).
    reason : str
        Short text for the log's ``state`` column.
    replay : bool
        Denied because the attempt is a recording of an earlier grant played back (``speaker`` is
        then who it sounds like).
    """

    decision: str
    speaker: str | None
    score: float | None
    threshold: float | None
    speech_s: float
    windows: int
    t_s: float
    reason: str
    replay: bool = False


@dataclass(frozen=True)
class KioskState:
    """What the kiosk screen shows now.

    Attributes
    ----------
    state : one of :data:`STATES`
    speaker : str or None
        Granted: who. Listening: the streak's candidate (not shown to the visitor).
    progress : float
        Listening: how far the streak is towards opening, 0..1.
    remaining_s : float
        Granted: seconds until the door relocks; Denied/Cooldown: until new speech is heard.
    since_s : float
        When this state began.
    last_decision : AccessDecision or None
    """

    state: str = LOCKED
    speaker: str | None = None
    progress: float = 0.0
    remaining_s: float = 0.0
    since_s: float = 0.0
    last_decision: AccessDecision | None = None


@dataclass
class _Streak:
    speaker: str | None = None
    windows: int = 0
    speech_s: float = 0.0
    min_score: float = math.inf
    last_t_s: float | None = None
    first_t_s: float | None = None
    threshold: float | None = None
    fingerprints: list[Fingerprint] = field(default_factory=list)

    def add(self, ev: WindowEvidence, score: float, thr: float) -> None:
        new = ev.speech_s if self.last_t_s is None else min(ev.speech_s, max(0.0, ev.t_s - self.last_t_s))
        self.windows += 1
        self.speech_s += new
        self.min_score = min(self.min_score, score)
        self.last_t_s = ev.t_s
        if self.first_t_s is None:
            self.first_t_s = ev.t_s
        self.threshold = thr
        if ev.fingerprint is not None:
            self.fingerprints.append(ev.fingerprint)


@dataclass
class _Unknowns:
    windows: int = 0
    speech_s: float = 0.0
    best: float = -math.inf
    last_t_s: float | None = None
    threshold: float | None = None

    def add(self, ev: WindowEvidence, score: float, thr: float) -> None:
        new = ev.speech_s if self.last_t_s is None else min(ev.speech_s, max(0.0, ev.t_s - self.last_t_s))
        self.windows += 1
        self.speech_s += new
        if math.isfinite(score):
            self.best = max(self.best, score)
        self.last_t_s = ev.t_s
        self.threshold = thr


class AccessController:
    """The door state machine. Feed it with :meth:`observe` (every window) and :meth:`tick` (often,
    e.g. 10 times a second, so countdowns end on time even when no audio arrives).

    Both return the decisions made by that call (normally none); :attr:`state` describes the
    screen. ``door_opened`` / ``door_closed`` counters tell the caller when to drive the actuator
    (see :class:`voicelive.kiosk.session.KioskSession`).
    """

    def __init__(self, policy: KioskPolicy | None = None, *, now_s: float = 0.0, replay_guard=None,
                 window_s: float = 2.0) -> None:
        self.policy = policy if policy is not None else KioskPolicy()
        self.replay_guard = replay_guard   # a ReplayGuard, used when the policy asks for it
        self.window_s = float(window_s)    # length of the analysis windows (where a streak's audio starts)
        self._state = LOCKED
        self._since = float(now_s)
        self._until = 0.0
        self._granted_to: str | None = None
        self._last_speech_t: float | None = None
        self._last_decision: AccessDecision | None = None
        self._streak = _Streak()
        self._unknown = _Unknowns()
        self.decisions: list[AccessDecision] = []
        self.relocks = 0

    # -- reading -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def view(self, now_s: float) -> KioskState:
        """The screen's state at ``now_s``."""
        p = self.policy
        if self._state == LISTENING:
            s = self._streak
            prog = 0.0
            if s.windows:
                prog = min(1.0, min(s.windows / p.min_windows,
                                    s.speech_s / p.min_speech_s if p.min_speech_s > 0 else 1.0))
            return KioskState(LISTENING, s.speaker, prog, 0.0, self._since, self._last_decision)
        remaining = max(0.0, self._until - now_s) if self._state in (GRANTED, DENIED, COOLDOWN) else 0.0
        return KioskState(self._state, self._granted_to if self._state == GRANTED else None,
                          1.0 if self._state == GRANTED else 0.0, remaining, self._since, self._last_decision)

    # -- driving -------------------------------------------------------------------------------
    def _enter(self, state: str, now_s: float, until_s: float = 0.0) -> None:
        if state != self._state:
            log.debug("kiosk %s -> %s at %.2f s", self._state, state, now_s)
        self._state = state
        self._since = float(now_s)
        self._until = float(until_s)
        if state in (LOCKED, GRANTED, DENIED, COOLDOWN):
            self._streak = _Streak()
            self._unknown = _Unknowns()

    def reset(self, now_s: float) -> None:
        """Back to Locked (e.g. the microphone was lost); an open door stays open until its countdown
        ends only through :meth:`tick`, so this is for the idle states."""
        if self._state in (LISTENING, LOCKED):
            self._enter(LOCKED, now_s)

    def tick(self, now_s: float) -> list[AccessDecision]:
        """Advance the clocks: end the door's open time, the cooldown, or an abandoned attempt."""
        now_s = float(now_s)
        if self._state == GRANTED and now_s >= self._until:
            self.relocks += 1
            self._enter(COOLDOWN, now_s, now_s + self.policy.cooldown_s)
        if self._state in (DENIED, COOLDOWN) and now_s >= self._until:
            self._enter(LOCKED, now_s)
        if self._state == LISTENING:
            last = self._last_speech_t if self._last_speech_t is not None else self._since
            if now_s - last >= self.policy.listen_timeout_s:
                self._enter(LOCKED, now_s)
        return []

    def observe(self, ev: WindowEvidence, now_s: float | None = None) -> list[AccessDecision]:
        """Take one window's evidence (``now_s`` defaults to the window's stream time)."""
        now_s = float(ev.t_s if now_s is None else now_s)
        self.tick(now_s)
        if self._state in (GRANTED, DENIED, COOLDOWN):
            return []
        if not ev.is_speech:
            return []
        self._last_speech_t = now_s
        if self._state == LOCKED:
            self._enter(LISTENING, now_s)
        p = self.policy
        if ev.scores is None or ev.threshold is None or not ev.scores:
            return []   # speech that cannot be judged (nobody enrolled, scoring failed): no evidence
        if ev.speech_s < p.min_window_speech_s:
            return []
        name, score = ev.top()
        thr = max(float(ev.threshold), p.score_floor)
        if not math.isfinite(score) or score < thr:
            self._streak = _Streak()
            self._unknown.add(ev, score, thr)
            if self._unknown.windows >= p.deny_after_unknown:
                u = self._unknown
                d = AccessDecision("denied", None, u.best if math.isfinite(u.best) else None, u.threshold,
                                   u.speech_s, u.windows, now_s,
                                   f"unknown voice ({u.windows} windows below threshold)")
                return self._decide(d, DENIED, now_s, now_s + p.cooldown_s)
            return []
        self._unknown = _Unknowns()
        rivals = [k for k, v in ev.scores.items() if k != name and float(v) >= thr]
        if rivals:   # two enrolled voices accepted in one window: ambiguous (voices mixed); start over
            self._streak = _Streak()
            return []
        if self._streak.speaker != name:
            self._streak = _Streak(speaker=name)
        self._streak.add(ev, score, thr)
        s = self._streak
        if s.windows >= p.min_windows and s.speech_s >= p.min_speech_s - 1e-9:
            if p.replay_guard and self.replay_guard is not None:
                match = self.replay_guard.check(s.fingerprints, similarity=p.replay_similarity,
                                                audio_from_t_s=s.first_t_s - self.window_s)
                if match is not None:
                    d = AccessDecision("denied", name, s.min_score, s.threshold, s.speech_s, s.windows, now_s,
                                       match.describe(), replay=True)
                    return self._decide(d, DENIED, now_s, now_s + p.cooldown_s)
            d = AccessDecision("granted", name, s.min_score, s.threshold, s.speech_s, s.windows, now_s,
                               f"{s.windows} windows agreed")
            self._granted_to = name
            return self._decide(d, GRANTED, now_s, now_s + p.unlock_s)
        return []

    def _decide(self, d: AccessDecision, state: str, now_s: float, until_s: float) -> list[AccessDecision]:
        self.decisions.append(d)
        self._last_decision = d
        self._enter(state, now_s, until_s)
        log.info("access %s: %s (score %s, threshold %s, %.1f s of speech, %s)", d.decision,
                 d.speaker or "unknown", "-" if d.score is None else f"{d.score:.3f}",
                 "-" if d.threshold is None else f"{d.threshold:.3f}", d.speech_s, d.reason)
        return [d]
