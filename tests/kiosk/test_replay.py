"""The kiosk's replay guard on real speech (asterisk_prompts): a recording of a granted visit played
back through a small loudspeaker is refused and logged as a replay, also after a restart; the same
person saying something new still gets in; someone who keeps talking while the door relocks is
not their own replay; with the guard off the replay would have opened the door."""

from __future__ import annotations

import dataclasses

import numpy as np

from voicelive.audio.channels import apply_channel
from voicelive.dsp.fingerprint import fingerprint, similarity
from voicelive.kiosk.access import KioskPolicy
from voicelive.kiosk.replay import REPLAY_SIMILARITY, ReplayGuard, visit_fingerprint
from voicelive.kiosk.session import run_kiosk_offline
from voicelive.store import Store

SR = 16_000


def windows(wave, window_s=2.0, hop_s=0.5):
    n, h = int(window_s * SR), int(hop_s * SR)
    return [wave[i:i + n] for i in range(0, wave.size - n + 1, h)]


def played_back(wave, *, lead=3333, uid="replay"):
    """Recorded at the door, played through a small loudspeaker (150 Hz low-cut, dull top, noise at
    25 dB SNR), starting off the fingerprint's frame grid."""
    return np.concatenate([np.zeros(lead, np.float32), apply_channel(wave, "laptop", utterance_id=uid)])


def test_real_replays_line_up_and_other_takes_do_not(speech):
    ref = visit_fingerprint([fingerprint(w) for w in windows(speech["known"])])
    # the kiosk keeps a visit's first 8 windows that are 1 s apart: its first 9 s
    kept = [w for w in windows(played_back(speech["known"]))[:14] if len(fingerprint(w)) > 300]
    replay = [similarity(fingerprint(w), ref) for w in kept]
    same_person = [similarity(fingerprint(w), ref) for w in windows(speech["known_again"])]
    stranger = [similarity(fingerprint(w), ref) for w in windows(speech["stranger"])]
    assert len(kept) >= 10 and min(replay) > REPLAY_SIMILARITY
    assert max(same_person) < REPLAY_SIMILARITY / 2 and max(stranger) < REPLAY_SIMILARITY / 2


def test_replayed_visit_is_refused_logged_and_remembered_across_a_restart(recognizer, speech, enrolled_dir):
    from datetime import datetime, timedelta, timezone

    with Store.open(enrolled_dir) as store:
        old = store.log_access("granted", speaker="Carlo", fingerprint=fingerprint(speech["known2"]).to_bytes(),
                               time=datetime.now(timezone.utc) - timedelta(days=45))
        first = run_kiosk_offline(speech["known"], recognizer, store=store)
        assert [d.decision for d in first.decisions][:1] == ["granted"]
        assert old in [r.id for r in store.access_log()]        # the log row stays; its fingerprint is gone
        kept = store.access_fingerprints()
        granted = [r.id for r in store.access_log() if r.decision == "granted" and r.id != old]
        assert [(r[0], r[2]) for r in kept] == [(g, "Allison") for g in granted] and granted
    with Store.open(enrolled_dir) as store:      # a new kiosk session: the guard is filled from the store
        replay = run_kiosk_offline(played_back(speech["known"]), recognizer, store=store)
        genuine = run_kiosk_offline(speech["known_again"], recognizer, store=store)
        log = store.access_log()
    assert replay.decisions and all(d.decision == "denied" for d in replay.decisions)
    d = replay.decisions[0]
    assert d.replay and d.speaker == "Allison" and d.reason.startswith("replayed recording")
    assert replay.door.unlocks == 0
    assert genuine.decisions[0].decision == "granted" and not any(x.replay for x in genuine.decisions)
    replay_rows = [r for r in log if r.state and r.state.startswith("replayed recording")]
    assert [(r.decision, r.speaker) for r in replay_rows] == [("denied", "Allison")] * sum(x.replay for x in replay.decisions)


def test_without_the_guard_the_replay_opens_the_door(recognizer, speech):
    guard = ReplayGuard()
    run_kiosk_offline(speech["known"], recognizer, replay_guard=guard)
    assert len(guard) >= 1
    off = dataclasses.replace(KioskPolicy(), replay_guard=False)
    opened = run_kiosk_offline(played_back(speech["known"]), recognizer, policy=off, replay_guard=guard)
    assert opened.decisions and opened.decisions[0].decision == "granted"
    refused = run_kiosk_offline(played_back(speech["known"]), recognizer, replay_guard=guard)
    assert refused.decisions and refused.decisions[0].replay


def test_talking_on_through_the_relock_is_not_a_replay(recognizer, speech):
    policy = KioskPolicy(unlock_s=1.0, cooldown_s=0.5)
    s = run_kiosk_offline(speech["known_long"], recognizer, policy=policy)
    grants = [d for d in s.decisions if d.decision == "granted"]
    assert len(grants) >= 2 and not any(d.replay for d in s.decisions)
    assert len(s.replay_guard) == len(grants)
