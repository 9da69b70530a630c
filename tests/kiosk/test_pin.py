"""Admin PIN: salted scrypt hash in the store, wrong tries rate-limited and remembered across restarts."""

from __future__ import annotations

import io
import sqlite3

import pytest

from voicelive.cli import main
from voicelive.errors import ConfigError
from voicelive.kiosk.pin import FIRST_LOCKOUT_S, GUARD_KEY, MAX_LOCKOUT_S, PIN_KEY, PinGuard, PinLockedError
from voicelive.store import Store


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_hash_only_and_right_pin_accepted(tmp_path):
    with Store.open(tmp_path) as store:
        g = PinGuard(store)
        assert not g.is_set
        with pytest.raises(ConfigError, match="set-pin"):
            g.check("4711")
        g.set_pin(" 4711\n")
        rec = store.get_setting(PIN_KEY)
        assert rec["scheme"] == "scrypt" and len(bytes.fromhex(rec["salt"])) == 16
        assert g.check("4711").ok
        g.set_pin("4711")
        assert store.get_setting(PIN_KEY)["salt"] != rec["salt"]      # a fresh salt each time
    raw = (tmp_path / "voicelive.db").read_bytes()
    assert b"4711" not in raw
    con = sqlite3.connect(tmp_path / "voicelive.db")
    assert "4711" not in " ".join(str(r) for r in con.execute("SELECT * FROM settings"))
    con.close()


@pytest.mark.parametrize("pin", ["", "12", "12ab", "１２３４", "1" * 33])
def test_bad_pins_refused(tmp_path, pin):
    with Store.open(tmp_path) as store, pytest.raises(ConfigError):
        PinGuard(store).set_pin(pin)


def test_wrong_pins_lock_out_doubling_and_survive_a_restart(tmp_path):
    clock = Clock()
    store = Store.open(tmp_path)
    g = PinGuard(store, clock=clock)
    g.set_pin("4711")
    r1, r2 = g.check("0000"), g.check("1111")
    assert (r1.ok, r1.tries_left, r2.tries_left) == (False, 2, 1)
    r3 = g.check("2222")
    assert r3.locked_for_s == FIRST_LOCKOUT_S and "locked" in r3.message()
    with pytest.raises(PinLockedError):
        g.check("4711")                      # even the right PIN is not compared while locked
    store.close()

    store = Store.open(tmp_path)             # restart: still locked
    g = PinGuard(store, clock=clock)
    assert g.locked_for_s() == pytest.approx(FIRST_LOCKOUT_S)
    clock.t += FIRST_LOCKOUT_S
    assert g.locked_for_s() == 0
    for _ in range(3):
        last = g.check("9999")
    assert last.locked_for_s == 2 * FIRST_LOCKOUT_S       # doubles
    for _ in range(10):
        clock.t += MAX_LOCKOUT_S
        for _ in range(3):
            last = g.check("9999")
    assert last.locked_for_s == MAX_LOCKOUT_S              # capped at 15 min
    clock.t += MAX_LOCKOUT_S
    assert g.check("4711").ok
    assert store.get_setting(GUARD_KEY) is None            # the right PIN clears the counters
    assert g.tries_left() == 3
    store.close()


def test_set_pin_command_reads_stdin(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n"))
    assert main(["kiosk", "set-pin", "--data-dir", str(tmp_path)]) == 0
    assert "PIN set" in capsys.readouterr().out
    with Store.open(tmp_path) as store:
        assert PinGuard(store).check("123456").ok
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert main(["kiosk", "set-pin", "--data-dir", str(tmp_path)]) == 2
    assert "4 to 32" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["kiosk", "set-pin", "--data-dir", str(tmp_path)]) == 2
    assert "empty" in capsys.readouterr().err
