"""The live input behind the window: which source feeds the pipeline, start/pause, hot-switching.

No widgets here. :class:`LiveSession` owns the current :class:`~voicelive.pipeline.Pipeline` and
the list of inputs the user can pick from (:class:`InputChoice`: microphones from PortAudio, and
a file replayed like a microphone with ``--source FILE``). Every start makes a *fresh* source
from the choice, so resuming never depends on a stopped source's state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from voicelive.audio.sources import FileSource, MicSource, Source
from voicelive.config import PipelineConfig, with_overrides
from voicelive.errors import ConfigError, DeviceError
from voicelive.pipeline import Pipeline, WindowScorer

__all__ = ["InputChoice", "mic_choices", "file_choice", "LiveSession", "DEFAULT_MIC_KEY"]

log = logging.getLogger(__name__)

DEFAULT_MIC_KEY = "system-default-mic"
"""Key of the system default input (devices are ``mic:<name>``; PortAudio may list one named "default")."""


@dataclass(frozen=True)
class InputChoice:
    """One entry of the input picker.

    Attributes
    ----------
    key : str
        Stable identity, persisted in the settings (``system-default-mic``, ``mic:<device name>``,
        ``file:<path>``).
    label : str
        Shown in the picker.
    make : callable
        Builds a new, not yet started :class:`~voicelive.audio.sources.Source`.
    """

    key: str
    label: str
    make: Callable[[], Source]


def mic_choices(config: PipelineConfig) -> tuple[list[InputChoice], str | None]:
    """The system default microphone and every PortAudio input device.

    Returns the choices and, when devices cannot be listed (no PortAudio, no sound server), a
    message saying why (the default-microphone entry is still there: starting it explains the
    problem in a dialog).
    """
    a = config.audio

    def mic(spec):
        return lambda: MicSource(spec, block_size=a.block_size, queue_blocks=a.queue_blocks)

    out = [InputChoice(DEFAULT_MIC_KEY, "System default microphone", mic(None))]
    try:
        from voicelive.audio.devices import list_input_devices

        devices = list_input_devices()
    except DeviceError as exc:
        return out, str(exc)
    seen = set()
    for d in devices:
        key = f"mic:{d.name}" if d.name not in seen else f"mic:{d.name}#{d.index}"
        seen.add(d.name)
        label = f"{d.name} ({d.hostapi})" + ("  — default" if d.is_default else "")
        out.append(InputChoice(key, label, mic(d.index)))
    return out, None if devices else "no audio input device found; connect a microphone"


def file_choice(path: str | Path, config: PipelineConfig, *, loop: bool = True) -> InputChoice:
    """A file replayed at real-time pace (looping) as if it were a microphone."""
    p = Path(path)
    a = config.audio
    return InputChoice(f"file:{p}", f"File: {p.name}",
                       lambda: FileSource(p, realtime=True, loop=loop, block_size=a.block_size))


class LiveSession:
    """The running pipeline and its input.

    Parameters
    ----------
    config : PipelineConfig
    choices : sequence of InputChoice
        What the input picker offers.
    current : str, optional
        Key of the choice to use first (default: the first choice).
    scorer : WindowScorer, optional
    pipeline : Pipeline, optional
        An already built pipeline (its source, if any, is used until the input is switched).
    """

    def __init__(self, config: PipelineConfig, choices: Sequence[InputChoice], *, current: str | None = None,
                 scorer: WindowScorer | None = None, pipeline: Pipeline | None = None) -> None:
        self.choices: list[InputChoice] = list(choices)
        self._current = self._find(current) if current is not None else None
        if self._current is None and self.choices:
            self._current = self.choices[0]
        if pipeline is not None:
            self.pipeline = pipeline
            self.config = pipeline.config
            self._fresh = pipeline.source is not None   # its source was never started by us
        else:
            self.config = config
            self.pipeline = Pipeline(scorer=scorer, config=config)
            self._fresh = False
        self.generation = 0   # bumped whenever the pipeline object is replaced

    # -- inputs -------------------------------------------------------------------------------
    def _find(self, key: str | None) -> InputChoice | None:
        for c in self.choices:
            if c.key == key:
                return c
        return None

    @property
    def current(self) -> InputChoice | None:
        return self._current

    def set_choices(self, choices: Sequence[InputChoice]) -> None:
        """Replace the list (after a device re-scan); the current choice stays selected."""
        self.choices = list(choices)
        if self._current is not None and self._find(self._current.key) is None:
            self.choices.append(self._current)

    @property
    def running(self) -> bool:
        return self.pipeline.running

    def start(self) -> None:
        """Start (or resume) with a fresh source of the current choice.

        Raises
        ------
        DeviceError
            The device cannot be opened; the pipeline stays stopped.
        ConfigError
            There is no input to start.
        """
        p = self.pipeline
        if p.running:
            return
        if self._fresh:
            self._fresh = False
        else:
            if self._current is None:
                raise ConfigError("there is no audio input to start; connect a microphone or pass --source FILE")
            p.set_source(self._current.make())
        p.start()
        log.info("live input started: %s", p.source.name if p.source is not None else "?")

    def pause(self) -> None:
        """Stop the worker and release the device (the display keeps the last picture)."""
        self.pipeline.stop()
        self._fresh = False

    def switch(self, key: str) -> None:
        """Use another input. While running the switch is hot: the new source is opened first
        (a :class:`DeviceError` leaves the old one running) and the pipeline moves over at its
        next block; while paused it is used at the next :meth:`start`."""
        choice = self._find(key)
        if choice is None:
            raise ConfigError(f"no input '{key}' in the list; re-scan the devices")
        if self.pipeline.running:
            self.pipeline.set_source(choice.make())
            log.info("switched input to %s", choice.label)
        self._current = choice
        self._fresh = False

    # -- options that need a new pipeline --------------------------------------------------------
    def set_hop(self, hop_s: float) -> None:
        """Use another window hop: the pipeline is rebuilt (the stream clock starts again)."""
        if abs(hop_s - self.config.window.hop_s) < 1e-9:
            return
        config = with_overrides(self.config, {"window.hop_s": float(hop_s)})
        was_running = self.pipeline.running
        scorer = self.pipeline.scorer
        self.pipeline.stop()
        self.config = config
        self.pipeline = Pipeline(scorer=scorer, config=config)
        self._fresh = False
        self.generation += 1
        if was_running:
            self.start()

    def set_scorer(self, scorer: WindowScorer | None) -> None:
        self.pipeline.set_scorer(scorer)

    def stop(self) -> None:
        """Stop for good (window closing)."""
        self.pipeline.stop()
