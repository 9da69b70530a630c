"""The kiosk on a real capture device: a private PulseAudio server with a null sink whose monitor is
the default source (see tests/integration/test_mic_pulse.py). An enrolled person's held-out speech
is played with `paplay`; the kiosk session, listening through PortAudio, opens the door for her and
logs it. Played again through a small loudspeaker (a recording of that visit), it is refused as a
replay, by a new kiosk session that knows the visit only from the store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from integration.test_mic_pulse import pulse  # noqa: F401  (the private PulseAudio server fixture)

pytestmark = pytest.mark.pulse
REPO = Path(__file__).resolve().parents[2]

KIOSK = textwrap.dedent(r"""
    import json, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    data_dir, wav = sys.argv[2], sys.argv[3]
    from voicelive.audio.sources import MicSource
    from voicelive.enrollment.model_update import active_recognizer
    from voicelive.kiosk.session import KioskSession
    from voicelive.store import Store
    store = Store.open(data_dir)
    session = KioskSession(lambda: MicSource(block_size=512), scorer=active_recognizer(store), store=store)
    assert session.start(), session.input_problem
    try:
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            session.poll(); time.sleep(0.05)
        player = subprocess.Popen(["paplay", wav])
        t_end = time.monotonic() + 20
        while time.monotonic() < t_end and not session.decisions:
            session.poll(); time.sleep(0.05)
        player.wait(30)
    finally:
        session.stop()
    log = [[r.decision, r.speaker, r.state] for r in store.access_log()]
    store.close()
    print(json.dumps({"decisions": [[d.decision, d.speaker] for d in session.decisions], "log": log,
                      "problem": session.input_problem}))
""")


def test_kiosk_opens_for_an_enrolled_voice_through_a_real_capture_device(pulse, enrolled_dir, speech_files):
    res = subprocess.run([sys.executable, "-c", KIOSK, str(REPO), str(enrolled_dir), str(speech_files["known"])],
                         env=pulse.client_env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["problem"] is None
    assert out["decisions"][:1] == [["granted", "Allison"]], out
    assert [r[:2] for r in out["log"]][:1] == [["granted", "Allison"]]


def test_kiosk_refuses_a_replayed_visit_through_a_real_capture_device(pulse, enrolled_dir, speech, speech_files,
                                                                     tmp_path):
    import numpy as np
    import soundfile as sf

    from voicelive.audio.channels import apply_channel

    def kiosk(wav):
        res = subprocess.run([sys.executable, "-c", KIOSK, str(REPO), str(enrolled_dir), str(wav)],
                             env=pulse.client_env, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    first = kiosk(speech_files["known"])
    assert first["decisions"][:1] == [["granted", "Allison"]], first
    replay = tmp_path / "replay.wav"
    sf.write(replay, np.concatenate([np.zeros(2345, np.float32),
                                     apply_channel(speech["known"], "laptop", utterance_id="pulse")]), 16000)
    again = kiosk(replay)
    assert again["problem"] is None
    assert again["decisions"][:1] == [["denied", "Allison"]], again
    assert again["log"][-1][2].startswith("replayed recording"), again["log"]
