"""What "opening the door" does: an interface and two implementations.

* :class:`OnScreenDoor` — the default: the door is only the kiosk screen (nothing else happens).
* :class:`CommandDoor` — runs a user-given shell command once per grant (e.g. a script that pulses a
  relay), in a background thread so the screen never waits, with a timeout; a failure, a non-zero
  exit or a timeout is logged and counted, never raised into the kiosk. The command sees
  ``VOICELIVE_SPEAKER`` (who was let in) and ``VOICELIVE_UNLOCK_S`` (seconds to keep it open) in
  its environment. An optional lock command runs when the kiosk relocks.

Qt-free.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from typing import Protocol, runtime_checkable

from voicelive.errors import ConfigError

__all__ = ["DoorActuator", "OnScreenDoor", "CommandDoor", "DOOR_THREAD_NAME"]

log = logging.getLogger(__name__)

DOOR_THREAD_NAME = "voicelive-door"


@runtime_checkable
class DoorActuator(Protocol):
    """Drives the door. Both calls must return quickly (do slow work in the background)."""

    def unlock(self, seconds: float, *, speaker: str | None = None) -> None:
        """Open the door for ``seconds``."""
        ...

    def lock(self) -> None:
        """Lock it now (the countdown ended, or the kiosk is closing)."""
        ...


class OnScreenDoor:
    """A door that is only the screen: it remembers what it was told (for tests and the admin screen)."""

    def __init__(self) -> None:
        self.is_open = False
        self.unlocks = 0
        self.last_speaker: str | None = None

    def unlock(self, seconds: float, *, speaker: str | None = None) -> None:
        self.is_open = True
        self.unlocks += 1
        self.last_speaker = speaker
        log.info("door open for %.1f s (%s)", seconds, speaker or "?")

    def lock(self) -> None:
        if self.is_open:
            log.info("door locked")
        self.is_open = False

    def describe(self) -> str:
        return "on screen only"


class CommandDoor:
    """Runs ``unlock_command`` (a shell command line) once per grant.

    Parameters
    ----------
    unlock_command : str
        Run through the shell (``/bin/sh -c``) on every :meth:`unlock`.
    lock_command : str, optional
        Run on :meth:`lock` (after an unlock); many relays relock by themselves, so it is optional.
    timeout_s : float
        A command still running after this long is killed and logged as failed.

    Attributes
    ----------
    runs, failures : int
        Commands started, and those that failed (could not start, non-zero exit, timeout).
    last_error : str or None
    """

    def __init__(self, unlock_command: str, *, lock_command: str | None = None, timeout_s: float = 10.0) -> None:
        if not isinstance(unlock_command, str) or not unlock_command.strip():
            raise ConfigError("the door command is empty; give a shell command, e.g. --door-command 'relay-pulse 5'")
        if not timeout_s > 0:
            raise ConfigError(f"the door command timeout must be positive, got {timeout_s}")
        self.unlock_command = unlock_command
        self.lock_command = lock_command or None
        self.timeout_s = float(timeout_s)
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.is_open = False
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def describe(self) -> str:
        return f"command: {self.unlock_command}"

    def unlock(self, seconds: float, *, speaker: str | None = None) -> None:
        self.is_open = True
        env = {"VOICELIVE_SPEAKER": speaker or "", "VOICELIVE_UNLOCK_S": f"{float(seconds):g}"}
        self._spawn(self.unlock_command, env, "unlock")

    def lock(self) -> None:
        was_open, self.is_open = self.is_open, False
        if was_open and self.lock_command:
            self._spawn(self.lock_command, {"VOICELIVE_SPEAKER": "", "VOICELIVE_UNLOCK_S": "0"}, "lock")

    def _spawn(self, command: str, env: dict[str, str], what: str) -> None:
        with self._lock:
            self.runs += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            t = threading.Thread(target=self._run, args=(command, env, what), name=DOOR_THREAD_NAME, daemon=True)
            self._threads.append(t)
        t.start()

    def _run(self, command: str, env: dict[str, str], what: str) -> None:
        try:
            res = subprocess.run(command, shell=True, env={**os.environ, **env}, capture_output=True,
                                 text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self._fail(f"door {what} command timed out after {self.timeout_s:g} s (killed): {command}")
            return
        except OSError as exc:
            self._fail(f"door {what} command could not start ({exc}): {command}")
            return
        if res.returncode != 0:
            err = (res.stderr or res.stdout or "").strip().splitlines()
            self._fail(f"door {what} command exited with status {res.returncode}"
                       + (f" ({err[-1][:200]})" if err else "") + f": {command}")
        else:
            log.info("door %s command done: %s", what, command)

    def _fail(self, msg: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = msg
        log.error("%s", msg)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the commands started so far; True if none is still running."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)
