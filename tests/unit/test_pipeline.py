"""Pipeline: step() end to end with a fake scorer, block-size invariance, snapshots, swaps, faults,
the worker thread, the config, and `voicelive stream`."""

import hashlib
import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from synth import F0Scorer, synth_silence, synth_speaker_wave

from voicelive.audio.sources import ArraySource, PushSource, Source, SyntheticSource
from voicelive.config import (AudioConfig, DecisionConfig, PipelineConfig, WindowConfig, from_toml,
                              with_overrides)
from voicelive.dsp.spectrogram import SpectrogramColumns
from voicelive.errors import ConfigError, DeviceError
from voicelive.pipeline import WORKER_THREAD_NAME, Pipeline, WindowScorer, run_offline

SR = 16_000
ALICE, BOB, STRANGER = 1, 2, 0  # synthetic speaker ids (f0 106, 194, 154 Hz)


def scorer():
    return F0Scorer({"alice": ALICE, "bob": BOB})


def conversation():
    """1 s silence, alice 4 s, 2 s silence, bob 4 s, 2 s silence, a stranger 4 s."""
    parts = [synth_silence(1.0), synth_speaker_wave(ALICE, 4.0, seed=1), synth_silence(2.0),
             synth_speaker_wave(BOB, 4.0, seed=2), synth_silence(2.0), synth_speaker_wave(STRANGER, 4.0, seed=3)]
    return np.concatenate(parts)


def named(verdicts, t0, t1):
    return {v.speaker for v in verdicts if t0 < v.t_s <= t1 and v.state == "speaker"}


def test_fake_scorer_follows_the_protocol():
    assert isinstance(scorer(), WindowScorer)


def test_step_names_the_enrolled_speakers_and_not_a_stranger():
    pipe = Pipeline(source=SyntheticSource(conversation()), scorer=scorer())
    vs = pipe.step()
    hop_s = PipelineConfig().window.hop_s    # the first window ends at min_window_s = 0.5 s
    assert [v.t_s for v in vs] == pytest.approx(0.5 + np.arange(len(vs)) * hop_s)
    assert vs[0].state == "silence"
    assert named(vs, 2.5, 5.0) == {"alice"}
    assert all(v.speaker == "alice" for v in vs if 2.5 <= v.t_s <= 5.0)
    assert named(vs, 8.5, 11.0) == {"bob"}
    # the stranger (from 13.0 s) is never named; bob's verdict is held until the stranger's speech
    # fills enough of a window to be judged (0.25 s in, it is still too little)
    assert named(vs, 13.25, 17.0) == set()
    assert vs[-1].state == "unknown"
    assert pipe.finished and pipe.latest().finished


@pytest.mark.parametrize("speaker", [ALICE, BOB])
def test_a_clear_speaker_is_named_about_a_second_after_onset(speaker):
    delays = []
    for seed in range(5):
        speech = synth_speaker_wave(speaker, 4.0, seed=seed)
        onset = 1.0 + np.argmax(np.abs(speech) > 1e-3) / SR
        vs = run_offline(np.concatenate([synth_silence(1.0), speech]), scorer())
        first = next(v.t_s for v in vs if v.state == "speaker")
        delays.append(first - onset)
    assert np.median(delays) <= 1.0 and max(delays) <= 1.5


class GrowingScorer:
    """Scores alice by how much audio it is given: sure only with 1 s or more (like a real model on
    short speech, unsure below). With ``decisive``, it also offers a stricter ``decisive_threshold``."""

    speakers = ["alice"]
    threshold = 0.8

    def __init__(self, decisive=None):
        if decisive is not None:
            self.decisive_threshold = decisive

    def score_window(self, wave):
        return {"alice": 0.97 if wave.size >= SR else 0.1}


def first_named(scorer_, **decision):
    wave = np.concatenate([synth_silence(1.0), synth_speaker_wave(ALICE, 4.0, seed=0)])
    cfg = PipelineConfig(decision=DecisionConfig(**decision))
    return next(v.t_s for v in run_offline(wave, scorer_, cfg) if v.state == "speaker")


def test_at_onset_the_newest_window_supersedes_and_a_sure_window_decides():
    slow = first_named(GrowingScorer(), onset_supersede=False)
    onset = first_named(GrowingScorer())
    sure = first_named(GrowingScorer(decisive=0.95))
    assert onset < slow     # the first, short-speech windows no longer drag the average down
    assert sure < onset     # one window past the decisive threshold is enough
    assert sure - 1.0 <= 1.25
    # the decisive threshold is only taken from a scorer that offers one, and can be switched off
    assert first_named(GrowingScorer(decisive=0.95), decisive_window=False) == onset


