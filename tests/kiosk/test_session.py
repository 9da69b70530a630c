"""The kiosk session on real speech, fed from files through the live pipeline (stream-time clock):
enrolled voice -> granted and logged; stranger -> denied and logged; the door relocks after its time; the door command runs once per grant; a vanishing microphone is
reported and retried without ending the session."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from voicelive.audio.sources import ArraySource, FileSource
from voicelive.errors import DeviceError
from voicelive.kiosk.access import COOLDOWN, GRANTED, LOCKED, KioskPolicy
from voicelive.kiosk.door import CommandDoor, OnScreenDoor
from voicelive.kiosk.session import MIC_UNAVAILABLE, KioskSession, run_kiosk_offline
from voicelive.store import Store

SR = 16_000


def test_enrolled_voice_is_granted_and_logged(recognizer, speech, enrolled_dir):
    door = OnScreenDoor()
    with Store.open(enrolled_dir) as store:
        s = run_kiosk_offline(speech["known"], recognizer, store=store, door=door)
        log = store.access_log()
    first = s.decisions[0]
    assert (first.decision, first.speaker) == ("granted", "Allison")
    assert first.t_s - 1.0 <= 4.0                      # within 4 s of the speech starting
    assert first.score >= first.threshold >= 0.5 and first.speech_s >= 1.5
    assert all(d.decision == "granted" and d.speaker == "Allison" for d in s.decisions)
    assert door.unlocks == len(s.decisions)
    assert [(r.decision, r.speaker) for r in log] == [("granted", "Allison")] * len(s.decisions)
    r = log[0]
    assert r.score == pytest.approx(first.score) and r.threshold == pytest.approx(first.threshold)
    assert r.speech_s == pytest.approx(first.speech_s) and r.state and r.time


def test_stranger_is_denied_and_logged(recognizer, speech, enrolled_dir):
    with Store.open(enrolled_dir) as store:
        s = run_kiosk_offline(speech["stranger"], recognizer, store=store)
        log = store.access_log()
    assert s.decisions and all(d.decision == "denied" and d.speaker is None for d in s.decisions)
    assert [(r.decision, r.speaker) for r in log] == [("denied", None)] * len(s.decisions)
    assert all(r.score < r.threshold and r.speech_s > 1.0 for r in log)


def test_door_relocks_after_unlock_time(recognizer, speech):
    door = OnScreenDoor()
    policy = KioskPolicy(unlock_s=2.0, cooldown_s=1.0)
    session = KioskSession(lambda: ArraySource(speech["known"][:int(3.5 * SR)], block_size=1024),
                           scorer=recognizer, policy=policy, door=door)
    session.step()
    assert session.controller.state == GRANTED and door.is_open
    granted_at = session.decisions[0].t_s
    session.advance(granted_at + 1.9 - session.pipeline.latest().t_s)
    assert door.is_open
    session.advance(granted_at + 2.0 - session.pipeline.latest().t_s)
    assert session.controller.state == COOLDOWN and not door.is_open
    session.advance(granted_at + 3.0 - session.pipeline.latest().t_s)
    assert session.controller.state == LOCKED


def test_door_command_runs_once_per_grant(recognizer, speech, tmp_path):
    marks = tmp_path / "opened.txt"
    cmd = f'{sys.executable} -c "import os; open(r\'{marks}\', \'a\').write(os.environ[\'VOICELIVE_SPEAKER\'] + \' \' + os.environ[\'VOICELIVE_UNLOCK_S\'] + \'\\n\')"'
    door = CommandDoor(cmd, timeout_s=20)
    wave = np.concatenate([speech["known"], speech["stranger"], speech["known2"]])
    s = run_kiosk_offline(wave, recognizer, door=door, policy=KioskPolicy(unlock_s=4.0))
    assert door.wait(30)
    grants = [d.speaker for d in s.decisions if d.decision == "granted"]
    assert "Allison" in grants and "Carlo" in grants
    assert sorted(marks.read_text().splitlines()) == sorted(f"{g} 4" for g in grants)   # one line per grant
    assert door.runs == len(grants) and door.failures == 0


def test_failing_and_hanging_door_commands_are_logged_not_raised(caplog):
    door = CommandDoor("exit 3", timeout_s=5)
    door.unlock(5, speaker="Allison")
    slow = CommandDoor(f"{sys.executable} -c 'import time; time.sleep(30)'", timeout_s=0.5)
    slow.unlock(5, speaker="Allison")
    assert door.wait(10) and slow.wait(10)
    assert door.failures == 1 and "status 3" in door.last_error
    assert slow.failures == 1 and "timed out" in slow.last_error
    assert sum("door unlock command" in r.getMessage() for r in caplog.records) == 2


class VanishingSource(ArraySource):
    """Delivers ``n`` samples of audio, then fails like an unplugged microphone."""

    def __init__(self, wave, n):
        super().__init__(wave, realtime=True, loop=True, block_size=512, name="test mic")
        self._n = n

    def _read(self, timeout):
        if self._delivered >= self._n:
            raise DeviceError("microphone 'test mic' stopped delivering audio")
        return super()._read(timeout)


def test_lost_microphone_is_reported_retried_and_recovered(speech):
    state = {"calls": 0}

    def make():
        state["calls"] += 1
        if state["calls"] == 1:
            return VanishingSource(speech["known"], SR // 2)
        if state["calls"] == 2:
            raise DeviceError("no input device matches 'test mic'")
        return ArraySource(speech["known"], realtime=True, loop=True, block_size=512, name="test mic")

    session = KioskSession(make, scorer=None, retry_s=0.2)
    assert session.start()
    seen = set()
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and not (state["calls"] >= 3 and session.pipeline.running
                                                   and session.input_problem is None):
            session.poll()
            if session.input_problem:
                seen.add(session.input_problem.split(":")[0])
            time.sleep(0.02)
        assert seen == {MIC_UNAVAILABLE}
        assert state["calls"] >= 3 and session.pipeline.running and session.input_problem is None
    finally:
        session.stop()


def test_file_source_runs_threaded(recognizer, speech_files):
    """The live mode on a real-time file: evidence crosses the worker thread and opens the door."""
    recognizer_far = recognizer.target_far
    door = OnScreenDoor()
    session = KioskSession(lambda: FileSource(speech_files["known"], realtime=True, loop=True, block_size=512),
                           scorer=recognizer, door=door)
    try:
        session.start()
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and not door.unlocks:
            session.poll()
            time.sleep(0.05)
        assert door.unlocks == 1 and session.controller.state == GRANTED
        assert session.view().access.speaker == "Allison"
    finally:
        session.stop()
        recognizer.set_target_far(recognizer_far)
    assert not door.is_open
