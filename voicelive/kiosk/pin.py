"""The kiosk's admin PIN: salted scrypt hash in the store's settings, rate-limited guesses.

Nothing readable is stored: ``kiosk.pin`` holds the scrypt parameters, a random 16-byte salt and
the 32-byte hash. After :data:`MAX_TRIES` wrong PINs in a row, guessing is locked out for
:data:`FIRST_LOCKOUT_S`, doubling with every further lockout up to :data:`MAX_LOCKOUT_S`; the
counters live in ``kiosk.pin_guard`` so restarting the kiosk does not reset them. A right PIN
clears them. Times are wall-clock (``time.time``) because they must survive a restart.

Qt-free.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

from voicelive.errors import ConfigError, VoiceliveError

__all__ = ["PinGuard", "PinCheck", "PinLockedError", "validate_pin", "hash_pin",
           "MAX_TRIES", "FIRST_LOCKOUT_S", "MAX_LOCKOUT_S", "PIN_KEY", "GUARD_KEY"]

log = logging.getLogger(__name__)

PIN_KEY = "kiosk.pin"
GUARD_KEY = "kiosk.pin_guard"
MAX_TRIES = 3
FIRST_LOCKOUT_S = 30.0
MAX_LOCKOUT_S = 15 * 60.0
MIN_PIN_LEN, MAX_PIN_LEN = 4, 32
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


class PinLockedError(VoiceliveError):
    """Too many wrong PINs: guessing is locked for a while."""


def validate_pin(pin: str) -> str:
    """The PIN without surrounding white space; digits only, 4 to 32 of them."""
    if not isinstance(pin, str):
        raise ConfigError(f"the PIN must be text, got {type(pin).__name__}")
    p = pin.strip()
    if not p:
        raise ConfigError("the PIN is empty; give 4 to 32 digits, e.g. `echo 4711 | voicelive kiosk set-pin`")
    if not (p.isascii() and p.isdigit()):
        raise ConfigError("the PIN may contain only the digits 0-9 (the kiosk's keypad); choose another")
    if not MIN_PIN_LEN <= len(p) <= MAX_PIN_LEN:
        raise ConfigError(f"the PIN has {len(p)} digits; use {MIN_PIN_LEN} to {MAX_PIN_LEN}")
    return p


def hash_pin(pin: str, salt: bytes, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


@dataclass(frozen=True)
class PinCheck:
    """Result of :meth:`PinGuard.check`.

    Attributes
    ----------
    ok : bool
    tries_left : int
        Wrong PINs still allowed before a lockout.
    locked_for_s : float
        > 0 when guessing is now locked (this long).
    """

    ok: bool
    tries_left: int
    locked_for_s: float = 0.0

    def message(self) -> str:
        if self.ok:
            return "PIN accepted"
        if self.locked_for_s > 0:
            return f"Wrong PIN. Too many tries — locked for {_duration(self.locked_for_s)}."
        return f"Wrong PIN. {self.tries_left} {'try' if self.tries_left == 1 else 'tries'} left."


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s} s" if s < 120 else f"{s // 60} min {s % 60:02d} s"


class PinGuard:
    """The admin PIN of a store.

    Parameters
    ----------
    store : Store
        Where the hash and the guard counters live (its settings table).
    clock : callable
        Wall-clock seconds (tests inject their own).
    """

    def __init__(self, store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    @property
    def is_set(self) -> bool:
        rec = self.store.get_setting(PIN_KEY)
        return isinstance(rec, dict) and "hash" in rec and "salt" in rec

    def set_pin(self, pin: str) -> None:
        """Store a new PIN (salted scrypt hash) and clear the guard counters."""
        p = validate_pin(pin)
        salt = os.urandom(16)
        digest = hash_pin(p, salt)
        self.store.set_setting(PIN_KEY, {"scheme": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                                         "salt": salt.hex(), "hash": digest.hex()})
        self.store.delete_setting(GUARD_KEY)
        log.info("kiosk admin PIN set")

    def _guard(self) -> dict:
        g = self.store.get_setting(GUARD_KEY, {})
        if not isinstance(g, dict):
            g = {}
        return {"failures": int(g.get("failures", 0)), "lockouts": int(g.get("lockouts", 0)),
                "locked_until": float(g.get("locked_until", 0.0))}

    def locked_for_s(self) -> float:
        """Seconds until guessing is allowed again (0 = now)."""
        return max(0.0, self._guard()["locked_until"] - self.clock())

    def tries_left(self) -> int:
        return max(0, MAX_TRIES - self._guard()["failures"])

    def check(self, pin: str) -> PinCheck:
        """Compare ``pin`` with the stored hash, counting wrong tries.

        Raises
        ------
        PinLockedError
            Guessing is locked now (the PIN is not even compared).
        ConfigError
            No PIN is set.
        """
        rec = self.store.get_setting(PIN_KEY)
        if not (isinstance(rec, dict) and "hash" in rec):
            raise ConfigError("no kiosk PIN is set; set one with `voicelive kiosk set-pin`")
        g = self._guard()
        now = self.clock()
        if g["locked_until"] > now:
            raise PinLockedError(f"too many wrong PINs; try again in {_duration(g['locked_until'] - now)}")
        try:
            given = hash_pin(str(pin).strip(), bytes.fromhex(rec["salt"]), n=int(rec.get("n", SCRYPT_N)),
                             r=int(rec.get("r", SCRYPT_R)), p=int(rec.get("p", SCRYPT_P)))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"the stored kiosk PIN is unreadable ({exc}); set it again with "
                              "`voicelive kiosk set-pin`") from exc
        if hmac.compare_digest(given, bytes.fromhex(rec["hash"])):
            self.store.delete_setting(GUARD_KEY)
            return PinCheck(True, MAX_TRIES)
        g["failures"] += 1
        locked = 0.0
        if g["failures"] >= MAX_TRIES:
            locked = min(MAX_LOCKOUT_S, FIRST_LOCKOUT_S * 2 ** g["lockouts"])
            g["lockouts"] += 1
            g["failures"] = 0
            g["locked_until"] = now + locked
            log.warning("kiosk PIN: %d wrong tries, locked for %.0f s", MAX_TRIES, locked)
        else:
            log.warning("kiosk PIN: wrong PIN (%d of %d)", g["failures"], MAX_TRIES)
        self.store.set_setting(GUARD_KEY, g)
        return PinCheck(False, MAX_TRIES - g["failures"] if not locked else 0, locked)