class RecordingScorer:
    """Wraps a scorer and remembers a hash of every window it was asked about."""

    def __init__(self, inner):
        self.inner = inner
        self.speakers = inner.speakers
        self.threshold = inner.threshold
        self.seen = []

    def score_window(self, wave):
        self.seen.append(hashlib.sha1(np.ascontiguousarray(wave).tobytes()).hexdigest())
        return self.inner.score_window(wave)


def test_same_windows_and_verdicts_whatever_the_block_size():
    wave = conversation()
    ref_scorer = RecordingScorer(scorer())
    ref = run_offline(wave, ref_scorer, block_size=1024)
    for block in (160, 777, 4096, wave.size):
        rec = RecordingScorer(scorer())
        assert run_offline(wave, rec, block_size=block) == ref, block
        assert rec.seen == ref_scorer.seen


def test_hop_can_be_changed():
    cfg = PipelineConfig(window=WindowConfig(hop_s=0.25))
    vs = run_offline(conversation()[: 6 * SR], scorer(), cfg)
    assert len(vs) == 24 - 1  # ends at 0.5, 0.75, ... 6.0 (the 0.25-s window is below min_window_s)
    assert named(vs, 2.5, 5.0) == {"alice"}


def test_silence_only_and_no_scorer_and_empty_roster():
    assert {v.state for v in run_offline(synth_silence(4.0), scorer())} == {"silence"}
    wave = conversation()[: 5 * SR]
    assert {v.state for v in run_offline(wave, None)} == {"silence", "listening"}

    class Nobody:
        speakers: list = []
        threshold = 0.5

        def score_window(self, wave):
            raise AssertionError("must not be called with nobody enrolled")

    assert {v.state for v in run_offline(wave, Nobody())} == {"silence", "unknown"}


def test_a_failing_scorer_is_counted_not_fatal():
    class Broken:
        speakers = ["x"]
        threshold = 0.5

        def score_window(self, wave):
            raise RuntimeError("model file corrupt")

    pipe = Pipeline(source=SyntheticSource(conversation()[: 5 * SR]), scorer=Broken())
    vs = pipe.step()
    snap = pipe.latest()
    assert {v.state for v in vs} == {"silence", "listening"}
    assert snap.stats.scorer_errors == snap.stats.speech_windows > 0
    assert "model file corrupt" in snap.error


def test_not_a_scorer_is_refused():
    with pytest.raises(ConfigError, match="score_window"):
        Pipeline(source=SyntheticSource(synth_silence(1.0)), scorer=object())


def test_snapshot_carries_display_data_and_stats():
    wave = conversation()[: 6 * SR]
    cfg = PipelineConfig()
    pipe = Pipeline(source=SyntheticSource(wave, block_size=1000), scorer=scorer(), config=cfg)
    first = pipe.latest()
    assert first.verdict.state == "listening" and first.wave_tail.size == 0
    vs = pipe.step()
    snap = pipe.latest()
    assert snap.seq > first.seq and snap.t_s == pytest.approx(6.0)
    assert snap.verdict == vs[-1] and snap.candidates == vs[-1].candidates
    np.testing.assert_array_equal(snap.wave_tail, wave[-int(cfg.display.tail_s * SR):])
    assert not snap.wave_tail.flags.writeable and not snap.spec_columns.flags.writeable
    n_freq = cfg.display.spec_n_fft // 2 + 1
    hop = round(cfg.display.spec_hop_s * SR)
    history = int(np.ceil(cfg.display.spec_history_s / (hop / SR)))
    assert snap.spec_columns.shape == (history, n_freq)
    assert snap.spec_end_col == wave.size // hop
    assert snap.spec_freqs_hz[-1] == SR / 2 and snap.spec_hop_s == hop / SR
    assert snap.new_spec_columns(snap.spec_end_col - 3).shape == (3, n_freq)
    assert snap.new_spec_columns(0).shape == snap.spec_columns.shape
    st = snap.stats
    n_windows = int(round((6.0 - 0.5) / cfg.window.hop_s)) + 1     # ends at 0.5 s, then every hop
    assert st.windows == len(vs) == n_windows and 0 < st.speech_windows < n_windows
    assert st.blocks == 96 and st.audio_s == pytest.approx(6.0)
    assert 0 < st.latency_p50_ms <= st.latency_p95_ms and 0 < st.rtf < 1
    assert -40 < st.level_dbfs < -10 and 0 < st.speech_fraction <= 1
    assert (st.dropped_blocks, st.overflows, st.ring_overruns) == (0, 0, 0)


