"""Audio sources: where the live pipeline's samples come from.

All sources share one small interface (:class:`Source`): ``start()``, ``stop()``,
``read(timeout) -> block or None``, ``finished`` and ``stats()``. A block is mono float32 ``(n,)``
at 16 kHz; conversion (channels, sample rate) happens here, at the boundary.

* :class:`MicSource` — a PortAudio input stream. Its callback only copies the block and
  ``put_nowait``s it into a bounded queue, counting status flags, input overflows and blocks dropped
  because the queue was full (a stalled consumer). Mixing to mono and resampling to 16 kHz (a
  streaming soxr resampler, so block edges do not click) happen in ``read``, in the worker thread.
* :class:`ArraySource` / :class:`SyntheticSource` — a waveform in memory, cut into blocks, either
  as fast as possible or paced like a microphone (``realtime=True``).
* :class:`FileSource` — any file :func:`voicelive.audio.io.load_audio` reads.
* :class:`PushSource` — blocks pushed by someone else through the same bounded queue as the
  microphone (tests, other capture back-ends).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio import devices as _devices
from voicelive.audio.devices import InputDevice, device_error
from voicelive.audio.io import load_audio, validate_wave
from voicelive.errors import AudioError, ConfigError, DeviceError

__all__ = [
    "SourceStats",
    "Source",
    "ArraySource",
    "SyntheticSource",
    "FileSource",
    "PushSource",
    "MicSource",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceStats:
    """Counters of a source.

    Attributes
    ----------
    blocks : int
        Blocks handed to the reader.
    samples : int
        Samples (at 16 kHz) handed to the reader.
    dropped_blocks : int
        Blocks thrown away because the queue to the reader was full (the reader stalled).
    overflows : int
        Input overflows reported by the device (samples lost before they reached us).
    status_flags : int
        Callbacks that came with any PortAudio status flag.
    """

    blocks: int = 0
    samples: int = 0
    dropped_blocks: int = 0
    overflows: int = 0
    status_flags: int = 0


class Source:
    """Interface of every audio source (mono float32 blocks at 16 kHz).

    Subclasses implement :meth:`_read`; ``start``/``stop`` are idempotent, and ``read`` starts a
    source that was not started yet.
    """

    sr: int = SAMPLE_RATE
    name: str = "source"

    def __init__(self) -> None:
        self._started = False
        self._blocks = 0
        self._samples = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Begin delivering audio. Raises :class:`DeviceError` when a device cannot be opened."""
        if not self._started:
            self._start()
            self._started = True

    def stop(self) -> None:
        """Stop and release the device; safe to call more than once."""
        if self._started:
            self._started = False
            self._stop()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def finished(self) -> bool:
        """True when no more audio will come (end of a file). Live sources never finish."""
        return False

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass

    # -- data -------------------------------------------------------------------------------
    def read(self, timeout: float = 0.0) -> np.ndarray | None:
        """The next block, waiting at most ``timeout`` seconds; None when none is ready (or finished).

        Returns
        -------
        np.ndarray or None
            Mono float32 ``(n,)`` at 16 kHz (``n`` may vary from block to block).

        Raises
        ------
        DeviceError
            The device stopped delivering audio (unplugged, taken by another program).
        """
        if not self._started:
            self.start()
        block = self._read(max(0.0, float(timeout)))
        if block is not None:
            self._blocks += 1
            self._samples += int(block.size)
        return block

    def _read(self, timeout: float) -> np.ndarray | None:
        raise NotImplementedError

    def stats(self) -> SourceStats:
        return SourceStats(blocks=self._blocks, samples=self._samples)

    def __enter__(self) -> "Source":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# ---------------------------------------------------------------------------------------------
