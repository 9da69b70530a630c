"""EnrollmentSession: clips cut at pauses from synthetic speech, per-clip verdicts, progress and
prompts, chunk-size independence, and what finish()/cancel() do to the store."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soxr

from synth import estimate_f0, synth_noise, synth_silence, synth_speaker_wave
from voicelive.audio.sources import ArraySource
from voicelive.enrollment import model_update
from voicelive.enrollment import session as S
from voicelive.enrollment.model_update import SyncResult
from voicelive.enrollment.session import ClipFeedback, EnrollmentResult, EnrollmentSession, load_prompts
from voicelive.errors import AudioError, ConfigError, VoiceliveError
from voicelive.store import Store

PROMPTS = ["first sentence", "second sentence", "third sentence"]


def f0_embed(wave: np.ndarray) -> np.ndarray:
    """A cheap stand-in for a speaker embedding: a bump on a log-f0 axis. Synthetic voices whose
    f0 differ by 30 % or more score far below the 0.6 similarity limit; one voice scores ~1."""
    f0 = estimate_f0(wave) or 100.0
    grid = np.log(np.geomspace(60.0, 420.0, 60))
    v = np.exp(-0.5 * ((grid - np.log(f0)) / 0.15) ** 2)
    return v / np.linalg.norm(v)


def utt(speaker: int, seed: int, seconds: float = 3.5, level_dbfs: float = -20.0) -> np.ndarray:
    return synth_speaker_wave(speaker, seconds, seed=seed, pauses=False, level_dbfs=level_dbfs)


def recording(*parts: np.ndarray, gap_s: float = 0.8, noise_dbfs: float = -65.0, seed: int = 0) -> np.ndarray:
    """Utterances separated by pauses, on a quiet noise bed (like a microphone)."""
    seq = [synth_silence(0.5)]
    for p in parts:
        seq += [p, synth_silence(gap_s)]
    seq.append(synth_silence(1.0))
    w = np.concatenate(seq)
    return (w + synth_noise(w.size / 16000, seed=seed, level_dbfs=noise_dbfs)).astype(np.float32)


def run(session: EnrollmentSession, wave: np.ndarray, block: int = 1024) -> list[ClipFeedback]:
    out = []
    for i in range(0, wave.size, block):
        out += session.feed(wave[i:i + block])
    return out + session.flush()


@pytest.fixture()
def store(tmp_path):
    s = Store.open(tmp_path / "data")
    yield s
    s.close()


def new(store, name="Alice", **kw) -> EnrollmentSession:
    kw.setdefault("embed", f0_embed)
    kw.setdefault("prompts", PROMPTS)
    return EnrollmentSession(name, store=store, **kw)


# -- cutting, progress, prompts ------------------------------------------------------------------

def test_clips_are_cut_at_pauses_progress_grows_and_prompts_advance(store):
    s = new(store, target_speech_s=12.0)
    assert s.current_prompt == PROMPTS[0] and s.progress == 0.0 and not s.done
    prompts_seen = []
    fbs = []
    src = ArraySource(recording(*[utt(0, k) for k in range(5)]), block_size=512)
    while (block := src.read()) is not None:
        for fb in s.feed(block):
            fbs.append(fb)
            prompts_seen.append(s.current_prompt)
    fbs += s.flush()
    assert [fb.verdict for fb in fbs] == ["ok"] * 5, [fb.message for fb in fbs]
    assert [fb.clip_index for fb in fbs] == list(range(5))
    assert all(S.MIN_CLIP_S <= fb.duration_s <= S.MAX_CLIP_S for fb in fbs)
    assert all(2.0 < fb.speech_s < 3.6 for fb in fbs)
    progress = [fb.progress for fb in fbs]
    assert progress == sorted(progress) and progress[0] > 0.15
    assert s.accepted_speech_s == pytest.approx(sum(fb.speech_s for fb in fbs))
    assert s.progress == pytest.approx(min(1.0, s.accepted_speech_s / 12.0)) and s.done
    assert prompts_seen == [PROMPTS[1], PROMPTS[2], PROMPTS[0], PROMPTS[1], PROMPTS[2]]
    assert s.feedback == fbs and s.clips_accepted == 5


@pytest.mark.parametrize("block", [160, 4096, 7919])
def test_chunk_size_does_not_change_the_clips(store, block):
    wave = recording(utt(0, 1), utt(0, 2), synth_speaker_wave(0, 12.0, seed=3), utt(1, 4))
    key = [(f.verdict, f.duration_s, f.speech_s, f.progress) for f in run(new(store), wave, 1024)]
    assert len(key) >= 5
    assert [(f.verdict, f.duration_s, f.speech_s, f.progress) for f in run(new(store), wave, block)] == key


def test_level_meter_and_speaking_flag(store):
    s = new(store)
    s.feed(synth_silence(0.5))
    assert s.level_dbfs <= -100 and not s.speaking
    s.feed(utt(0, 1, seconds=1.0))
    assert -30 < s.level_dbfs < -10 and s.speaking
    s.feed(synth_silence(0.6))
    assert not s.speaking


def test_long_monologue_is_cut_into_clips_of_at_most_max_length(store):
    fbs = run(new(store), recording(synth_speaker_wave(0, 22.0, seed=9)))
    assert len(fbs) >= 3
    assert all(fb.duration_s <= S.MAX_CLIP_S + 2 * S.PAD_S for fb in fbs)
    assert sum(fb.ok for fb in fbs) >= 3


def test_flush_cuts_the_pending_sentence(store):
    s = new(store)
    assert s.feed(np.concatenate([synth_silence(0.3), utt(0, 1)])) == []
    fbs = s.flush()
    assert [fb.verdict for fb in fbs] == ["ok"]
    assert s.flush() == []


def test_clicks_and_silence_give_no_feedback(store):
    click = synth_noise(0.1, seed=3, level_dbfs=-20.0)
    assert run(new(store), recording(click, synth_silence(2.0))) == []


def test_other_sample_rate_is_converted(store):
    wave = recording(utt(0, 1), utt(0, 2))
    at48 = soxr.resample(wave, 16000, 48000).astype(np.float32)
    a = run(new(store), wave)
    b = run(new(store, sr=48000), at48, block=3000)
    assert [f.verdict for f in b] == ["ok", "ok"]
    assert [f.duration_s for f in b] == pytest.approx([f.duration_s for f in a], abs=0.02)


# -- refused clips ------------------------------------------------------------------------------

def test_second_voice_is_refused_and_the_prompt_repeats(store):
    s = new(store)
    fbs = []
    prompts = []
    for part in (utt(0, 1), utt(1, 2), utt(0, 3)):
        fbs += s.feed(recording(part))
        prompts.append(s.current_prompt)
    fbs += s.flush()
    assert [fb.verdict for fb in fbs] == ["ok", "inconsistent_speaker", "ok"]
    assert "does not match" in fbs[1].message
    assert fbs[1].quality.similarity < 0.6 < fbs[2].quality.similarity
    assert prompts == [PROMPTS[1], PROMPTS[1], PROMPTS[2]]   # refused: same sentence again
    assert fbs[1].progress == fbs[0].progress


def test_clipping_is_refused(store):
    loud = recording(utt(0, 1), utt(0, 2, level_dbfs=-3.0))
    mid_gap = int(16000 * (0.5 + 3.5 + 0.4))
    loud[mid_gap:] = np.clip(loud[mid_gap:] * 4.0, -0.5, 0.5)  # a converter at its rails
    fbs = run(new(store), loud)
    assert [fb.verdict for fb in fbs] == ["ok", "clipping"]
    assert "clipped" in fbs[1].message


@pytest.mark.parametrize("parts, noise_dbfs, verdict, words", [
    ([utt(0, 1, level_dbfs=-50.0)], -65.0, "too_quiet", "Too quiet"),
    ([utt(0, 1, seconds=1.0)], -65.0, "too_short", "speech"),
    ([synth_noise(2.5, seed=3, level_dbfs=-30.0)], -65.0, "no_voice", "No voice"),
    ([utt(0, k, level_dbfs=-35.0) for k in range(2)], -40.0, "too_noisy", "background noise"),
], ids=["too-quiet", "too-short", "noise-burst", "noisy-room"])
def test_bad_clips_are_refused_with_the_right_verdict(store, parts, noise_dbfs, verdict, words):
    s = new(store)
    fbs = run(s, recording(*parts, noise_dbfs=noise_dbfs))
    assert fbs and all(fb.verdict == verdict for fb in fbs), [(f.verdict, f.message) for f in fbs]
    assert words in fbs[0].message
    assert s.progress == 0.0 and s.clips_accepted == 0 and s.current_prompt == PROMPTS[0]


def test_short_sentence_of_good_speech_is_too_short(store):
    fbs = run(new(store), recording(utt(0, 1, seconds=1.9)))
    assert [fb.verdict for fb in fbs] == ["too_short"]


def test_more_audio_for_an_enrolled_speaker_must_match_the_stored_voice(store):
    store.add_speaker_with_clips("Alice", [utt(0, k) for k in range(3)])
    fbs = run(new(store), recording(utt(1, 5), utt(0, 6)))
    assert [fb.verdict for fb in fbs] == ["inconsistent_speaker", "ok"]
    # re-enrollment (replace) starts afresh: the first clip sets the voice
    fbs = run(new(store, replace=True), recording(utt(1, 5), utt(0, 6)))
    assert [fb.verdict for fb in fbs] == ["ok", "inconsistent_speaker"]


# -- finish / cancel -------------------------------------------------------------------------------

def test_finish_stores_the_clips_and_updates_the_model(store, ge2e_weights):
    s = new(store, target_speech_s=6.0, backend="ge2e")
    run(s, recording(*[utt(0, k, seconds=3.0) for k in range(3)]))
    assert s.done
    assert store.list_speakers() == [] and store.active_model() is None  # nothing before finish()
    res = s.finish()
    assert isinstance(res, EnrollmentResult)
    assert res.speaker == "Alice" and res.clips_used == 3 and not res.added_to_existing
    assert res.speech_s == pytest.approx(s.accepted_speech_s)
    assert res.model_version == store.active_model().id and store.active_model().backend == "ge2e"
    assert res.speakers == ("Alice",) and res.similar_to == [] and 0 < res.update_s < 60
    info = store.get_speaker("Alice")
    assert info.n_clips == 3 and info.speech_s == pytest.approx(res.speech_s, abs=0.01)
    rec = model_update.active_recognizer(store)
    assert rec.speakers == ["Alice"] and rec.identify(utt(0, 9)).best == "Alice"
    with pytest.raises(VoiceliveError, match="already finished"):
        s.finish()
    assert s.feed(utt(0, 1)) == []


def _fake_sync(calls):
    def sync(store, *, backend=None, **kw):
        calls.append(backend)
        return SyncResult(None, 7, added=["x"])
    return sync


def test_add_more_and_replace_for_an_existing_speaker(store, monkeypatch):
    calls = []
    monkeypatch.setattr(model_update, "sync_model", _fake_sync(calls))
    store.add_speaker_with_clips("Alice", [utt(0, k) for k in range(2)])
    s = new(store, backend="gmm-ubm")
    run(s, recording(utt(0, 3)))
    res = s.finish()
    assert res.added_to_existing and res.clips_used == 1 and res.model_version == 7 and calls == ["gmm-ubm"]
    assert store.get_speaker("Alice").n_clips == 3
    s = new(store, replace=True)
    run(s, recording(utt(0, 4), utt(0, 5)))
    assert s.finish().clips_used == 2
    assert store.get_speaker("Alice").n_clips == 2
    assert store.clip_records("Alice")[0].quality["verdict"] == "ok"


def test_failed_model_update_keeps_the_clips_and_finish_can_retry(store, monkeypatch):
    def broken(store, **kw):
        raise VoiceliveError("model update failed")
    monkeypatch.setattr(model_update, "sync_model", broken)
    s = new(store)
    run(s, recording(utt(0, 1), utt(0, 2)))
    with pytest.raises(VoiceliveError, match="model update failed"):
        s.finish()
    assert store.get_speaker("Alice").n_clips == 2
    calls = []
    monkeypatch.setattr(model_update, "sync_model", _fake_sync(calls))
    assert s.finish().clips_used == 2 and calls == [None]
    assert store.get_speaker("Alice").n_clips == 2   # not stored twice


def test_cancel_leaves_the_store_untouched(store, monkeypatch):
    monkeypatch.setattr(model_update, "sync_model", _fake_sync([]))
    s = new(store)
    run(s, recording(utt(0, 1), utt(0, 2)))
    assert s.clips_accepted == 2
    s.cancel()
    assert s.cancelled and s.feed(utt(0, 3)) == [] and s.clips_accepted == 0
    with pytest.raises(VoiceliveError, match="cancelled"):
        s.finish()
    assert store.list_speakers() == [] and store.active_model() is None


def test_finish_without_a_good_clip_writes_nothing(store):
    s = new(store)
    run(s, recording(synth_noise(2.5, seed=1, level_dbfs=-30.0)))
    with pytest.raises(AudioError, match="no usable clip .* refused \\(no_voice\\)"):
        s.finish()
    with pytest.raises(AudioError, match="no speech was heard"):
        new(store).finish()
    assert store.list_speakers() == []


# -- API edges -----------------------------------------------------------------------------------

def test_bad_arguments_and_blocks(store):
    with pytest.raises(ConfigError):
        new(store, name="  ")
    with pytest.raises(ConfigError, match="target_speech_s"):
        new(store, target_speech_s=0)
    with pytest.raises(ConfigError, match="unknown backend"):
        new(store, backend="nope")
    with pytest.raises(ConfigError, match="sample rate"):
        new(store, sr=100)
    s = new(store)
    with pytest.raises(AudioError, match="mono"):
        s.feed(np.zeros((10, 2), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        s.feed(np.full(10, np.nan, np.float32))
    assert s.feed(np.zeros(0, np.float32)) == []


def test_prompts_file_and_defaults(tmp_path):
    bundled = load_prompts()
    assert len(bundled) >= 10 and len(set(bundled)) == len(bundled)
    f = tmp_path / "p.txt"
    f.write_text("# comment\n\nHello there.\nSecond one.\n", encoding="utf-8")
    assert load_prompts(f) == ["Hello there.", "Second one."]
    f.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no sentence"):
        load_prompts(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_prompts(tmp_path / "missing.txt")


def test_state_can_be_read_while_the_worker_feeds(store):
    s = new(store, target_speech_s=10.0)
    wave = recording(*[utt(0, k) for k in range(4)])
    seen, errors = [], []

    def worker():
        try:
            for i in range(0, wave.size, 512):
                s.feed(wave[i:i + 512])
            s.flush()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    while t.is_alive():
        seen.append((s.progress, len(s.feedback), s.current_prompt, s.level_dbfs, s.speaking))
    t.join()
    assert not errors
    progress = [p for p, *_ in seen]
    assert progress == sorted(progress)
    assert len(s.feedback) == 4 and s.done


def test_similar_speakers_scores_each_clip_once_against_everyone():
    class CountingRecognizer:
        speakers = [f"s{i}" for i in range(50)]
        threshold = 0.5
        calls = 0

        def score_window(self, wave):
            CountingRecognizer.calls += 1
            return {s: (0.9 if s == "s7" else 0.6 if s == "s3" else 0.1) for s in self.speakers}

    waves = [np.zeros(16000, dtype=np.float32)] * 4
    close = S.similar_speakers(CountingRecognizer(), "s0", waves)
    assert [n for n, _ in close] == ["s7", "s3"]
    # one scoring per clip: with 50 enrolled speakers this was 200 scorings (minutes at 1000 speakers)
    assert CountingRecognizer.calls == len(waves)