def test_spectrogram_columns_do_not_depend_on_block_size():
    wave = synth_speaker_wave(BOB, 1.0, seed=4)

    def cols(block):
        spec = SpectrogramColumns()
        return np.concatenate([spec.push(wave[i:i + block]) for i in range(0, wave.size, block)])

    ref = cols(1024)
    assert ref.shape == (wave.size // 256, 257) and ref.dtype == np.float32 and ref.flags.c_contiguous
    for block in (1, 160, 777, 16_000):
        np.testing.assert_array_equal(cols(block), ref)
    assert ref.max() < 0 and ref.min() >= -140


def test_stalled_consumer_shows_dropped_blocks():
    src = PushSource(queue_blocks=8)
    pipe = Pipeline(source=src, scorer=scorer())
    wave = synth_speaker_wave(ALICE, 2.0, seed=1)
    for i in range(0, 20 * 1024, 1024):
        src.push(wave[i:i + 1024])
    pipe.step()
    st = pipe.latest().stats
    assert st.dropped_blocks == 12 and st.blocks == 8


def test_hot_swapping_the_scorer():
    src = PushSource(queue_blocks=1000)
    pipe = Pipeline(source=src, scorer=F0Scorer({"alice": ALICE}))
    wave = synth_speaker_wave(BOB, 8.0, seed=2)
    for i in range(0, 4 * SR, 1024):
        src.push(wave[i:i + 1024])
    before = pipe.step()
    assert "bob" not in {v.speaker for v in before} and before[-1].state == "unknown"
    pipe.set_scorer(F0Scorer({"alice": ALICE, "bob": BOB}))   # someone enrolled bob
    for i in range(4 * SR, wave.size, 1024):
        src.push(wave[i:i + 1024])
    after = pipe.step()
    assert after[-1].speaker == "bob"
    assert after[0].t_s == pytest.approx(before[-1].t_s + PipelineConfig().window.hop_s)


def test_swapping_the_source_keeps_the_stream_clock():
    first = SyntheticSource(synth_speaker_wave(ALICE, 3.0, seed=1))
    pipe = Pipeline(source=first, scorer=scorer())
    a = pipe.step()
    second = SyntheticSource(synth_speaker_wave(BOB, 3.0, seed=2))
    pipe.set_source(second)
    assert not first.started and pipe.source is second
    b = pipe.step()
    assert b[0].t_s == pytest.approx(a[-1].t_s + PipelineConfig().window.hop_s) and b[-1].t_s == pytest.approx(6.0)
    assert pipe.latest().stats.blocks == 2 * int(np.ceil(3 * SR / 1024))  # counters survive the swap
    assert b[-1].speaker == "bob"


def test_step_needs_a_source():
    with pytest.raises(ConfigError, match="no audio source"):
        Pipeline().step()


# ---------------------------------------------------------------------------------------------
# the worker thread
# ---------------------------------------------------------------------------------------------
def _workers():
    return [t for t in threading.enumerate() if t.name == WORKER_THREAD_NAME]


def test_worker_starts_and_stops_within_a_second_without_leaks():
    got_window = threading.Event()
    src = ArraySource(conversation(), block_size=512, realtime=True, loop=True)
    pipe = Pipeline(source=src, scorer=scorer(), on_verdict=lambda v: got_window.set())
    pipe.start()
    try:
        (worker,) = _workers()
        assert not worker.daemon and pipe.running
        assert got_window.wait(5.0)
        assert pipe.latest().running
        with pytest.raises(RuntimeError, match="step"):
            pipe.step()
    finally:
        t0 = time.perf_counter()
        pipe.stop()
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert _workers() == [] and not pipe.running and not src.started
    assert not pipe.latest().running
    pipe.stop()  # idempotent


def test_worker_runs_a_file_to_its_end_like_step_does():
    wave = conversation()
    verdicts = []
    with Pipeline(source=SyntheticSource(wave), scorer=scorer(), on_verdict=verdicts.append) as pipe:
        assert pipe.wait(20.0)
        snap = pipe.latest()
    assert snap.finished and not snap.running and snap.error is None
    assert verdicts == run_offline(wave, scorer())
    assert snap.verdict == verdicts[-1]
    assert _workers() == []


class VanishingSource(Source):
    """Delivers a few blocks, then the device is gone."""

    name = "flaky mic"

    def __init__(self, blocks=5):
        super().__init__()
        self.left = blocks

    def _read(self, timeout):
        if self.left == 0:
            raise DeviceError("flaky mic stopped delivering audio (unplugged?)")
        self.left -= 1
        return np.zeros(1024, np.float32)


def test_a_device_vanishing_stops_the_worker_cleanly_with_a_message():
    pipe = Pipeline(source=VanishingSource(), scorer=scorer())
    pipe.start()
    assert pipe.wait(5.0)
    snap = pipe.latest()
    assert isinstance(pipe.error, DeviceError)
    assert "unplugged" in snap.error and not snap.running and snap.stats.blocks == 5
    pipe.stop()
    assert _workers() == []


def test_switching_device_while_running():
    got = threading.Event()
    pipe = Pipeline(source=PushSource(), scorer=scorer(), on_verdict=lambda v: got.set())
    pipe.start()
    try:
        new = PushSource()
        pipe.set_source(new)
        assert new.started
        wave = synth_speaker_wave(ALICE, 1.0, seed=1)
        new.push(wave)
        assert got.wait(5.0)
        assert pipe.source is new
    finally:
        pipe.stop()
    assert not new.started and _workers() == []


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
def test_config_validation_names_the_value_and_the_range():
    with pytest.raises(ConfigError, match=r"window.hop_s = 3.0 is out of range; allowed: 0.1 to 2.0"):
        WindowConfig(hop_s=3.0)
    with pytest.raises(ConfigError, match="window.hop_s = 0.05"):
        WindowConfig(hop_s=0.05)
    with pytest.raises(ConfigError, match="decision.patience must be a whole number"):
        DecisionConfig(patience=1.5)
    with pytest.raises(ConfigError, match="decision.smoothing = 'median' is not allowed"):
        DecisionConfig(smoothing="median")
    with pytest.raises(ConfigError, match="audio.sr = 44100 is not supported"):
        AudioConfig(sr=44100)
    with pytest.raises(ConfigError, match="must be a number"):
        WindowConfig(hop_s="fast")


def test_config_from_toml_with_overrides(tmp_path):
    path = tmp_path / "voicelive.toml"
    path.write_text('[window]\nhop_s = 0.25\n[decision]\npatience = 3\n[audio]\ndevice = "USB"\n'
                    '[kiosk]\ncooldown_s = 5\n')
    cfg = from_toml(path, {"decision.patience": 4, "audio.block_size": None})
    assert cfg.window.hop_s == 0.25 and cfg.decision.patience == 4 and cfg.audio.device == "USB"
    assert cfg.audio.block_size == 1024
    assert from_toml(None) == PipelineConfig()
    assert with_overrides(cfg, {"window.hop_s": 1.0}).window.hop_s == 1.0
    with pytest.raises(ConfigError, match="unknown option window.hop"):
        with_overrides(cfg, {"window.hop": 1.0})
    with pytest.raises(ConfigError, match="unknown config section"):
        with_overrides(cfg, {"vadd.snr_db": 1.0})
    bad = tmp_path / "bad.toml"
    bad.write_text("[window\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        from_toml(bad)
    with pytest.raises(ConfigError, match="not found"):
        from_toml(tmp_path / "missing.toml")


# ---------------------------------------------------------------------------------------------
# voicelive stream
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fake_model(monkeypatch):
    import voicelive.commands.stream as stream_cmd

    monkeypatch.setattr(stream_cmd, "load_scorer", lambda args: scorer())


def test_stream_command_prints_json_verdict_changes(tmp_path, capsys, fake_model):
    from voicelive.cli import main

    path = tmp_path / "talk.wav"
    sf.write(path, conversation(), SR)
    assert main(["stream", "--source", str(path), "--json"]) == 0
    cap = capsys.readouterr()
    lines = [json.loads(x) for x in cap.out.splitlines()]
    assert all(set(x) == {"t_s", "state", "speaker", "score"} for x in lines)
    assert [x["state"] for x in lines][0] == "silence"
    assert {x["speaker"] for x in lines} == {None, "alice", "bob"}
    assert all(a["t_s"] < b["t_s"] for a, b in zip(lines, lines[1:]))
    assert all((x["speaker"] is None) == (x["state"] != "speaker") for x in lines)
    assert "summary" in cap.err and "alice" in cap.err


def test_stream_command_text_output_and_duration(tmp_path, capsys, fake_model):
    from voicelive.cli import main

    path = tmp_path / "talk.wav"
    sf.write(path, conversation(), SR)
    assert main(["stream", "--source", str(path), "--duration-s", "5", "--hop-s", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "alice (" in out and "bob" not in out.split("summary")[0]
    assert "summary" in out and "worker per window" in out


def test_stream_command_errors_are_one_line(tmp_path, capsys):
    from voicelive.cli import main

    assert main(["stream", "--source", str(tmp_path / "none.wav")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["stream", "--source", "x.wav", "--hop-s", "9"]) == 2
    assert "window.hop_s = 9.0 is out of range" in capsys.readouterr().err


def test_stop_from_the_verdict_callback_does_not_deadlock():
    holder = {}

    def on_verdict(v):
        if v.t_s >= 1.0:
            holder["pipe"].stop()

    src = ArraySource(conversation(), block_size=512, realtime=True)
    pipe = holder["pipe"] = Pipeline(source=src, scorer=scorer(), on_verdict=on_verdict)
    pipe.start()
    assert pipe.wait(5.0)
    assert not src.started and _workers() == [] and pipe.error is None
