"""The live pipeline: source -> ring buffer -> windows -> speech gate -> scorer -> smoothed verdict.

One :class:`Pipeline` owns one worker thread (``"voicelive-worker"``, not a daemon) that does all
numeric work; the audio callback only queues blocks, and the GUI or CLI only reads the
latest-value mailbox :meth:`Pipeline.latest`, which returns an immutable :class:`Snapshot`.
:meth:`Pipeline.step` runs the very same processing synchronously, without threads, for
deterministic tests and for :func:`run_offline` (the benchmark's streaming sessions).

This module imports no Qt.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.ringbuffer import RingBuffer
from voicelive.audio.sources import ArraySource, Source, SourceStats
from voicelive.audio.windowing import Window, Windower
from voicelive.config import PipelineConfig
from voicelive.decision.smoothing import DecisionSmoother, Verdict
from voicelive.dsp.spectrogram import SpectrogramColumns
from voicelive.dsp.vad import LEVEL_FLOOR_DBFS, SpeechGate, VadResult
from voicelive.errors import AudioError, ConfigError, VoiceliveError
from voicelive.units import s_to_samples, samples_to_s

__all__ = ["WindowScorer", "PipelineStats", "Snapshot", "Pipeline", "run_offline", "WORKER_THREAD_NAME"]

log = logging.getLogger(__name__)

WORKER_THREAD_NAME = "voicelive-worker"


@runtime_checkable
class WindowScorer(Protocol):
    """What the pipeline needs from a recognition engine.

    Attributes
    ----------
    speakers : list[str]
        Enrolled names (may be empty: speech is then "unknown").
    threshold : float
        Calibrated accept threshold in [0, 1] for the configured target false-accept rate.

    Optionally ``decisive_threshold`` (float in [0, 1]): a stricter threshold at which a single
    window may name its speaker (see :mod:`voicelive.decision.smoothing`).
    """

    speakers: list[str]
    threshold: float

    def score_window(self, wave: np.ndarray) -> dict[str, float]:
        """Calibrated score in [0, 1] per enrolled speaker for a mono float32 16-kHz window."""
        ...


@dataclass(frozen=True)
class PipelineStats:
    """Counters and timings of a pipeline run.

    Attributes
    ----------
    audio_s : float
        Stream time processed (seconds of audio).
    blocks, windows, speech_windows : int
        Blocks received, windows analysed, windows the speech gate passed.
    latency_p50_ms, latency_p95_ms : float or None
        Worker time per window (speech gate + scoring + decision), over the last 256 windows.
    rtf : float or None
        Real-time factor: worker busy time / audio time (0.01 = 100x faster than real time).
    dropped_blocks, overflows, status_flags : int
        From the source: blocks dropped because the worker stalled, device input overflows, and
        callbacks with any status flag.
    ring_overruns, lost_samples : int
        Windows skipped because their audio was overwritten, and the samples lost.
    scorer_errors : int
        Windows whose scoring raised (logged; the verdict falls back to "listening").
    level_dbfs, speech_fraction, noise_dbfs : float
        Of the newest window.
    """

    audio_s: float = 0.0
    blocks: int = 0
    windows: int = 0
    speech_windows: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    rtf: float | None = None
    dropped_blocks: int = 0
    overflows: int = 0
    status_flags: int = 0
    ring_overruns: int = 0
    lost_samples: int = 0
    scorer_errors: int = 0
    level_dbfs: float = LEVEL_FLOOR_DBFS
    speech_fraction: float = 0.0
    noise_dbfs: float | None = None


def _frozen_array(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _empty() -> np.ndarray:
    return _frozen_array(np.zeros(0, dtype=np.float32))


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything a display needs, at one instant; immutable (arrays are read-only copies).

    Attributes
    ----------
    seq : int
        Increases with every published snapshot.
    t_s : float
        Stream time of the newest sample.
    verdict : Verdict
        The current verdict.
    candidates : tuple of (name, score)
        Best smoothed candidates of the newest speech window, highest first.
    wave_tail : np.ndarray
        float32 ``(n,)``: the newest ``display.tail_s`` seconds of audio (less at the start).
    spec_columns : np.ndarray
        float32 ``(n_cols, n_freq)`` dB: the newest display-spectrogram columns (up to
        ``display.spec_history_s`` of them); row ``i`` is column ``spec_end_col - n_cols + i``.
    spec_end_col : int
        Absolute index one past the newest column. Keep the last value you drew and ask
        :meth:`new_spec_columns` for what came since.
    spec_freqs_hz : np.ndarray
        The fixed frequency axis, ``(n_freq,)``.
    spec_hop_s : float
        Time between columns.
    stats : PipelineStats
    running : bool
        The worker thread is running.
    finished : bool
        The source ended (end of file) and everything was processed.
    error : str or None
        Why the pipeline stopped, or the latest scorer failure; None when all is well.
    """

    seq: int = 0
    t_s: float = 0.0
    verdict: Verdict = field(default_factory=lambda: Verdict("listening"))
    candidates: tuple[tuple[str, float], ...] = ()
    wave_tail: np.ndarray = field(default_factory=_empty)
    spec_columns: np.ndarray = field(default_factory=lambda: _frozen_array(np.zeros((0, 0), np.float32)))
    spec_end_col: int = 0
    spec_freqs_hz: np.ndarray = field(default_factory=_empty)
    spec_hop_s: float = 0.0
    stats: PipelineStats = field(default_factory=PipelineStats)
    running: bool = False
    finished: bool = False
    error: str | None = None

    def new_spec_columns(self, since_col: int) -> np.ndarray:
        """Columns with absolute index >= ``since_col`` that this snapshot still carries."""
        n = self.spec_columns.shape[0]
        first = self.spec_end_col - n
        start = min(n, max(0, int(since_col) - first))
        return self.spec_columns[start:]


