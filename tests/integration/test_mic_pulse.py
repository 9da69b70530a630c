"""End to end through real PortAudio capture: a private PulseAudio server with a null sink whose
monitor is the default source; a clip played with `paplay` must reach the MicSource pipeline.

Each capture runs in a subprocess whose environment points at the private server, so the test
process's own PortAudio state (and the user's sound server, if any) is never touched. The server
is started and stopped by these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.pulse

TESTS_DIR = Path(__file__).resolve().parents[1]
SR = 16_000
ALICE, BOB, STRANGER = 1, 2, 0  # synthetic speaker ids (see tests/synth.py)


# ---------------------------------------------------------------------------------------------
# a private PulseAudio server
# ---------------------------------------------------------------------------------------------
class PulseServer:
    def __init__(self) -> None:
        for tool in ("pulseaudio", "pactl", "paplay"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed (apt install pulseaudio pulseaudio-utils)")
        self.dir = Path(tempfile.mkdtemp(prefix="vlpa-"))
        sock = self.dir / "native"
        (self.dir / "client.conf").write_text("autospawn = no\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        self.client_env = {**base, "PULSE_SERVER": f"unix:{sock}",
                           "PULSE_CLIENTCONFIG": str(self.dir / "client.conf"),
                           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        server_env = {**base, "HOME": str(self.dir), "XDG_RUNTIME_DIR": str(self.dir),
                      "PULSE_RUNTIME_PATH": str(self.dir / "run"), "PULSE_STATE_PATH": str(self.dir / "state")}
        self.log = open(self.dir / "server.log", "wb")
        # -n: no default.pa; as root, --system=false plus no idle exit keeps a per-test daemon alive
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--system=false", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no", f"--load=module-native-protocol-unix auth-anonymous=1 socket={sock}",
             "--load=module-null-sink sink_name=vl_null rate=48000", "--log-target=stderr"],
            env=server_env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15.0
        while True:
            if self.proc.poll() is not None:
                text = (self.dir / "server.log").read_text(errors="replace")[-2000:]
                self.close()
                pytest.skip(f"pulseaudio could not start here: {text}")
            if self.pactl("info", check=False).returncode == 0:
                break
            if time.monotonic() > deadline:
                self.close()
                pytest.skip("pulseaudio did not answer within 15 s")
            time.sleep(0.1)
        self.pactl("set-default-sink", "vl_null")
        self.pactl("set-default-source", "vl_null.monitor")

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.client_env, capture_output=True, text=True,
                              timeout=10, check=check)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pulse():
    server = PulseServer()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# capture in a subprocess
# ---------------------------------------------------------------------------------------------
CAPTURE = textwrap.dedent(r"""
    import json, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    wav, scorer_spec, tail_s = sys.argv[2], sys.argv[3], float(sys.argv[4])
    from voicelive.audio.sources import MicSource
    from voicelive.pipeline import Pipeline
    if scorer_spec == "f0":
        from synth import F0Scorer
        scorer = F0Scorer({"alice": %(alice)d, "bob": %(bob)d})
    else:
        from voicelive.recognition.recognizer import load_recognizer
        scorer = load_recognizer(scorer_spec)
    verdicts = []
    mic = MicSource()
    pipe = Pipeline(source=mic, scorer=scorer, on_verdict=verdicts.append)
    out = {"error": None}
    pipe.start()
    try:
        max_level = -120.0
        def watch(seconds):
            global max_level
            end = time.monotonic() + seconds
            while time.monotonic() < end and pipe.running:
                max_level = max(max_level, pipe.latest().stats.level_dbfs)
                time.sleep(0.05)
        watch(0.5)
        level_before = pipe.latest().stats.level_dbfs
        player = subprocess.Popen(["paplay", wav])
        while player.poll() is None and pipe.running:
            watch(0.1)
        player.wait(30)
        watch(tail_s)
    finally:
        pipe.stop()
    snap = pipe.latest()
    st = snap.stats
    out.update(device=mic.name, rate=mic.rate, level_before=level_before, max_level=max_level,
               windows=st.windows, speech_windows=st.speech_windows, audio_s=st.audio_s,
               dropped=st.dropped_blocks, overflows=st.overflows, latency_p95_ms=st.latency_p95_ms,
               error=snap.error, threads=[t.name for t in __import__("threading").enumerate()],
               verdicts=[[v.t_s, v.state, v.speaker, v.score] for v in verdicts])
    print(json.dumps(out))
""") % {"alice": ALICE, "bob": BOB}


def capture(pulse: PulseServer, wav: Path, scorer_spec: str, *, tail_s: float = 1.5) -> dict:
    res = subprocess.run([sys.executable, "-c", CAPTURE, str(TESTS_DIR), str(wav), scorer_spec, str(tail_s)],
                         env=pulse.client_env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def split_at_pause(verdicts: list, first_speaker: str) -> tuple[list, list]:
    """Verdicts up to the 'silence' that follows ``first_speaker``'s turn, and those after it."""
    named_at = next((i for i, v in enumerate(verdicts) if v[2] == first_speaker), None)
    assert named_at is not None, f"{first_speaker} was never named: {verdicts}"
    # a turn's own windows may dip to 'listening' and come back to the name within a moment (its
    # weak edge); the pause is the first 'silence'/'listening' not followed by the name within 1 s
    def lasting(i: int) -> bool:
        return not any(v[2] == first_speaker for v in verdicts[i:] if v[0] <= verdicts[i][0] + 1.0)

    pause = next((i for i in range(named_at, len(verdicts))
                  if verdicts[i][1] in ("silence", "listening") and lasting(i)), None)
    assert pause is not None, f"no pause after {first_speaker}'s turn: {verdicts}"
    return verdicts[:pause], verdicts[pause:]


