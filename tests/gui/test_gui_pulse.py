"""The window on real PortAudio capture: a private PulseAudio server whose null-sink monitor is the
microphone; a known voice is played into it, the window names it, and the input is hot-switched
to another PortAudio device while listening. The window runs in a subprocess pointed at the
private server, so this process's PortAudio state is never touched."""

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

import pytest

pytestmark = [pytest.mark.pulse, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]

WINDOW = textwrap.dedent(r"""
    import json, sys, time
    from PySide6.QtCore import QEventLoop, QTimer
    from voicelive.gui.app import close_window, create_app, ensure_qapp
    from voicelive.store import Store

    app = ensure_qapp()
    def wait(s):
        loop = QEventLoop(); QTimer.singleShot(int(s * 1000), loop.quit); loop.exec()
    def wait_for(cond, s):
        end = time.monotonic() + s
        while not cond() and time.monotonic() < end:
            wait(0.1)
        return cond()
    store = Store.open(sys.argv[1])
    w = create_app(store=store, input_key="mic:pulse")
    out = {"choices": [c.key for c in w.live.choices], "first": w.live.pipeline.source.name}
    out["named_first"] = wait_for(lambda: w.verdict.text == "Allison", 25)
    out["switched"] = w.switch_input("mic:default")
    wait(0.5)
    out["second"] = w.live.pipeline.source.name
    start = w.live.pipeline.latest().t_s
    out["audio_after_switch"] = wait_for(lambda: w.live.pipeline.latest().t_s > start + 3, 10)
    out["running"] = w.live.running
    out["dropped"] = w.live.pipeline.latest().stats.dropped_blocks
    out["blocks"] = w.live.pipeline.latest().stats.blocks
    out["frames"] = w.frames
    w.shutdown(); close_window(w); store.close()
    print(json.dumps(out))
""")


@pytest.fixture
def pulse_env():
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt install pulseaudio pulseaudio-utils)")
    d = Path(tempfile.mkdtemp(prefix="vlgui-pa-"))
    sock = d / "native"
    (d / "client.conf").write_text("autospawn = no\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    client = {**base, "PULSE_SERVER": f"unix:{sock}", "PULSE_CLIENTCONFIG": str(d / "client.conf")}
    server_env = {**base, "HOME": str(d), "XDG_RUNTIME_DIR": str(d), "PULSE_RUNTIME_PATH": str(d / "run"),
                  "PULSE_STATE_PATH": str(d / "state")}
    log = open(d / "server.log", "wb")
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--system=false", "--exit-idle-time=-1", "--disallow-exit",
         "--use-pid-file=no", f"--load=module-native-protocol-unix auth-anonymous=1 socket={sock}",
         "--load=module-null-sink sink_name=vl_null rate=48000", "--log-target=stderr"],
        env=server_env, stdout=log, stderr=subprocess.STDOUT)

    def pactl(*args, check=True):
        return subprocess.run(["pactl", *args], env=client, capture_output=True, text=True, timeout=10, check=check)

    try:
        deadline = time.monotonic() + 15
        while pactl("info", check=False).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("pulseaudio could not start here: "
                            + (d / "server.log").read_text(errors="replace")[-500:])
            time.sleep(0.1)
        pactl("set-default-sink", "vl_null")
        pactl("set-default-source", "vl_null.monitor")
        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def test_window_names_a_voice_from_a_real_device_and_hot_switches(pulse_env, enrolled_dir, speech_files, tmp_path):
    env = {**pulse_env, "QT_QPA_PLATFORM": "offscreen", "VOICELIVE_LOG_DIR": str(tmp_path / "logs"),
           "OPENBLAS_NUM_THREADS": "1"}
    player = subprocess.Popen(["sh", "-c", f"while true; do paplay '{speech_files['known']}'; done"], env=pulse_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        r = subprocess.run([sys.executable, "-c", WINDOW, str(enrolled_dir)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=150)
    finally:
        os.killpg(player.pid, 15)
        player.wait(5)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if "mic:pulse" not in out["choices"] or "mic:default" not in out["choices"]:
        pytest.skip(f"PortAudio does not list the 'pulse' and 'default' ALSA devices here: {out['choices']}")
    assert "pulse" in out["first"]
    assert out["named_first"], "the enrolled voice was not named from the real device"
    assert out["switched"] and "default" in out["second"]
    assert out["audio_after_switch"] and out["running"]
    # dropped blocks happen when other jobs load the 2 cores (measured: 9 of ~600 under one parallel
    # benchmark, 54 under two); they are counted and shown, which is what this checks is wired up —
    # most of the audio must still have arrived
    assert 0 <= out["dropped"] <= 0.25 * (out["blocks"] + out["dropped"]) and out["blocks"] > 100
    assert out["frames"] > 100
