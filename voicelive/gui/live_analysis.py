"""The analysis tools inside the desktop app: the drift warning in the status bar, the "Keep
unknown voices" setting, and the roster's "New voices?" list with one-click enrollment.

:class:`LiveAnalysis` wraps the active model in a :class:`~voicelive.analysis.live_tap.LiveTap`
(the pipeline scores through it), and on the window's text timer it hands slow work to the job
thread: writing collected embeddings / unknown segments to the store every :data:`FLUSH_S`,
comparing recent speech with the enrollment recordings every :data:`DRIFT_S`, and regrouping the
kept unknown segments into suggestions.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal

from voicelive.analysis.live_tap import LiveTap, unwrap

__all__ = ["LiveAnalysis", "FLUSH_S", "DRIFT_S"]

log = logging.getLogger(__name__)

FLUSH_S = 10.0
DRIFT_S = 60.0
MIN_NEW_WINDOWS = 20
"""New live windows needed before the drift is measured again."""


class LiveAnalysis(QObject):
    """Analysis state of one main window (see the module docstring).

    Signals
    -------
    driftChanged(object)
        A new :class:`~voicelive.analysis.drift.DriftReport` (or None when unknown).
    suggestionsChanged(list)
        The current "new voice?" suggestions.
    """

    driftChanged = Signal(object)
    suggestionsChanged = Signal(list)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.store = window.store
        self.jobs = window.jobs
        self.tap: LiveTap | None = None
        self.keep_unknown = False
        self.drift = None
        self.suggestions: list = []
        self._reference = None
        self._reference_key = None
        self._last_flush = time.monotonic()
        self._last_drift = time.monotonic()
        self._windows_at_drift = 0
        self._busy = False
        if self.store is not None:
            try:
                self.keep_unknown = bool(self.store.keep_unknown_segments)
            except Exception as exc:  # an unreadable setting must not stop the window
                log.warning("cannot read the keep-unknown-voices setting: %s", exc)

    # -- the scorer ------------------------------------------------------------------------------
    def wrap(self, rec):
        """The scorer the pipeline should use for ``rec`` (a tap around it, or None)."""
        rec = unwrap(rec)
        if rec is None or not hasattr(rec, "backends"):
            self.tap = None
            return rec
        if self.tap is not None and self.tap.recognizer is rec:
            return self.tap
        hop = self.window.live.config.window.hop_s
        stride = max(1, int(round(self.window.live.config.window.window_s / hop)))
        self.tap = LiveTap(rec, keep_unknown=self.keep_unknown, stride=stride)
        return self.tap

    def set_keep_unknown(self, on: bool) -> None:
        """The user's choice: keep (or stop keeping) the speech of unknown voices."""
        self.keep_unknown = bool(on)
        if self.tap is not None:
            self.tap.keep_unknown = self.keep_unknown
        if self.store is not None:
            store = self.store
            self.jobs.submit(lambda: setattr(store, "keep_unknown_segments", bool(on)),
                             label="Saving the setting", quiet=True)

    # -- periodic work (called by the window's text timer) ------------------------------------------
    def tick(self) -> None:
        if self.store is None or self._busy:
            return
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_S:
            self._last_flush = now
            self.flush()
        tap = self.tap
        if tap is not None and now - self._last_drift >= DRIFT_S and tap.windows - self._windows_at_drift >= MIN_NEW_WINDOWS:
            self._last_drift = now
            self._windows_at_drift = tap.windows
            self.check_drift()

    def flush(self, *, then_suggest: bool = True) -> None:
        """Write what the tap collected to the store (job thread); regroup suggestions when new
        unknown segments arrived."""
        tap, store = self.tap, self.store
        if tap is None or store is None:
            return

        def done(counts):
            if then_suggest and counts[1]:
                self.refresh_suggestions()

        self.jobs.submit(lambda: tap.flush_to(store), label="Saving live analysis data", quiet=True,
                         on_done=done, on_error=lambda e: log.warning("saving live analysis data failed: %s", e))

    def check_drift(self) -> None:
        """Compare recent live speech with the enrollment recordings (job thread)."""
        tap, store = self.tap, self.store
        if tap is None or store is None:
            return
        recent = tap.recent_embeddings()

        def job():
            from voicelive.analysis.drift import reference_from_clips
            from voicelive.analysis.embeddings import Embedder

            key = (store.roster_revision(), tap.embedding_hash)
            if self._reference is None or self._reference_key != key:
                emb = Embedder(next(b for b in tap.recognizer.backends if b.has_embedding))
                self._reference = reference_from_clips(emb, store.clips_by_speaker())
                self._reference_key = key
            return self._reference.compare(recent)

        self.jobs.submit(job, label="Checking the microphone", quiet=True, on_done=self.set_drift,
                         on_error=lambda e: log.info("drift check skipped: %s", e))

    def set_drift(self, report) -> None:
        self.drift = report
        self.driftChanged.emit(report)

    # -- new voices ---------------------------------------------------------------------------------
    def refresh_suggestions(self) -> None:
        store = self.store
        if store is None:
            return

        def job():
            from voicelive.analysis.unknown import suggest_new_voices

            return suggest_new_voices(store)

        self.jobs.submit(job, label="Grouping unknown voices", quiet=True, on_done=self._set_suggestions,
                         on_error=lambda e: log.warning("grouping unknown voices failed: %s", e))

    def _set_suggestions(self, suggestions) -> None:
        self.suggestions = list(suggestions)
        self.suggestionsChanged.emit(self.suggestions)

    def suggestion(self, number: int):
        return next((s for s in self.suggestions if s.number == number), None)

    def enroll(self, number: int, name: str) -> None:
        """Enroll suggestion ``number`` as ``name`` (job thread), then update the model and lists."""
        sugg = self.suggestion(number)
        if sugg is None or self.store is None:
            return
        store = self.store

        def job():
            from voicelive.analysis.unknown import enroll_suggestion, suggest_new_voices

            info = enroll_suggestion(store, sugg, name)
            return info, suggest_new_voices(store)

        def message(out):   # called on the GUI thread when the job is done
            self._set_suggestions(out[1])
            return f"Enrolled {out[0].name} from {out[0].n_clips} unknown segment(s)"

        self.window._roster_changed(job, f"Enrolling {name}", message)