# ---------------------------------------------------------------------------------------------
def test_devices_command_sees_the_pulse_source(pulse):
    res = subprocess.run([sys.executable, "-m", "voicelive", "devices"], env=pulse.client_env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "*" in res.stdout and ("pulse" in res.stdout or "default" in res.stdout)


def test_mic_pipeline_hears_and_names_a_synthetic_voice(pulse, tmp_path):
    from synth import synth_silence, synth_speaker_wave

    clip = np.concatenate([synth_silence(0.3), synth_speaker_wave(ALICE, 3.5, seed=21), synth_silence(2.5),
                           synth_speaker_wave(STRANGER, 3.5, seed=22), synth_silence(0.3)])
    wav = tmp_path / "voices.wav"
    sf.write(wav, clip, SR)
    out = capture(pulse, wav, "f0")
    assert out["error"] is None
    assert out["rate"] and out["rate"] != SR            # captured at the device rate, converted inside
    assert out["level_before"] < -60                    # the monitor is silent before playback
    assert out["max_level"] > -35                       # the clip (-20 dBFS speech) arrived
    assert out["windows"] >= 15 and out["speech_windows"] >= 8
    assert out["dropped"] == 0
    assert "voicelive-worker" not in out["threads"]     # stopped cleanly
    alice_part, stranger_part = split_at_pause(out["verdicts"], "alice")
    assert {v[2] for v in alice_part} == {None, "alice"}, alice_part
    assert {v[2] for v in stranger_part} == {None}, stranger_part   # the stranger is never named
    assert "unknown" in {v[1] for v in stranger_part}, stranger_part


# ---------------------------------------------------------------------------------------------
ENROLL = textwrap.dedent("""
    import json, sys
    from voicelive.audio.io import load_audio
    from voicelive.recognition.recognizer import Recognizer
    clips = {name: [load_audio(p) for p in paths] for name, paths in json.loads(sys.argv[1]).items()}
    rec = Recognizer.create()
    rec.enroll(clips)
    rec.save(sys.argv[2])
""")


def test_enrolled_voices_are_named_and_a_stranger_is_unknown(pulse, tmp_path, corpora_dir, ge2e_weights):
    """Two people enrolled from real recordings; a third recording of one of them, then a person
    who never enrolled, are played into the null sink and captured through PortAudio.

    Real voices (../shared/corpora) rather than espeak-ng ones: espeak's voice variants are one
    synthesiser with other pitch/formant settings, and most of them do sound like the same
    "person" to a speaker encoder (measured: en-gb+m7, en-us+m1 and en-us+f4 were accepted as
    the enrolled en-us+m3 / en-us+f2 voices), so they cannot stand in for a stranger."""
    from voicelive.evaluation.corpus import load_manifest

    corpus = load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")
    by = corpus.by_speaker()
    people = {"anna": "allison_smith_en", "ben": "carlo_flora_it"}
    paths = {name: [str(u.path) for u in by[spk][:8]] for name, spk in people.items()}
    model_dir = tmp_path / "model"
    res = subprocess.run([sys.executable, "-c", ENROLL, json.dumps(paths), str(model_dir)], env=pulse.client_env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]

    anna = np.concatenate([corpus.audio(u) for u in by["allison_smith_en"][-3:]])
    stranger = np.concatenate([corpus.audio(u) for u in by["ivrvoice_ru"][-3:]])
    gap = np.zeros(int(2.5 * SR), np.float32)
    wav = tmp_path / "visit.wav"
    sf.write(wav, np.concatenate([np.zeros(int(0.3 * SR), np.float32), anna, gap, stranger, gap[:SR // 4]]), SR)

    out = capture(pulse, wav, str(model_dir))
    assert out["error"] is None and out["max_level"] > -40
    anna_part, stranger_part = split_at_pause(out["verdicts"], "anna")
    assert {v[2] for v in anna_part} <= {None, "anna"}, f"ben named while anna spoke: {anna_part}"
    assert {v[2] for v in stranger_part} == {None}, f"the stranger was named: {stranger_part}"
    assert "unknown" in {v[1] for v in stranger_part}, stranger_part


def test_stream_command_reports_a_vanishing_device_and_exits():
    """`voicelive stream` on the pulse microphone; the sound server dies mid-stream (like an
    unplugged USB microphone): one clear error line, a summary, exit status 2 — no hang."""
    server = PulseServer()  # a server of its own: this test kills it
    try:
        proc = subprocess.Popen([sys.executable, "-m", "voicelive", "stream", "--source", "mic", "--no-model"],
                                env=server.client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()           # the first verdict: the stream is running
            assert "silence" in first, proc.stderr.read()[-2000:] if not first else first
            server.proc.kill()
            server.proc.wait(5)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        assert proc.returncode == 2
        assert "voicelive: error:" in err and "stopped delivering audio" in err
        assert "Traceback" not in err
        assert "summary" in out
    finally:
        server.close()
