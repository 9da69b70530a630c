"""Decision smoothing: patience, hysteresis, unknown, silence timeout, model swaps."""

import pytest

from voicelive.config import DecisionConfig
from voicelive.decision.smoothing import DecisionSmoother, Verdict

THR = 0.5
HOP = 0.5


def feed(sm, seq, *, t0=0.0, threshold=THR):
    """seq: list of score dicts (speech) or None (a non-speech window). Returns the verdicts."""
    out = []
    for i, scores in enumerate(seq):
        t = t0 + HOP * (i + 1)
        if scores is None:
            out.append(sm.update(t_s=t, is_speech=False))
        else:
            out.append(sm.update(t_s=t, is_speech=True, scores=scores, threshold=threshold))
    return out


def states(vs):
    return [v.speaker if v.state == "speaker" else v.state for v in vs]


def test_a_name_needs_patience_agreeing_windows():
    sm = DecisionSmoother(DecisionConfig(patience=3, ema_alpha=1.0))
    vs = feed(sm, [{"a": 0.9, "b": 0.1}] * 4)
    assert states(vs) == ["listening", "listening", "a", "a"]
    assert vs[2].score == pytest.approx(0.9)
    assert vs[2].candidates[0] == ("a", pytest.approx(0.9)) and vs[2].t_s == 1.5


def test_default_shows_a_clear_speaker_after_three_agreeing_windows():
    sm = DecisionSmoother()
    vs = feed(sm, [None, None, {"a": 0.8, "b": 0.1}, {"a": 0.9, "b": 0.1}, {"a": 0.9, "b": 0.1}])
    assert states(vs) == ["silence", "silence", "listening", "listening", "a"]


def feed_decisive(sm, seq, decisive):
    return [sm.update(t_s=HOP * (i + 1), is_speech=True, scores=sc, threshold=THR, decisive_threshold=decisive)
            for i, sc in enumerate(seq)]


def test_one_window_past_the_decisive_threshold_names_at_once():
    sure = [{"a": 0.97, "b": 0.1}] * 3
    assert states(feed_decisive(DecisionSmoother(), sure, 0.95)) == ["a", "a", "a"]
    # a score that passes the threshold but not the decisive one waits for patience windows
    assert states(feed_decisive(DecisionSmoother(), [{"a": 0.9, "b": 0.1}] * 3, 0.95)) == \
        ["listening", "listening", "a"]
    # switched off, or no decisive threshold from the scorer: patience as before
    off = DecisionSmoother(DecisionConfig(decisive_window=False))
    assert states(feed_decisive(off, sure, 0.95)) == ["listening", "listening", "a"]
    assert states(feed(DecisionSmoother(), sure)) == ["listening", "listening", "a"]


def test_a_decisive_threshold_below_the_threshold_never_names_below_it():
    sm = DecisionSmoother(DecisionConfig(unknown_patience=1))
    assert states(feed_decisive(sm, [{"a": 0.4}], 0.3)) == ["unknown"]


def test_a_decisive_window_can_change_the_name_shown_at_once():
    sm = DecisionSmoother(DecisionConfig(ema_alpha=1.0))
    vs = feed_decisive(sm, [{"a": 0.97, "b": 0.1}, {"a": 0.1, "b": 0.98}], 0.95)
    assert states(vs) == ["a", "b"]


def test_at_speech_onset_the_newest_window_replaces_the_average():
    """The first windows of speech hold little of it and score low; while the newest window still
    holds all of the speech, it alone counts (``covers_segment``)."""
    seq = [{"a": 0.0}, {"a": 0.0}, {"a": 0.8}, {"a": 0.8}, {"a": 0.8}]

    def run(cfg, covers):
        sm = DecisionSmoother(cfg)
        return [sm.update(t_s=HOP * (i + 1), is_speech=True, scores=sc, threshold=THR, speech_s=1.0,
                          covers_segment=covers) for i, sc in enumerate(seq)]

    fresh = run(DecisionConfig(patience=1), True)
    assert [v.candidates[0][1] for v in fresh] == pytest.approx([0.0, 0.0, 0.8, 0.8, 0.8])
    assert states(fresh)[2] == "a"
    dragged = run(DecisionConfig(patience=1, onset_supersede=False), True)
    assert dragged[2].candidates[0][1] < THR and states(dragged)[2] != "a"
    # once the window no longer reaches back to the start of the speech, windows are averaged
    averaged = run(DecisionConfig(patience=1), False)
    assert averaged[2].candidates[0][1] == pytest.approx(dragged[2].candidates[0][1])


def test_hysteresis_keeps_the_name_when_scores_wobble_around_the_threshold():
    wobble = [{"a": 0.9}] * 2 + [{"a": 0.45}, {"a": 0.55}] * 6
    steady = DecisionSmoother(DecisionConfig(ema_alpha=1.0, patience=1, unknown_patience=1, hysteresis=0.1))
    assert set(states(feed(steady, wobble))) == {"a"}
    flicker = DecisionSmoother(DecisionConfig(ema_alpha=1.0, patience=1, unknown_patience=1, hysteresis=0.0))
    assert states(feed(flicker, wobble)).count("unknown") == 6


def test_switching_speakers_needs_a_margin_and_patience():
    sm = DecisionSmoother(DecisionConfig(ema_alpha=1.0, patience=2, hysteresis=0.1))
    vs = feed(sm, [{"a": 0.9, "b": 0.2}] * 2 + [{"a": 0.7, "b": 0.75}] * 2 + [{"a": 0.3, "b": 0.9}] * 3)
    # b leads by less than the margin: a stays; then a falls below its lower threshold: not shown
    # while b gathers patience
    assert states(vs) == ["listening", "a", "a", "a", "listening", "b", "b"]


