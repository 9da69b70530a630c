"""Configuration as frozen dataclasses, read from a TOML file plus command-line overrides.

Every value is validated when the dataclass is built; a bad value raises
:class:`~voicelive.errors.ConfigError` naming the option, the value and the allowed range.

TOML layout (every key optional; unknown keys inside these sections are an error, other
top-level sections are left for other parts of VoiceLive)::

    [audio]
    block_size = 1024
    device = "USB"          # index or part of the name

    [window]
    hop_s = 0.25

    [vad]
    min_speech_fraction = 0.2

    [decision]
    patience = 3

    [display]
    tail_s = 4.0
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from voicelive import SAMPLE_RATE
from voicelive.errors import ConfigError

__all__ = [
    "AudioConfig",
    "WindowConfig",
    "VadConfig",
    "DecisionConfig",
    "DisplayConfig",
    "PipelineConfig",
    "from_toml",
    "with_overrides",
]


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------
def check_range(section: str, name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> None:
    """Raise :class:`ConfigError` naming ``section.name`` unless ``value`` is a (whole, if ``integer``) number in [lo, hi]."""
    what = f"{section}.{name}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number in [{lo}, {hi}], got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(f"{what} must be a whole number in [{lo}, {hi}], got {value!r}")
    if not math.isfinite(float(value)) or not (lo <= value <= hi):
        raise ConfigError(f"{what} = {value!r} is out of range; allowed: {lo} to {hi}")


def _check_choice(section: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{section}.{name} = {value!r} is not allowed; choose one of: {', '.join(choices)}")


# ---------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioConfig:
    """Capture and buffering.

    Attributes
    ----------
    sr : int
        Internal sample rate in Hz. Only 16000 is supported: every source converts to it.
    block_size : int
        Samples (at ``sr``) per block delivered by a source; the microphone asks the device for the
        equivalent duration at its own rate.
    queue_blocks : int
        Capacity of the bounded queue between the audio callback and the worker; when full, new
        blocks are dropped and counted (a stalled consumer never blocks the callback).
    device : int | str | None
        Input device: index, part of its name, or None for the system default.
    ring_s : float
        Ring-buffer capacity in seconds (at least the window plus some slack).
    """

    sr: int = SAMPLE_RATE
    block_size: int = 1024
    queue_blocks: int = 64
    device: int | str | None = None
    ring_s: float = 8.0

    def __post_init__(self) -> None:
        if self.sr != SAMPLE_RATE:
            raise ConfigError(f"audio.sr = {self.sr!r} is not supported; VoiceLive works at {SAMPLE_RATE} Hz "
                              "inside (sources convert to it)")
        check_range("audio", "block_size", self.block_size, 16, 1_048_576, integer=True)
        check_range("audio", "queue_blocks", self.queue_blocks, 2, 100_000, integer=True)
        check_range("audio", "ring_s", self.ring_s, 2.5, 600.0)
        if self.device is not None and (isinstance(self.device, bool) or not isinstance(self.device, (int, str))):
            raise ConfigError(f"audio.device must be a device index, part of a device name, or empty; "
                              f"got {self.device!r} (run `voicelive devices`)")
        if isinstance(self.device, int) and self.device < 0:
            raise ConfigError(f"audio.device = {self.device} is not a device index; run `voicelive devices`")


@dataclass(frozen=True)
class WindowConfig:
    """Analysis windows: ``window_s`` long, one every ``hop_s``.

    Window ends lie on the grid ``k * hop_s`` (k = 1, 2, ...) of the stream's sample clock; until
    ``window_s`` of audio has arrived the windows are shorter (they start at sample 0), and windows
    shorter than ``min_window_s`` are not analysed.

    ``hop_s`` is 0.25 s (75 % overlap), not 0.5 s: the two agreeing windows a name needs then come
    0.25 s apart, and the first correct verdict arrives sooner (sessions, 5 seeds: median 1.5 s
    instead of 2.0 s after speech starts, no stranger ever named; docs/BENCHMARKS.md). A window costs
    ~20 ms, so this is ~8 % of one core.
    """

    window_s: float = 2.0
    hop_s: float = 0.25
    min_window_s: float = 0.5

    def __post_init__(self) -> None:
        check_range("window", "window_s", self.window_s, 0.5, 10.0)
        check_range("window", "hop_s", self.hop_s, 0.1, 2.0)
        check_range("window", "min_window_s", self.min_window_s, 0.0, self.window_s)
        if self.hop_s > self.window_s:
            raise ConfigError(f"window.hop_s = {self.hop_s} is longer than window.window_s = {self.window_s}; "
                              "audio between windows would never be analysed")


@dataclass(frozen=True)
class VadConfig:
    """Adaptive energy + spectral speech gate (see :mod:`voicelive.dsp.vad`).

    Attributes
    ----------
    frame_s, frame_hop_s : float
        Analysis frames inside a window (25 ms every 10 ms).
    band_hz : tuple[float, float]
        Band whose energy decides (the speech band).
    snr_db : float
        A frame must exceed the tracked noise spectrum by this much (band energy) to count.
    max_flatness : float
        ... and its noise-whitened spectrum must be less flat than this (0 = one pure tone,
        ~0.56 = noise like the tracked noise). Rejects clicks, fans and other noise bursts.
    min_level_dbfs : float
        Frames quieter than this (band level) are never speech.
    min_speech_fraction : float
        A window is speech when at least this fraction of its frames are.
    noise_percentile : float
        Per-bin percentile of a window's frames that estimates the noise spectrum there.
    noise_rise_db_per_s : float
        How fast the tracked noise floor may rise (it falls at once), in dB per second of stream.
    min_dynamics_db : float
        A window whose frames' band levels (10th to 90th percentile) span less than this is a steady
        sound, not speech, and becomes the tracked noise at once.
    noise_floor_dbfs : float
        Lowest noise level tracked (band level), so digital silence does not make every sound speech.
    trim_to_speech : bool
        Score only the part of a speech window from its first to its last speech frame (padded by
        ``pad_s``, at least ``min_scored_s`` long, ending where the speech ends). Right after speech
        starts, a longer minimum would hand the recogniser the silence before it: 0.5 s instead of
        1.0 s names more people within 1–2 s (docs/BENCHMARKS.md, "What limits the streaming results").
    """

    frame_s: float = 0.025
    frame_hop_s: float = 0.010
    band_hz: tuple[float, float] = (200.0, 4000.0)
    snr_db: float = 4.0
    max_flatness: float = 0.45
    min_level_dbfs: float = -60.0
    min_speech_fraction: float = 0.15
    noise_percentile: float = 10.0
    noise_rise_db_per_s: float = 1.5
    noise_floor_dbfs: float = -80.0
    min_dynamics_db: float = 6.0
    trim_to_speech: bool = True
    pad_s: float = 0.1
    min_scored_s: float = 0.5

    def __post_init__(self) -> None:
        check_range("vad", "frame_s", self.frame_s, 0.005, 0.1)
        check_range("vad", "frame_hop_s", self.frame_hop_s, 0.002, self.frame_s)
        band = tuple(self.band_hz)
        if len(band) != 2:
            raise ConfigError(f"vad.band_hz must be [low, high] in Hz, got {self.band_hz!r}")
        check_range("vad", "band_hz[0]", band[0], 0.0, 7000.0)
        check_range("vad", "band_hz[1]", band[1], band[0] + 100.0, SAMPLE_RATE / 2)
        object.__setattr__(self, "band_hz", (float(band[0]), float(band[1])))
        check_range("vad", "snr_db", self.snr_db, 0.0, 40.0)
        check_range("vad", "max_flatness", self.max_flatness, 0.01, 1.0)
        check_range("vad", "min_level_dbfs", self.min_level_dbfs, -120.0, 0.0)
        check_range("vad", "min_speech_fraction", self.min_speech_fraction, 0.0, 1.0)
        check_range("vad", "noise_percentile", self.noise_percentile, 1.0, 50.0)
        check_range("vad", "noise_rise_db_per_s", self.noise_rise_db_per_s, 0.0, 100.0)
        check_range("vad", "noise_floor_dbfs", self.noise_floor_dbfs, -140.0, -20.0)
        check_range("vad", "min_dynamics_db", self.min_dynamics_db, 0.0, 40.0)
        if not isinstance(self.trim_to_speech, bool):
            raise ConfigError(f"vad.trim_to_speech must be true or false, got {self.trim_to_speech!r}")
        check_range("vad", "pad_s", self.pad_s, 0.0, 1.0)
        check_range("vad", "min_scored_s", self.min_scored_s, 0.1, 10.0)


SMOOTHING_MODES = ("ema", "mean")


@dataclass(frozen=True)
class DecisionConfig:
    """Turning per-window calibrated scores into a steady verdict (see :mod:`voicelive.decision.smoothing`).

    Attributes
    ----------
    smoothing : {"ema", "mean"}
        Exponentially weighted average (older windows fade by ``1 - ema_alpha`` per window) or the
        mean of the last ``mean_windows`` speech windows.
    full_weight_speech_s : float
        A window counts fully in the average when it holds this much speech, less in proportion.
    patience : int
        Agreeing speech windows in a row before a (new) name is shown: 3 = 0.75 s at the default hop.
    decisive_window : bool
        A single window whose own score passes the scorer's stricter ``decisive_threshold`` (the
        threshold for a 3x lower false-accept rate) names its speaker at once, without waiting for
        ``patience`` windows.
    onset_supersede : bool
        While the newest window still holds all of the speech since it started, its scores replace
        the average instead of joining it: the earlier windows heard a part of the same speech,
        less of it.
    unknown_patience : int
        Speech windows in a row below threshold before "unknown" is shown: 6 = 1.5 s at the default
        hop (0.25 s), so the first low windows of an enrolled person's speech do not flash
        "unknown" before the name comes.
    hysteresis : float
        Score margin: a shown name stays while its smoothed score is above ``threshold -
        hysteresis`` and no other speaker leads it by more than ``hysteresis``.
    silence_timeout_s : float
        After speech stops, the shown verdict is held this long (pauses between words); then the
        smoothing is reset and the state becomes "silence" (the next speech starts at "listening").
    top_k : int
        How many candidates a verdict lists.
    """

    smoothing: str = "ema"
    ema_alpha: float = 0.5
    mean_windows: int = 3
    full_weight_speech_s: float = 1.0
    patience: int = 3
    decisive_window: bool = True
    onset_supersede: bool = True
    unknown_patience: int = 6
    hysteresis: float = 0.1
    silence_timeout_s: float = 1.5
    top_k: int = 3

    def __post_init__(self) -> None:
        _check_choice("decision", "smoothing", self.smoothing, SMOOTHING_MODES)
        check_range("decision", "ema_alpha", self.ema_alpha, 0.01, 1.0)
        check_range("decision", "mean_windows", self.mean_windows, 1, 100, integer=True)
        check_range("decision", "full_weight_speech_s", self.full_weight_speech_s, 0.05, 10.0)
        check_range("decision", "patience", self.patience, 1, 50, integer=True)
        for name in ("decisive_window", "onset_supersede"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"decision.{name} must be true or false, got {getattr(self, name)!r}")
        check_range("decision", "unknown_patience", self.unknown_patience, 1, 50, integer=True)
        check_range("decision", "hysteresis", self.hysteresis, 0.0, 0.5)
        check_range("decision", "silence_timeout_s", self.silence_timeout_s, 0.0, 60.0)
        check_range("decision", "top_k", self.top_k, 1, 100, integer=True)


@dataclass(frozen=True)
class DisplayConfig:
    """What a snapshot carries for drawing.

    Attributes
    ----------
    tail_s : float
        Seconds of waveform in each snapshot.
    spec_n_fft : int
        FFT size of the display spectrogram (frequency axis fixed: ``spec_n_fft // 2 + 1`` bins
        from 0 to sr/2).
    spec_hop_s : float
        Time between display spectrogram columns.
    spec_history_s : float
        Seconds of the newest spectrogram columns each snapshot carries (a consumer that polls at
        least this often never misses a column).
    publish_s : float
        A new snapshot is published at most every this much stream time (and after every window).
    """

    tail_s: float = 4.0
    spec_n_fft: int = 512
    spec_hop_s: float = 0.016
    spec_history_s: float = 1.0
    publish_s: float = 0.05

    def __post_init__(self) -> None:
        check_range("display", "tail_s", self.tail_s, 0.1, 60.0)
        check_range("display", "spec_n_fft", self.spec_n_fft, 64, 8192, integer=True)
        check_range("display", "spec_hop_s", self.spec_hop_s, 0.002, 0.5)
        check_range("display", "spec_history_s", self.spec_history_s, 0.1, 30.0)
        check_range("display", "publish_s", self.publish_s, 0.0, 5.0)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the live pipeline needs."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"PipelineConfig.{name} must be a {cls.__name__}, "
                                  f"got {type(getattr(self, name)).__name__}")
        if self.audio.ring_s < self.window.window_s + 0.5:
            raise ConfigError(f"audio.ring_s = {self.audio.ring_s} must be at least window.window_s + 0.5 = "
                              f"{self.window.window_s + 0.5}")


_SECTIONS: dict[str, type] = {
    "audio": AudioConfig,
    "window": WindowConfig,
    "vad": VadConfig,
    "decision": DecisionConfig,
    "display": DisplayConfig,
}


# ---------------------------------------------------------------------------------------------
# TOML + overrides
# ---------------------------------------------------------------------------------------------
def with_overrides(config: PipelineConfig, overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """A copy of ``config`` with dotted-key overrides applied, e.g. ``{"window.hop_s": 0.25}``.

    ``None`` values are skipped, so CLI options that were not given can be passed straight in.
    Raises :class:`ConfigError` for unknown keys and invalid values.
    """
    nested: dict[str, dict[str, Any]] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, name = str(key).partition(".")
        if not name:
            raise ConfigError(f"override {key!r} must look like 'section.option', e.g. 'window.hop_s'")
        nested.setdefault(section, {})[name] = value
    return _apply(config, nested, origin="override")


def from_toml(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """Read a :class:`PipelineConfig` from a TOML file (``None``: defaults) and apply ``overrides``.

    Raises
    ------
    ConfigError
        The file is missing or not valid TOML, a known section has an unknown key, or a value is
        out of range.
    """
    config = PipelineConfig()
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc}") from exc
        known = {k: v for k, v in data.items() if k in _SECTIONS}
        for k, v in known.items():
            if not isinstance(v, dict):
                raise ConfigError(f"[{k}] in {p} must be a table of options")
        config = _apply(config, known, origin=str(p))
    return with_overrides(config, overrides)


def _apply(config: PipelineConfig, nested: Mapping[str, Mapping[str, Any]], *, origin: str) -> PipelineConfig:
    changes: dict[str, Any] = {}
    for section, values in nested.items():
        if section not in _SECTIONS:
            raise ConfigError(f"unknown config section {section!r} ({origin}); "
                              f"known: {', '.join(_SECTIONS)}")
        current = getattr(config, section)
        allowed = {f.name for f in dataclasses.fields(current)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ConfigError(f"unknown option {section}.{unknown[0]} ({origin}); "
                              f"known in [{section}]: {', '.join(sorted(allowed))}")
        fixed = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()}
        changes[section] = dataclasses.replace(current, **fixed)
    return dataclasses.replace(config, **changes) if changes else config
