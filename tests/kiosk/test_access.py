"""The door state machine on hand-made window evidence (no audio): every rule of access.py."""

from __future__ import annotations

import pytest

from voicelive.errors import ConfigError
from voicelive.kiosk.access import (COOLDOWN, DENIED, GRANTED, LISTENING, LOCKED, AccessController, KioskPolicy,
                                    WindowEvidence)

THR = 0.6


def win(t, top="Alice", score=0.9, *, speech_s=1.5, others=0.1, speech=True):
    scores = {"Alice": others, "Bob": others}
    if top is not None:
        scores[top] = score
    return WindowEvidence(t, speech, speech_s if speech else 0.0, scores if speech else None,
                          THR if speech else None)


def feed(ctl, windows):
    out = []
    for w in windows:
        out += ctl.observe(w)
    return out


def test_grants_after_agreeing_windows_and_relocks_after_unlock_then_cooldown():
    ctl = AccessController(KioskPolicy(unlock_s=5.0, cooldown_s=3.0))
    assert ctl.state == LOCKED
    assert feed(ctl, [win(1.0), win(1.5)]) == []
    assert ctl.state == LISTENING
    assert 0 < ctl.view(1.5).progress < 1
    (d,) = feed(ctl, [win(2.0, score=0.8)])
    assert (d.decision, d.speaker, d.windows) == ("granted", "Alice", 3)
    assert d.score == pytest.approx(0.8) and d.threshold == pytest.approx(THR)
    assert d.speech_s == pytest.approx(1.5 + 0.5 + 0.5)      # each later window adds only its new 0.5 s
    assert ctl.state == GRANTED and ctl.view(4.0).remaining_s == pytest.approx(3.0)
    assert feed(ctl, [win(3.0), win(3.5)]) == []              # door open: nothing else is decided
    ctl.tick(6.99)
    assert ctl.state == GRANTED
    ctl.tick(7.0)
    assert ctl.state == COOLDOWN and ctl.relocks == 1
    assert feed(ctl, [win(8.0)]) == [] and ctl.state == COOLDOWN   # speech during the cooldown is ignored
    ctl.tick(10.0)
    assert ctl.state == LOCKED


def test_needs_enough_speech_not_only_windows():
    ctl = AccessController(KioskPolicy(min_windows=3, min_speech_s=2.0))
    assert feed(ctl, [win(t, speech_s=0.6) for t in (1.0, 1.5, 2.0)]) == []   # 1.5 s of speech only
    (d,) = feed(ctl, [win(2.5, speech_s=0.6)])
    assert d.decision == "granted" and d.windows == 4


def test_short_speech_windows_neither_count_nor_reset():
    ctl = AccessController(KioskPolicy())
    seq = [win(1.0), win(1.5, "Bob", speech_s=0.2), win(2.0, None, score=0, speech_s=0.3), win(2.5)]
    assert feed(ctl, seq) == []
    (d,) = feed(ctl, [win(3.0)])
    assert (d.speaker, d.windows) == ("Alice", 3)


def test_disagreement_resets_the_streak_and_alternating_voices_never_grant():
    ctl = AccessController(KioskPolicy())
    seq = [win(1.0 + 0.5 * i, "Alice" if i % 2 == 0 else "Bob") for i in range(40)]
    assert feed(ctl, seq) == []
    assert ctl.state == LISTENING
    # two Alice, then Bob, then Alice again: the count starts over
    ctl = AccessController(KioskPolicy())
    assert feed(ctl, [win(1.0), win(1.5), win(2.0, "Bob"), win(2.5), win(3.0)]) == []
    assert [d.speaker for d in feed(ctl, [win(3.5)])] == ["Alice"]
    # a window where two enrolled voices both pass is ambiguous (mixed voices): it resets too
    ctl = AccessController(KioskPolicy())
    assert feed(ctl, [win(1.0), win(1.5), win(2.0, others=0.7), win(2.5), win(3.0)]) == []
    assert [d.speaker for d in feed(ctl, [win(3.5)])] == ["Alice"]


def test_unknown_resets_and_denies_after_enough_unknown_windows():
    ctl = AccessController(KioskPolicy(deny_after_unknown=4, cooldown_s=3.0))
    assert feed(ctl, [win(1.0), win(1.5), win(2.0, score=0.5)]) == []   # below threshold: streak gone
    assert feed(ctl, [win(2.5), win(3.0)]) == []
    assert ctl.state == LISTENING
    seq = [win(3.5 + 0.5 * i, score=0.3 + 0.01 * i) for i in range(4)]
    (d,) = feed(ctl, seq)
    assert (d.decision, d.speaker, d.windows) == ("denied", None, 4)
    assert d.score == pytest.approx(0.33) and d.threshold == pytest.approx(THR)
    assert ctl.state == DENIED
    assert ctl.view(6.0).remaining_s == pytest.approx(3.0 - (6.0 - 5.0))
    ctl.tick(8.0)
    assert ctl.state == LOCKED


def test_score_floor_and_threshold_both_apply():
    ctl = AccessController(KioskPolicy(score_floor=0.95))
    assert feed(ctl, [win(1.0 + 0.5 * i, score=0.9) for i in range(3)]) == []
    ctl = AccessController(KioskPolicy(score_floor=0.0))
    assert feed(ctl, [win(1.0 + 0.5 * i, score=0.59) for i in range(3)]) == []   # below the calibrated THR


def test_silence_returns_to_locked_and_unscored_speech_decides_nothing():
    ctl = AccessController(KioskPolicy(listen_timeout_s=2.0))
    feed(ctl, [win(1.0), win(1.5)])
    feed(ctl, [win(t, speech=False) for t in (2.0, 2.5, 3.0)])
    assert ctl.state == LISTENING
    ctl.tick(3.6)
    assert ctl.state == LOCKED
    unscored = WindowEvidence(5.0, True, 1.5, None, None)      # nobody enrolled / scoring failed
    assert [ctl.observe(WindowEvidence(5.0 + 0.5 * i, True, 1.5, None, None)) for i in range(6)] == [[]] * 6
    assert unscored.top() == (None, pytest.approx(float("nan"), nan_ok=True))


@pytest.mark.parametrize("kw", [{"target_far": 0.0}, {"target_far": 0.7}, {"min_windows": 0},
                                {"min_windows": 2.5}, {"unlock_s": 0.0}, {"score_floor": 1.5},
                                {"cooldown_s": float("nan")}])
def test_policy_rejects_bad_values(kw):
    with pytest.raises(ConfigError):
        KioskPolicy(**kw)
