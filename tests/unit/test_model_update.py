"""Keeping the active model in line with the store's roster (voicelive.enrollment.model_update)."""

from __future__ import annotations

from synth import synth_speaker_wave
from voicelive.enrollment.model_update import sync_model
from voicelive.recognition.recognizer import MIN_REAL_COHORT
from voicelive.store import Store


def test_a_roster_shrinking_below_eight_gets_shifted_copies_of_everyone(tmp_path, ge2e_weights):
    with Store.open(tmp_path) as store:
        for i in range(MIN_REAL_COHORT):
            store.add_speaker_with_clips(f"s{i}", [synth_speaker_wave(i, 1.5, seed=j) for j in range(3)])
        first = sync_model(store, backend="ge2e")
        assert first.rebuilt and not first.recognizer.uses_pseudo_impostors
        store.remove_speaker("s0")
        res = sync_model(store)
        rec = res.recognizer
        assert res.removed == ["s0"] and rec.small_roster
        # every remaining speaker stands in, shifted, for a stranger (not only people added later)
        assert rec.uses_pseudo_impostors
        assert {t[0] for t in rec._pseudo[0]} == {f"s{i}" for i in range(1, MIN_REAL_COHORT)}
        assert "shifted copies" in rec.card()["calibration"]["impostors"]
        # and the saved model says the same when it is loaded again
        again = sync_model(store)
        assert again.version_id == res.version_id and again.recognizer.uses_pseudo_impostors
