"""The live kiosk without a screen: pipeline + door state machine + actuator + access log.

:class:`KioskSession` owns a :class:`~voicelive.pipeline.Pipeline` whose scorer is wrapped in an
:class:`EvidenceTap`, so that every analysed window reaches the :class:`AccessController` with *its
own* calibrated scores (the pipeline's verdict is smoothed over windows; the door wants each window
to stand on its own). Two ways to drive it:

* threaded (the kiosk app): :meth:`start`, then :meth:`poll` often from one thread (the GUI timer);
  evidence made on the worker thread arrives through a queue, decisions are logged and the door is
  driven on the polling thread, timers run on ``time.monotonic``. A microphone that disappears
  shows as :attr:`input_problem` ("microphone unavailable") and is retried every ``retry_s``;
  the session never ends by itself.
* synchronous (tests, the benchmark): :meth:`step` runs the pipeline on this thread and uses the
  stream time as the clock, so a file gives the same decisions every time.

Every window the recognizer scores is also fingerprinted (:mod:`voicelive.dsp.fingerprint`, about
2 ms), so that the door's :class:`~voicelive.kiosk.replay.ReplayGuard` can refuse a recording of an
earlier visit played back. A granted visit is what the kiosk heard in the
:data:`~voicelive.kiosk.replay.VISIT_BEFORE_S` seconds before the door opened (earlier, refused
tries included) and until it locked again; its window fingerprints are kept in the guard and in
the store, with its access-log row.

Qt-free.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import numpy as np

from voicelive.audio.sources import ArraySource, Source
from voicelive.config import PipelineConfig, with_overrides
from voicelive.errors import StoreError, VoiceliveError
from voicelive.kiosk.access import AccessController, AccessDecision, KioskPolicy, KioskState, WindowEvidence
from voicelive.kiosk.door import DoorActuator, OnScreenDoor
from voicelive.decision.smoothing import Verdict
from voicelive.dsp.fingerprint import Fingerprint, fingerprint
from voicelive.kiosk.replay import MEMORY_DAYS, VISIT_BEFORE_S, ReplayGuard, local_time, visit_fingerprint
from voicelive.pipeline import Pipeline, Snapshot

__all__ = ["EvidenceTap", "KioskSession", "KioskView", "run_kiosk_offline", "RETRY_S", "MIC_UNAVAILABLE"]

log = logging.getLogger(__name__)

RETRY_S = 2.0
KIOSK_HOP_S = 0.5
"""The door analyses a window every 0.5 s whatever the desk app's hop: its rules count windows
(:class:`KioskPolicy`: 3 agreeing to open, 4 unknown in a row to deny) and were measured at this
hop. At the desk's 0.25 s, 4 unknown windows take 1 s, and 44 of 100 enrolled visitors met an
"Access denied" first (asterisk_prompts, k = 5; docs/BENCHMARKS.md, "Kiosk")."""
MIC_UNAVAILABLE = "microphone unavailable"


class EvidenceTap:
    """A window scorer that passes calls to the recognizer and remembers the last window's scores.

    The pipeline calls :meth:`score_window` and then its ``on_verdict`` callback on the same
    thread for the same window, so :meth:`take` in that callback returns exactly that window's
    scores, threshold and (with ``fingerprints``) the fingerprint of the scored audio (None if the
    window was not scored: no speech, or scoring failed).
    """

    def __init__(self, scorer, *, fingerprints: bool = False) -> None:
        self.inner = scorer
        self.fingerprints = bool(fingerprints)
        self._last: tuple[dict[str, float], float, Fingerprint | None] | None = None

    @property
    def speakers(self) -> list[str]:
        return list(self.inner.speakers)

    @property
    def threshold(self) -> float:
        return float(self.inner.threshold)

    @property
    def decisive_threshold(self) -> float | None:
        value = getattr(self.inner, "decisive_threshold", None)
        return None if value is None else float(value)

    def score_window(self, wave: np.ndarray) -> dict[str, float]:
        self._last = None
        scores = self.inner.score_window(wave)
        fp = fingerprint(wave) if self.fingerprints else None
        self._last = (dict(scores), float(self.inner.threshold), fp)
        return scores

    def take(self) -> tuple[dict[str, float], float, Fingerprint | None] | None:
        last, self._last = self._last, None
        return last


@dataclass(frozen=True)
class KioskView:
    """Everything the kiosk screen draws, at one instant."""

    access: KioskState
    snapshot: Snapshot
    input_problem: str | None
    enrolled: int
    threshold: float | None


class KioskSession:
    """Pipeline, door logic, actuator and access log, glued together.

    Parameters
    ----------
    make_source : callable
        Builds a new, not yet started audio source (called again on every retry).
    scorer : WindowScorer, optional
        The enrolled recognizer; its target false-accept rate is set to the policy's.
        None: nobody is enrolled (the kiosk listens but never opens).
    store : Store, optional
        Where decisions are logged (None: not logged, e.g. in the benchmark).
    policy : KioskPolicy, optional
    door : DoorActuator, optional
        Default :class:`OnScreenDoor`.
    config : PipelineConfig, optional
    clock : callable
        Monotonic seconds for the threaded mode.
    retry_s : float
        Time between attempts to reopen a lost input.
    replay_guard : ReplayGuard, optional
        Fingerprints of earlier grants (default: a new one, filled from the store's recent grants).
    """

    def __init__(self, make_source: Callable[[], Source], *, scorer=None, store=None,
                 policy: KioskPolicy | None = None, door: DoorActuator | None = None,
                 config: PipelineConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 retry_s: float = RETRY_S, replay_guard: ReplayGuard | None = None) -> None:
        self.make_source = make_source
        self.store = store
        self.policy = policy if policy is not None else KioskPolicy()
        self.door = door if door is not None else OnScreenDoor()
        self.clock = clock
        self.retry_s = float(retry_s)
        if replay_guard is None:
            replay_guard = ReplayGuard(self.policy.replay_similarity)
            if store is not None and self.policy.replay_guard:
                try:
                    n = replay_guard.load(store)
                    log.info("replay guard: %d recent grant(s) remembered", n)
                except (StoreError, OSError) as exc:
                    log.error("cannot read earlier grants for the replay guard: %s", exc)
        self.replay_guard = replay_guard
        self._recent: deque[tuple[float, Fingerprint]] = deque()   # (t_s, fp) of the last VISIT_BEFORE_S
        self._visit: list[Fingerprint] = []          # window fingerprints of the visit the door is open for
        self._visit_end_t_s: float | None = None     # stream time of its last window
        self._open_visit: tuple[int | None, int | None] | None = None   # (guard key, access id) while open
        window_s = (config if config is not None else PipelineConfig()).window.window_s
        self.controller = AccessController(self.policy, now_s=clock(), replay_guard=replay_guard, window_s=window_s)
        self._evidence: queue.SimpleQueue[WindowEvidence] = queue.SimpleQueue()
        self._speech_windows = 0
        self.tap: EvidenceTap | None = None
        config = with_overrides(config if config is not None else PipelineConfig(), {"window.hop_s": KIOSK_HOP_S})
        self.pipeline = Pipeline(config=config, on_verdict=self._on_verdict)
        self.set_scorer(scorer)
        self.decisions: list[AccessDecision] = []
        self.log_errors = 0
        self.input_problem: str | None = None
        self._want_running = False
        self._next_retry = 0.0
        self._relocks_seen = 0
        self.paused = False

    def set_paused(self, paused: bool) -> None:
        """While paused (admin screen, first-run PIN set-up) windows are analysed but decide nothing."""
        self.paused = bool(paused)
        if self.paused:
            self.controller.reset(self.clock() if self._want_running else self.pipeline.latest().t_s)

    def set_target_far(self, target_far: float) -> None:
        """Use another target false-accept rate (the threshold is recomputed from the calibration)."""
        self.policy = dataclasses.replace(self.policy, target_far=float(target_far))
        self.controller.policy = self.policy
        scorer = self.scorer
        if scorer is not None and hasattr(scorer, "set_target_far"):
            scorer.set_target_far(self.policy.target_far)

    # -- model ----------------------------------------------------------------------------------
    def set_scorer(self, scorer) -> None:
        """Use another recognizer (e.g. after an enrollment); its threshold is set for the kiosk's
        target false-accept rate."""
        if scorer is not None and hasattr(scorer, "set_target_far"):
            scorer.set_target_far(self.policy.target_far)
        self.tap = EvidenceTap(scorer, fingerprints=self.policy.replay_guard) if scorer is not None else None
        self.pipeline.set_scorer(self.tap)

    @property
    def scorer(self):
        return self.tap.inner if self.tap is not None else None

    @property
    def threshold(self) -> float | None:
        """The accept threshold in force (the calibrated one, or the floor if higher)."""
        if self.tap is None or not self.tap.speakers:
            return None
        return max(self.tap.threshold, self.policy.score_floor)

    # -- worker thread --------------------------------------------------------------------------
    def _on_verdict(self, verdict: Verdict) -> None:
        st = self.pipeline.stats()
        is_speech = st.speech_windows > self._speech_windows
        self._speech_windows = st.speech_windows
        taken = self.tap.take() if self.tap is not None else None
        window_s = self.pipeline.config.window.window_s
        dur = min(window_s, max(0.0, verdict.t_s))
        scores, thr, fp = (taken if taken is not None else (None, None, None))
        if scores is not None and not all(math.isfinite(v) for v in scores.values()):
            scores, thr = None, None
        self._evidence.put(WindowEvidence(verdict.t_s, is_speech, st.speech_fraction * dur if is_speech else 0.0,
                                          scores if is_speech else None, thr if is_speech else None,
                                          fingerprint=fp if is_speech else None))

    # -- decisions ------------------------------------------------------------------------------
    def _drain(self, now: Callable[[WindowEvidence], float]) -> list[AccessDecision]:
        out: list[AccessDecision] = []
        while True:
            try:
                ev = self._evidence.get_nowait()
            except queue.Empty:
                break
            if self.paused:
                continue
            decisions = self.controller.observe(ev, now(ev))
            self._track_visit(ev)
            for d in decisions:
                self._act(d)
                out.append(d)
            self._sync_door()
        return out

    def _track_visit(self, ev: WindowEvidence) -> None:
        """Keep the fingerprints a granted visit will be remembered by (see the module docstring)."""
        if ev.fingerprint is None:
            return
        self._visit_end_t_s = ev.t_s
        if self._open_visit is not None:           # the door is open: the visit goes on
            self._visit.append(ev.fingerprint)
            return
        self._recent.append((ev.t_s, ev.fingerprint))
        while self._recent and self._recent[0][0] < ev.t_s - VISIT_BEFORE_S:
            self._recent.popleft()

    def _act(self, d: AccessDecision) -> None:
        self.decisions.append(d)
        if d.decision == "granted":
            self._relocks_seen = self.controller.relocks
            try:
                self.door.unlock(self.policy.unlock_s, speaker=d.speaker)
            except Exception as exc:  # an actuator bug must not stop the kiosk
                log.error("the door actuator failed to unlock: %s: %s", type(exc).__name__, exc)
        when = datetime.now(timezone.utc)
        access_id = None
        keep = None
        if d.decision == "granted" and self.policy.replay_guard:
            self._visit = [fp for _, fp in self._recent]
            self._recent.clear()
            keep = visit_fingerprint(self._visit)
            keep = keep if len(keep) else None
        if self.store is not None:
            try:
                access_id = self.store.log_access(d.decision, speaker=d.speaker, state=d.reason, score=d.score,
                                                  threshold=d.threshold, speech_s=d.speech_s, time=when,
                                                  fingerprint=keep.to_bytes() if keep is not None else None)
            except (StoreError, OSError) as exc:
                self.log_errors += 1
                log.error("cannot write the access log: %s", exc)
        if keep is not None and self.store is not None and access_id is not None:
            self._forget_old_visits(when)
        if keep is not None:
            key = self.replay_guard.remember(keep, speaker=d.speaker, access_id=access_id,
                                             time=local_time(when.isoformat()), end_t_s=self._visit_end_t_s)
            self._open_visit = (key, access_id)

    def _forget_old_visits(self, now: datetime) -> None:
        """Fingerprints are kept no longer than the guard uses them (voice-derived data; disk)."""
        try:
            self.store.prune_access_fingerprints(before=now - timedelta(days=MEMORY_DAYS),
                                                 keep_newest=self.replay_guard.max_remembered)
        except (StoreError, OSError) as exc:
            log.error("cannot delete old visit fingerprints: %s", exc)

    def close_visit(self) -> None:
        """The door locked again: keep what the visitor said while it was open, too."""
        if self._open_visit is None:
            return
        key, access_id = self._open_visit
        self._open_visit = None
        fp = visit_fingerprint(self._visit)
        self._visit = []
        if key is None or not len(fp):
            return
        self.replay_guard.replace(key, fp, end_t_s=self._visit_end_t_s)
        if self.store is not None and access_id is not None:
            try:
                self.store.set_access_fingerprint(access_id, fp.to_bytes())
            except (StoreError, OSError) as exc:
                self.log_errors += 1
                log.error("cannot keep the visit's fingerprint: %s", exc)

    def _sync_door(self) -> None:
        if self.controller.relocks != self._relocks_seen:
            self._relocks_seen = self.controller.relocks
            self.close_visit()
            try:
                self.door.lock()
            except Exception as exc:
                log.error("the door actuator failed to lock: %s: %s", type(exc).__name__, exc)

    # -- synchronous mode -----------------------------------------------------------------------
    def step(self, max_blocks: int | None = None) -> list[AccessDecision]:
        """Run the pipeline on this thread over what the source has ready; the stream time is the
        clock. The source is made on the first call."""
        if self.pipeline.source is None:
            self.pipeline.set_source(self.make_source())
            self.replay_guard.new_stream()
        self.pipeline.step(max_blocks)
        out = self._drain(lambda ev: ev.t_s)
        self.controller.tick(self.pipeline.latest().t_s)
        self._sync_door()
        return out

    def advance(self, seconds: float) -> None:
        """Synchronous mode: let ``seconds`` pass without audio (ends countdowns)."""
        self.controller.tick(self.pipeline.latest().t_s + float(seconds))
        self._sync_door()

    # -- threaded mode --------------------------------------------------------------------------
    def start(self) -> bool:
        """Open the input and start the worker; False (and :attr:`input_problem` set, retried by
        :meth:`poll`) when the input cannot be opened."""
        self._want_running = True
        return self._try_start(self.clock())

    def _try_start(self, now: float) -> bool:
        try:
            source = self.make_source()
            self.pipeline.set_source(source)
            self.replay_guard.new_stream()
            self.pipeline.start()
        except VoiceliveError as exc:
            self._input_lost(f"{MIC_UNAVAILABLE}: {exc}", now)
            return False
        if self.input_problem is not None:
            log.info("audio input back: %s", self.pipeline.source.name if self.pipeline.source else "?")
        self.input_problem = None
        log.info("kiosk listening on %s", self.pipeline.source.name if self.pipeline.source else "?")
        return True

    def _input_lost(self, why: str, now: float) -> None:
        if self.input_problem != why:
            log.warning("kiosk input: %s; retrying every %.0f s", why, self.retry_s)
        self.input_problem = why
        self._next_retry = now + self.retry_s
        self.controller.reset(now)

    def poll(self) -> list[AccessDecision]:
        """Threaded mode: take the windows analysed since the last call, advance the timers, drive
        the door, log decisions, and reopen a lost input when it is time. Never raises for audio
        problems."""
        now = self.clock()
        out = self._drain(lambda ev: now)
        self.controller.tick(now)
        self._sync_door()
        if self._want_running and not self.pipeline.running:
            if self.input_problem is None:
                err = self.pipeline.error
                why = f"{MIC_UNAVAILABLE}: {err}" if err is not None else f"{MIC_UNAVAILABLE}: the input ended"
                self._input_lost(why, now)
            elif now >= self._next_retry:
                self._try_start(now)
        return out

    def view(self) -> KioskView:
        now = self.clock() if self._want_running else self.pipeline.latest().t_s
        return KioskView(self.controller.view(now), self.pipeline.latest(), self.input_problem,
                         len(self.tap.speakers) if self.tap is not None else 0, self.threshold)

    def stop(self) -> None:
        """Stop listening and lock the door (idempotent)."""
        self._want_running = False
        self.pipeline.stop()
        self.close_visit()
        try:
            self.door.lock()
        except Exception as exc:
            log.error("the door actuator failed to lock: %s: %s", type(exc).__name__, exc)


def run_kiosk_offline(wave: np.ndarray, scorer, *, policy: KioskPolicy | None = None,
                      config: PipelineConfig | None = None, block_size: int = 1024, store=None,
                      door: DoorActuator | None = None, replay_guard: ReplayGuard | None = None) -> KioskSession:
    """Feed a whole waveform through a fresh kiosk session as fast as possible (stream-time clock).

    Returns the session: ``.decisions`` holds every decision, ``.controller`` the final state.
    ``replay_guard``: share one between runs (the door then remembers the earlier runs' grants).
    """
    session = KioskSession(lambda: ArraySource(wave, block_size=block_size, name="offline"), scorer=scorer,
                           store=store, policy=policy, door=door, config=config, replay_guard=replay_guard)
    while True:
        session.step()
        if session.pipeline.finished:
            break
    session.pipeline.source.stop()
    session.close_visit()   # a door still open at the end: keep what its visitor said so far
    return session