class ArraySource(Source):
    """A waveform in memory, delivered in blocks.

    Parameters
    ----------
    wave : np.ndarray
        Mono float32 ``(n,)`` at 16 kHz (validated; silence is allowed).
    block_size : int
        Samples per block (the last block may be shorter).
    realtime : bool
        Pace blocks like a microphone: block ``k`` is ready when its last sample's time has passed
        since :meth:`start`. Otherwise every block is ready at once (as fast as possible).
    loop : bool
        Start over at the end instead of finishing (long-running tests).
    name : str
        Shown in messages.
    clock, sleep : callables
        Time source and sleeper for pacing (injectable for tests).
    """

    def __init__(self, wave: np.ndarray, *, block_size: int = 1024, realtime: bool = False, loop: bool = False,
                 name: str = "array", clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
            raise ConfigError(f"block_size must be a whole number of samples >= 1, got {block_size!r}")
        self.wave = validate_wave(wave, what=name, allow_silent=True)
        self.block_size = int(block_size)
        self.realtime = bool(realtime)
        self.loop = bool(loop)
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._pos = 0            # position in the wave
        self._delivered = 0      # samples delivered since start (for pacing, counts loops)
        self._t0 = 0.0

    @property
    def duration_s(self) -> float:
        return self.wave.size / self.sr

    @property
    def finished(self) -> bool:
        return not self.loop and self._pos >= self.wave.size

    def _start(self) -> None:
        self._t0 = self._clock()

    def _read(self, timeout: float) -> np.ndarray | None:
        if self.finished:
            return None
        n = min(self.block_size, self.wave.size - self._pos)
        if self.realtime:
            due = self._t0 + (self._delivered + n) / self.sr
            wait = due - self._clock()
            if wait > 0:
                if wait > timeout:
                    if timeout > 0:
                        self._sleep(timeout)
                    return None
                self._sleep(wait)
        block = self.wave[self._pos:self._pos + n]
        self._pos += n
        self._delivered += n
        if self.loop and self._pos >= self.wave.size:
            self._pos = 0
        return block


class SyntheticSource(ArraySource):
    """An :class:`ArraySource` for generated test audio (same behaviour, its own name)."""

    def __init__(self, wave: np.ndarray, **kwargs) -> None:
        kwargs.setdefault("name", "synthetic")
        super().__init__(wave, **kwargs)


class FileSource(ArraySource):
    """An audio file (WAV/FLAC/OGG/MP3, any rate and channel count) as a source.

    Parameters
    ----------
    path : path-like
        The file; loaded, mixed to mono and resampled to 16 kHz up front.
    realtime : bool
        Pace like a microphone (``voicelive stream --realtime``); otherwise as fast as possible.
    block_size, loop : see :class:`ArraySource`.

    Raises
    ------
    AudioFileError, AudioError
        The file is missing, cannot be decoded, or holds no usable audio.
    """

    def __init__(self, path: str | os.PathLike, *, realtime: bool = False, block_size: int = 1024,
                 loop: bool = False, **kwargs) -> None:
        wave = load_audio(path, allow_silent=True)
        kwargs.setdefault("name", str(path))
        super().__init__(wave, block_size=block_size, realtime=realtime, loop=loop, **kwargs)
        self.path = path


# ---------------------------------------------------------------------------------------------
class _QueuedSource(Source):
    """Base of sources fed from another thread through a bounded queue."""

    def __init__(self, *, queue_blocks: int = 64) -> None:
        super().__init__()
        if isinstance(queue_blocks, bool) or not isinstance(queue_blocks, (int, np.integer)) or queue_blocks < 1:
            raise ConfigError(f"queue_blocks must be a whole number >= 1, got {queue_blocks!r}")
        self._queue: queue.Queue = queue.Queue(maxsize=int(queue_blocks))
        self._dropped = 0
        self._overflows = 0
        self._status = 0

    def _enqueue(self, block: np.ndarray) -> None:
        """Never blocks: a full queue drops the block and counts it."""
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self._dropped += 1

    def _get(self, timeout: float) -> np.ndarray | None:
        try:
            if timeout > 0:
                return self._queue.get(timeout=timeout)
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def stats(self) -> SourceStats:
        return SourceStats(blocks=self._blocks, samples=self._samples, dropped_blocks=self._dropped,
                           overflows=self._overflows, status_flags=self._status)


class PushSource(_QueuedSource):
    """Blocks pushed from any thread with :meth:`push`, through a bounded queue like the mic's.

    Parameters
    ----------
    queue_blocks : int
        Queue capacity; pushing into a full queue drops the block and counts it.
    name : str
        Shown in messages.
    """

    def __init__(self, *, queue_blocks: int = 64, name: str = "push") -> None:
        super().__init__(queue_blocks=queue_blocks)
        self.name = name
        self._closed = False

    def push(self, block: np.ndarray) -> None:
        """Queue one mono float32 16-kHz block (validated here, at the boundary)."""
        self._enqueue(validate_wave(block, what=f"{self.name} block", allow_silent=True).copy())

    def close(self) -> None:
        """No more blocks will be pushed: the source finishes once its queue is empty."""
        self._closed = True

    @property
    def finished(self) -> bool:
        return self._closed and self._queue.empty()

    def _read(self, timeout: float) -> np.ndarray | None:
        return self._get(timeout)


# ---------------------------------------------------------------------------------------------
class MicSource(_QueuedSource):
    """A microphone through PortAudio, converted to mono 16 kHz.

    Parameters
    ----------
    device : int, str or None
        Device index, part of its name, or None for the system default.
    block_size : int
        Block length in samples at 16 kHz; the device is asked for the same duration at its rate.
    queue_blocks : int
        Capacity of the callback -> worker queue (blocks beyond it are dropped and counted).
    samplerate : float, optional
        Capture rate; default: the device's default rate.
    stall_timeout_s : float
        If a started stream delivers nothing for this long, :meth:`read` raises
        :class:`DeviceError` (device gone or hung) instead of waiting forever.

    Notes
    -----
    The callback runs on PortAudio's thread and does only this: count status flags, copy the
    block, ``put_nowait`` it (or count it dropped). No logging, no numpy work, no locks.
    """

    def __init__(self, device: int | str | None = None, *, block_size: int = 1024, queue_blocks: int = 64,
                 samplerate: float | None = None, stall_timeout_s: float = 2.0) -> None:
        super().__init__(queue_blocks=queue_blocks)
        if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 16:
            raise ConfigError(f"block_size must be a whole number of samples >= 16, got {block_size!r}")
        if samplerate is not None and not (1000 <= float(samplerate) <= 768_000):
            raise ConfigError(f"samplerate = {samplerate!r} is out of range; allowed: 1000 to 768000 Hz")
        self.device_spec = device
        self.block_size = int(block_size)
        self.samplerate = samplerate
        self.stall_timeout_s = float(stall_timeout_s)
        self.device: InputDevice | None = None
        self.name = "microphone" if device is None else f"microphone {device}"
        self.rate: float | None = None
        self.channels = 1
        self._stream = None
        self._resampler = None
        self._ended = threading.Event()
        self._stopping = False
        self._last_data = 0.0

    # -- PortAudio thread -------------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:  # pragma: no cover - PortAudio thread
        if status:
            self._status += 1
            if status.input_overflow:
                self._overflows += 1
        self._enqueue(indata.copy())

    def _finished_callback(self) -> None:  # pragma: no cover - PortAudio thread
        self._ended.set()

    # -- lifecycle --------------------------------------------------------------------------
    def _start(self) -> None:
        sd = _devices.sounddevice_module()
        dev = _devices.resolve_input_device(self.device_spec)
        self.device = dev
        self.name = f"microphone {dev.describe()}"
        rate = float(self.samplerate or dev.default_samplerate)
        if not rate or rate <= 0:
            raise DeviceError(f"{dev.describe()} reports no sample rate; pass one explicitly")
        channels = 1
        try:
            sd.check_input_settings(device=dev.index, samplerate=rate, channels=1, dtype="float32")
        except sd.PortAudioError as exc:
            err = device_error(exc, dev, "check the input settings", samplerate=rate)
            if "channel" not in str(err) or dev.max_input_channels < 2:
                raise err from exc
            channels = min(2, dev.max_input_channels)  # some hardware only records stereo
            try:
                sd.check_input_settings(device=dev.index, samplerate=rate, channels=channels, dtype="float32")
            except sd.PortAudioError as exc2:
                raise device_error(exc2, dev, "check the input settings", samplerate=rate) from exc2
        self.rate = rate
        self.channels = channels
        if int(round(rate)) != SAMPLE_RATE:
            import soxr
            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        else:
            self._resampler = None
        self._ended.clear()
        self._stopping = False
        self._drain()
        try:
            stream = sd.InputStream(device=dev.index, samplerate=rate, channels=channels, dtype="float32",
                                    blocksize=max(16, int(round(self.block_size * rate / SAMPLE_RATE))),
                                    callback=self._callback, finished_callback=self._finished_callback)
        except sd.PortAudioError as exc:
            raise device_error(exc, dev, "open the input stream", samplerate=rate) from exc
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            raise device_error(exc, dev, "start recording", samplerate=rate) from exc
        self._stream = stream
        self._last_data = time.monotonic()
        log.info("recording from %s at %g Hz, %d channel(s)", dev.describe(), rate, channels)

    def _stop(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            sd = _devices.sounddevice_module()
            try:
                stream.abort(ignore_errors=False)
            except sd.PortAudioError as exc:
                log.warning("stopping %s: %s", self.name, exc)
            finally:
                stream.close(ignore_errors=True)
        self._drain()

    # -- worker thread ----------------------------------------------------------------------
    def _read(self, timeout: float) -> np.ndarray | None:
        if self._stream is None:
            raise DeviceError(f"{self.name} is not recording; start it first")
        raw = self._get(timeout)
        now = time.monotonic()
        if raw is None:
            if self._ended.is_set() and not self._stopping:
                raise DeviceError(f"{self.name} stopped delivering audio (unplugged, or taken by another "
                                  "program?); reconnect it or pick another device with --device")
            if now - self._last_data > self.stall_timeout_s:
                raise DeviceError(f"no audio from {self.name} for {now - self._last_data:.1f} s; the device "
                                  "may have been disconnected — run `voicelive devices`")
            return None
        self._last_data = now
        mono = raw[:, 0] if raw.shape[1] == 1 else raw.mean(axis=1)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self._resampler is not None:
            mono = np.asarray(self._resampler.resample_chunk(mono), dtype=np.float32)
        if not np.all(np.isfinite(mono)):
            raise AudioError(f"{self.name} delivered NaN/infinite samples; the device driver is misbehaving")
        return mono