def test_a_name_below_its_lower_threshold_is_no_longer_shown():
    sm = DecisionSmoother(DecisionConfig(ema_alpha=1.0, patience=2, unknown_patience=2, hysteresis=0.1))
    vs = feed(sm, [{"a": 0.9}] * 2 + [{"a": 0.2}] * 3)
    assert states(vs) == ["listening", "a", "listening", "unknown", "unknown"]
    assert vs[-1].score == pytest.approx(0.2) and vs[-1].speaker is None


def test_an_unknown_voice_is_not_named():
    sm = DecisionSmoother()
    vs = feed(sm, [{"a": 0.3, "b": 0.45}, {"a": 0.2, "b": 0.48}, {"a": 0.35, "b": 0.4}] * 4)
    assert "a" not in states(vs) and "b" not in states(vs)
    assert states(vs)[-1] == "unknown"


def test_one_lucky_window_does_not_name_an_impostor():
    sm = DecisionSmoother()
    vs = feed(sm, [{"a": 0.1}, {"a": 0.1}, {"a": 0.95}, {"a": 0.1}, {"a": 0.1}])
    assert "a" not in states(vs)


def test_pauses_hold_the_name_then_time_out_to_silence_and_start_over():
    sm = DecisionSmoother(DecisionConfig(silence_timeout_s=1.5, patience=2))
    vs = feed(sm, [{"a": 0.9}] * 3 + [None] * 5 + [{"a": 0.9}])
    # last speech at 1.5 s: held at 2.0, 2.5 (< 1.5 s later), silence from 3.0 on
    assert states(vs) == ["listening", "a", "a", "a", "a", "silence", "silence", "silence", "listening"]
    assert vs[3].t_s == 2.0 and vs[3].score == pytest.approx(vs[2].score)


def test_no_scorer_gives_listening_and_nobody_enrolled_gives_unknown():
    sm = DecisionSmoother()
    assert sm.update(t_s=0.5, is_speech=True, scores=None).state == "listening"
    v = sm.update(t_s=1.0, is_speech=True, scores={})
    assert v.state == "unknown" and v.score is None and v.candidates == ()
    assert sm.update(t_s=1.5, is_speech=False).state == "unknown"  # held in a short pause


def test_a_roster_change_starts_the_smoothing_over():
    sm = DecisionSmoother(DecisionConfig(ema_alpha=0.5))
    feed(sm, [{"a": 0.9}] * 3)
    v = sm.update(t_s=9.0, is_speech=True, scores={"a": 0.9, "c": 0.1}, threshold=THR)
    assert dict(v.candidates)["c"] == pytest.approx(0.1)  # not blended with an old average


def test_mean_smoothing():
    sm = DecisionSmoother(DecisionConfig(smoothing="mean", mean_windows=2, patience=1))
    vs = feed(sm, [{"a": 1.0}, {"a": 0.0}, {"a": 0.0}])
    assert [v.candidates[0][1] for v in vs] == pytest.approx([1.0, 0.5, 0.0])


def test_scores_are_clipped_and_a_threshold_is_required():
    sm = DecisionSmoother(DecisionConfig(patience=1))
    v = sm.update(t_s=0.5, is_speech=True, scores={"a": 7.0, "b": -1.0}, threshold=0.5)
    assert v.candidates == (("a", 1.0), ("b", 0.0))
    with pytest.raises(ValueError, match="threshold"):
        sm.update(t_s=1.0, is_speech=True, scores={"a": 0.5})


def test_verdict_invariants_and_json():
    with pytest.raises(ValueError):
        Verdict("speaker")
    with pytest.raises(ValueError):
        Verdict("bogus")
    v = Verdict("speaker", "ann", 0.876543, 2.5)
    assert v.to_json() == {"t_s": 2.5, "state": "speaker", "speaker": "ann", "score": 0.8765}
    assert v.label() == "ann (0.88)"
    assert v.same_as(Verdict("speaker", "ann", 0.5, 3.0)) and not v.same_as(Verdict("unknown", t_s=2.5))


def test_after_a_pause_a_new_voice_does_not_inherit_the_name_but_the_same_one_keeps_it():
    cfg = DecisionConfig(silence_timeout_s=1.5, unknown_patience=3, patience=2)
    other = feed(DecisionSmoother(cfg), [{"a": 0.9}] * 3 + [None] + [{"a": 0.1}] * 4)
    assert states(other) == ["listening", "a", "a", "a", "listening", "listening", "unknown", "unknown"]
    same = feed(DecisionSmoother(cfg), [{"a": 0.9}] * 3 + [None] + [{"a": 0.8}] * 2)
    assert states(same) == ["listening", "a", "a", "a", "a", "a"]


def test_windows_with_little_speech_weigh_less():
    sm = DecisionSmoother(DecisionConfig(ema_alpha=0.5, full_weight_speech_s=1.0, patience=1))
    sm.update(t_s=0.5, is_speech=True, scores={"a": 0.0}, threshold=THR, speech_s=0.25)
    v = sm.update(t_s=1.0, is_speech=True, scores={"a": 1.0}, threshold=THR, speech_s=1.4)
    # (0.5 * 0.25 * 0.0 + 1.0 * 1.0) / (0.5 * 0.25 + 1.0)
    assert v.candidates[0][1] == pytest.approx(1.0 / 1.125)
    assert v.state == "speaker"