class _Throttle:
    """Log a repeated warning at most once per ``every_s``."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def warn(self, key: str, msg: str, *args) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) >= self.every_s:
            self._last[key] = now
            log.warning(msg, *args)


_NO_CHANGE = object()


class Pipeline:
    """Live speaker identification on a stream of audio.

    Parameters
    ----------
    source : Source, optional
        Where audio comes from (:class:`~voicelive.audio.sources.MicSource`, ``FileSource``, ...).
        Can be set later with :meth:`set_source`.
    scorer : WindowScorer, optional
        The recognition engine; None shows only speech activity ("silence"/"listening").
    config : PipelineConfig, optional
        Windows, speech gate, decision, display options.
    on_verdict : callable, optional
        Called with every window's :class:`Verdict`, on the worker thread (or inside
        :meth:`step`). Keep it quick (e.g. put it in a queue).
    clock : callable
        Timer for latency statistics (seconds).

    Examples
    --------
    >>> with Pipeline(source=MicSource(), scorer=recognizer) as p:   # doctest: +SKIP
    ...     snap = p.latest()
    """

    def __init__(self, source: Source | None = None, scorer: WindowScorer | None = None,
                 config: PipelineConfig | None = None, *,
                 on_verdict: Callable[[Verdict], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.config = config if config is not None else PipelineConfig()
        if not isinstance(self.config, PipelineConfig):
            raise ConfigError(f"config must be a PipelineConfig, got {type(self.config).__name__}")
        if scorer is not None:
            _check_scorer(scorer)
        self._source = source
        self._scorer = scorer
        self._on_verdict = on_verdict
        self._clock = clock
        self._lock = threading.Lock()
        self._pending_source: object = _NO_CHANGE
        self._pending_scorer: object = _NO_CHANGE
        self._thread: threading.Thread | None = None
        self._stop_evt = threading.Event()
        self._stop_source_on_exit = False
        self._throttle = _Throttle()
        self._build_state()

    # -- state --------------------------------------------------------------------------------
    def _build_state(self) -> None:
        c = self.config
        sr = SAMPLE_RATE
        self._window_n = s_to_samples(c.window.window_s, sr)
        self._hop_n = s_to_samples(c.window.hop_s, sr)
        tail_n = s_to_samples(c.display.tail_s, sr)
        capacity = max(s_to_samples(c.audio.ring_s, sr), tail_n, self._window_n + self._hop_n)
        self._ring = RingBuffer(capacity)
        self._piece_n = max(1, min(self._hop_n, capacity - self._window_n))
        self._tail_n = tail_n
        self._windower = Windower(self._ring, window_s=c.window.window_s, hop_s=c.window.hop_s,
                                  min_window_s=c.window.min_window_s, sr=sr)
        self._gate = SpeechGate(c.vad, sr=sr)
        self._smoother = DecisionSmoother(c.decision)
        self._spec = SpectrogramColumns(sr=sr, n_fft=c.display.spec_n_fft, hop_s=c.display.spec_hop_s)
        spec_cap = max(1, int(math.ceil(c.display.spec_history_s / self._spec.hop_s)))
        self._spec_ring = RingBuffer(spec_cap, frame_shape=(self._spec.n_freq,))
        self._spec_freqs = self._spec.freqs_hz
        self._latencies: deque[float] = deque(maxlen=256)
        self._busy_s = 0.0
        self._blocks = 0
        self._speech_windows = 0
        self._scorer_errors = 0
        self._last_vad: VadResult | None = None
        self._segment_start: int | None = None   # absolute sample where the current speech began
        self._verdict = self._smoother.verdict
        self._finished = False
        self._error: str | None = None
        self._error_exc: BaseException | None = None
        self._seq = 0
        self._last_publish = -math.inf
        self._source_stats_base = SourceStats()  # counters of sources swapped out
        self._snapshot = Snapshot(spec_columns=_frozen_array(np.zeros((0, self._spec.n_freq), np.float32)),
                                  spec_freqs_hz=self._spec_freqs, spec_hop_s=self._spec.hop_s)

    # -- public properties ---------------------------------------------------------------------
    @property
    def source(self) -> Source | None:
        return self._source

    @property
    def scorer(self) -> WindowScorer | None:
        return self._scorer

    @property
    def running(self) -> bool:
        """The worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def finished(self) -> bool:
        """The source ended and all its audio was processed."""
        return self._finished

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the worker, if any."""
        return self._error_exc

    @property
    def verdict(self) -> Verdict:
        return self._verdict

    def latest(self) -> Snapshot:
        """The newest published snapshot (never blocks on the worker)."""
        with self._lock:
            return self._snapshot

    # -- swapping -------------------------------------------------------------------------------
    def set_scorer(self, scorer: WindowScorer | None) -> None:
        """Use another recognition engine from the next window on (e.g. after enrolling someone).
        The smoothing starts over."""
        if scorer is not None:
            _check_scorer(scorer)
        with self._lock:
            self._pending_scorer = scorer
        if not self.running:
            self._apply_swaps()

    def set_source(self, source: Source) -> None:
        """Switch to another source (e.g. another microphone) without stopping.

        While running, the new source is started here — so a device error is raised to the
        caller and the old source keeps going — and the worker switches over at its next block.
        The stream clock continues; the speech gate re-learns the noise.
        """
        if source is None:
            raise ConfigError("set_source needs a source")
        if self.running:
            source.start()
        with self._lock:
            old_pending = self._pending_source
            self._pending_source = source
        if old_pending is not _NO_CHANGE and old_pending is not source:
            old_pending.stop()
        if not self.running:
            self._apply_swaps()

    def _apply_swaps(self) -> None:
        with self._lock:
            new_source, self._pending_source = self._pending_source, _NO_CHANGE
            new_scorer, self._pending_scorer = self._pending_scorer, _NO_CHANGE
        if new_scorer is not _NO_CHANGE:
            self._scorer = new_scorer
            self._smoother.reset()
        if new_source is not _NO_CHANGE and new_source is not self._source:
            old = self._source
            if old is not None:
                st = old.stats()
                b = self._source_stats_base
                self._source_stats_base = SourceStats(
                    blocks=b.blocks + st.blocks, samples=b.samples + st.samples,
                    dropped_blocks=b.dropped_blocks + st.dropped_blocks, overflows=b.overflows + st.overflows,
                    status_flags=b.status_flags + st.status_flags)
                old.stop()
            self._source = new_source
            self._gate.reset()
            self._finished = False

    # -- processing (worker thread or step) ---------------------------------------------------
    def _process_block(self, block: np.ndarray, out: list[Verdict] | None) -> None:
        t0 = self._clock()
        a = np.asarray(block)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.floating):
            raise AudioError(f"source {self._source!r} delivered a block of shape {a.shape} and dtype {a.dtype}; "
                             "sources must deliver mono float32 (n,) blocks")
        a = a.astype(np.float32, copy=False)
        self._blocks += 1
        if a.size:
            self._spec_ring.write(self._spec.push(a))
            for i in range(0, a.size, self._piece_n):
                self._ring.write(a[i:i + self._piece_n])
                while (w := self._windower.pop()) is not None:
                    v = self._analyse(w)
                    if out is not None:
                        out.append(v)
        self._busy_s += self._clock() - t0

    def _analyse(self, window: Window) -> Verdict:
        t0 = self._clock()
        vad = self._gate.analyse(window.wave, t_s=window.end_s)
        self._last_vad = vad
        scorer = self._scorer
        scores: Mapping[str, float] | None = None
        threshold: float | None = None
        decisive: float | None = None
        covers_segment = False
        if vad.is_speech:
            self._speech_windows += 1
            if self._segment_start is None:   # speech (re)starts: where its first scored sample is
                self._segment_start = window.start_sample + vad.span[0]
            covers_segment = window.start_sample <= self._segment_start
            if scorer is not None:
                scores, threshold, decisive = self._score(scorer, window.wave[vad.span[0]:vad.span[1]])
        else:
            self._segment_start = None
        verdict = self._smoother.update(t_s=window.end_s, is_speech=vad.is_speech, scores=scores,
                                        threshold=threshold,
                                        speech_s=vad.speech_fraction * window.duration_s,
                                        decisive_threshold=decisive,
                                        covers_segment=covers_segment)
        self._verdict = verdict
        self._latencies.append(self._clock() - t0)
        if self._on_verdict is not None:
            self._on_verdict(verdict)
        return verdict

    def _score(self, scorer: WindowScorer, wave: np.ndarray
               ) -> tuple[dict[str, float] | None, float | None, float | None]:
        """(scores, threshold, decisive threshold or None); (None, None, None) when scoring failed."""
        speakers = list(scorer.speakers)
        if not speakers:
            return {}, None, None
        try:
            raw = scorer.score_window(np.array(wave, dtype=np.float32))
            threshold = float(scorer.threshold)
            decisive = getattr(scorer, "decisive_threshold", None)
            decisive = None if decisive is None else float(decisive)
            scores = {name: float(raw[name]) for name in speakers}
        except Exception as exc:  # a failing model must not stop the stream; logged, counted, shown
            self._scorer_errors += 1
            self._error = f"scoring failed: {exc}"
            self._throttle.warn("scorer", "scoring a window failed (%s: %s); showing 'listening'",
                                type(exc).__name__, exc)
            return None, None, None
        if not (0.0 <= threshold <= 1.0) or not all(math.isfinite(s) for s in scores.values()):
            self._scorer_errors += 1
            self._error = "the scorer returned invalid scores or threshold"
            self._throttle.warn("scorer-range", "scorer returned threshold %r / non-finite scores; ignoring window",
                                threshold)
            return None, None, None
        return scores, threshold, (decisive if decisive is not None and 0.0 <= decisive <= 1.0 else None)

    def _source_stats(self) -> SourceStats:
        st = self._source.stats() if self._source is not None else SourceStats()
        b = self._source_stats_base
        return SourceStats(blocks=b.blocks + st.blocks, samples=b.samples + st.samples,
                           dropped_blocks=b.dropped_blocks + st.dropped_blocks,
                           overflows=b.overflows + st.overflows, status_flags=b.status_flags + st.status_flags)

    def stats(self) -> PipelineStats:
        """Current statistics (computed now; :meth:`latest` carries the published ones)."""
        src = self._source_stats()
        audio_s = samples_to_s(self._ring.written)
        if self._latencies:
            p50, p95 = np.percentile(np.fromiter(self._latencies, float), [50, 95]) * 1000.0
            p50, p95 = float(p50), float(p95)
        else:
            p50 = p95 = None
        vad = self._last_vad
        return PipelineStats(
            audio_s=audio_s, blocks=self._blocks, windows=self._windower.windows,
            speech_windows=self._speech_windows, latency_p50_ms=p50, latency_p95_ms=p95,
            rtf=(self._busy_s / audio_s) if audio_s > 0 else None,
            dropped_blocks=src.dropped_blocks, overflows=src.overflows, status_flags=src.status_flags,
            ring_overruns=self._windower.overruns, lost_samples=self._windower.lost_samples,
            scorer_errors=self._scorer_errors,
            level_dbfs=vad.level_dbfs if vad else LEVEL_FLOOR_DBFS,
            speech_fraction=vad.speech_fraction if vad else 0.0,
            noise_dbfs=vad.noise_dbfs if vad else None)

    def _publish(self, *, force: bool = False, running: bool | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < self.config.display.publish_s:
            return
        self._last_publish = now
        tail = self._ring.tail(self._tail_n)
        spec = self._spec_ring.tail(self._spec_ring.capacity)
        verdict = self._verdict
        self._seq += 1
        snap = Snapshot(
            seq=self._seq, t_s=samples_to_s(self._ring.written), verdict=verdict,
            candidates=verdict.candidates, wave_tail=_frozen_array(tail.copy()),
            spec_columns=_frozen_array(spec.copy()), spec_end_col=self._spec_ring.written,
            spec_freqs_hz=self._spec_freqs, spec_hop_s=self._spec.hop_s, stats=self.stats(),
            running=self.running if running is None else running, finished=self._finished,
            error=self._error)
        with self._lock:
            self._snapshot = snap

    # -- synchronous use ------------------------------------------------------------------------
    def step(self, max_blocks: int | None = None) -> list[Verdict]:
        """Process every block the source has ready now (no waiting), on this thread.

        Returns the verdicts of the windows analysed, in order, and publishes a snapshot.
        Not allowed while the worker thread runs.
        """
        if self.running:
            raise RuntimeError("step() cannot be used while the worker thread is running; stop() first")
        self._apply_swaps()
        src = self._source
        if src is None:
            raise ConfigError("the pipeline has no audio source; pass source=... or call set_source()")
        out: list[Verdict] = []
        n = 0
        while max_blocks is None or n < max_blocks:
            block = src.read(0.0)
            if block is None:
                break
            self._process_block(block, out)
            n += 1
        if src.finished:
            self._finished = True
        self._publish(force=True, running=False)
        return out

    # -- threaded use ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the source (in this thread, so device errors are raised here) and the worker."""
        if self.running:
            return
        self._apply_swaps()
        if self._source is None:
            raise ConfigError("the pipeline has no audio source; pass source=... or call set_source()")
        self._source.start()
        self._stop_evt.clear()
        self._stop_source_on_exit = False
        self._error = None
        self._error_exc = None
        self._thread = threading.Thread(target=self._run, name=WORKER_THREAD_NAME, daemon=False)
        self._thread.start()

    def _run(self) -> None:
        max_drain = 16
        try:
            while not self._stop_evt.is_set():
                self._apply_swaps()
                src = self._source
                block = src.read(0.05)
                if block is None:
                    if src.finished:
                        self._finished = True
                        break
                    self._publish()
                    continue
                self._process_block(block, None)
                for _ in range(max_drain):
                    if self._stop_evt.is_set():
                        break
                    block = src.read(0.0)
                    if block is None:
                        break
                    self._process_block(block, None)
                self._publish()
        except VoiceliveError as exc:
            if self._stop_evt.is_set():  # the source was closed under us while stopping: not a fault
                log.debug("worker ended while stopping: %s", exc)
            else:
                self._error, self._error_exc = str(exc), exc
                log.error("live pipeline stopped: %s", exc)
        except Exception as exc:  # keep the app alive and say why the stream stopped
            self._error, self._error_exc = f"internal error: {type(exc).__name__}: {exc}", exc
            log.exception("live pipeline stopped by an unexpected error")
        finally:
            if self._stop_source_on_exit and self._source is not None:
                self._source.stop()
            self._publish(force=True, running=False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end by itself (end of file or error); True if it has ended."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the worker (within ``timeout`` s) and the source; idempotent."""
        self._stop_evt.set()
        t = self._thread
        if t is threading.current_thread():  # called from on_verdict: the worker ends after this window
            self._stop_source_on_exit = True
            return
        if t is not None:
            t.join(timeout)
            if t.is_alive():
                log.warning("the worker thread did not stop within %.1f s (a slow scorer?)", timeout)
            else:
                self._thread = None
        with self._lock:
            pending, self._pending_source = self._pending_source, _NO_CHANGE
        if pending is not _NO_CHANGE and pending is not None:
            pending.stop()
        if self._source is not None:
            self._source.stop()
        if self._thread is None:
            self._publish(force=True, running=False)

    def __enter__(self) -> "Pipeline":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _check_scorer(scorer: object) -> None:
    missing = [m for m in ("speakers", "threshold", "score_window") if not hasattr(scorer, m)]
    if missing:
        raise ConfigError(f"{type(scorer).__name__} is not a window scorer: it lacks {', '.join(missing)} "
                          "(needs speakers, threshold and score_window(wave))")


def run_offline(wave: np.ndarray, scorer: WindowScorer | None, config: PipelineConfig | None = None, *,
                block_size: int = 1024) -> list[Verdict]:
    """Feed a whole waveform through a fresh :class:`Pipeline` as fast as possible.

    The audio goes through exactly the path of the live app (:meth:`Pipeline.step`): blocks of
    ``block_size`` samples, ring buffer, windows, speech gate, scorer, smoothing.

    Parameters
    ----------
    wave : np.ndarray
        Mono float32 ``(n,)`` at 16 kHz.
    scorer : WindowScorer or None
    config : PipelineConfig, optional
    block_size : int
        Source block size; the result does not depend on it.

    Returns
    -------
    list[Verdict]
        One verdict per analysed window, in stream order (``t_s`` = window end).
    """
    source = ArraySource(wave, block_size=block_size, name="offline")
    pipe = Pipeline(source=source, scorer=scorer, config=config)
    out: list[Verdict] = []
    while not source.finished:
        out.extend(pipe.step())
    source.stop()
    return out
