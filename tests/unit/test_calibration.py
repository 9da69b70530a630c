"""Calibration: the threshold chosen for a target false-accept rate achieves about that rate on
held-out impostors drawn like the cohort, and the fused score orders targets above impostors."""

import numpy as np
import pytest

from voicelive.errors import ConfigError
from voicelive.recognition.calibration import Calibrator


def simulate(rng, n_spk, n_clips, *, offsets, scales, d_prime=3.0):
    """Raw scores of two 'backends' with per-model offsets/scales (what z-norm must undo)."""
    labels = np.repeat(np.arange(n_spk), n_clips)
    base = rng.normal(size=(labels.size, n_spk))
    base[np.arange(labels.size), labels] += d_prime
    raw = [base * scales[b][None, :] + offsets[b][None, :] for b in range(len(offsets))]
    return raw, labels


@pytest.mark.parametrize("far", [0.01, 0.05, 0.2])
def test_threshold_hits_target_far_on_held_out_impostors(far):
    rng = np.random.default_rng(0)
    n_spk = 6
    offsets = [rng.normal(0, 3, n_spk), rng.normal(0, 1, n_spk)]
    scales = [rng.uniform(0.5, 2.0, n_spk), rng.uniform(0.5, 2.0, n_spk)]
    raw, labels = simulate(rng, n_spk, 40, offsets=offsets, scales=scales)
    cal = Calibrator().fit(raw, labels, [f"s{i}" for i in range(n_spk)])
    t = cal.threshold_logit(far)
    # fresh impostors: nobody's target, scored against every model
    n_imp = 40_000
    base = rng.normal(size=(n_imp, n_spk))  # the two backends see the same voice, as in training
    imp = [base * scales[b] + offsets[b] for b in range(2)]
    top = cal.logits(np.stack(imp)).max(axis=1)
    measured = float(np.mean(top > t))
    assert far / 3 <= measured <= far * 2, (far, measured)
    # and genuine speakers mostly pass
    gen_raw, gen_lab = simulate(rng, n_spk, 50, offsets=offsets, scales=scales)
    lg = cal.logits(np.stack(gen_raw))
    hit = (lg.argmax(axis=1) == gen_lab) & (lg.max(axis=1) > t)
    assert hit.mean() > 0.5


def test_fusion_weights_favour_the_informative_backend():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 30)
    good = rng.normal(size=(labels.size, 4))
    good[np.arange(labels.size), labels] += 4
    noise = rng.normal(size=(labels.size, 4))
    cal = Calibrator().fit([good, noise], labels, list("abcd"))
    assert cal.weights[0] > 5 * abs(cal.weights[1])


def test_state_round_trip():
    rng = np.random.default_rng(2)
    raw, labels = simulate(rng, 3, 10, offsets=[np.zeros(3)], scales=[np.ones(3)])
    cal = Calibrator().fit(raw, labels, list("abc"))
    back = Calibrator.from_state(*cal.get_state())
    x = rng.normal(size=(1, 3))
    np.testing.assert_allclose(back.logits(x), cal.logits(x))
    assert back.threshold_logit(0.01) == pytest.approx(cal.threshold_logit(0.01))


def test_bad_far_is_refused():
    rng = np.random.default_rng(3)
    raw, labels = simulate(rng, 3, 10, offsets=[np.zeros(3)], scales=[np.ones(3)])
    cal = Calibrator().fit(raw, labels, list("abc"))
    for bad in (0.0, 1.0, -0.1, 2):
        with pytest.raises(ConfigError):
            cal.threshold_logit(bad)


def test_single_speaker_with_pseudo_impostors():
    rng = np.random.default_rng(4)
    tgt = rng.normal(3, 1, (10, 1))
    imp = rng.normal(0, 1, (40, 1))
    cal = Calibrator().fit([np.vstack([tgt, imp])], np.r_[np.zeros(10, int), -np.ones(40, int)], ["solo"])
    t = cal.threshold_logit(0.05)
    assert np.mean(cal.logits(rng.normal(0, 1, (1, 5000, 1)))[:, 0] > t) < 0.12


def test_large_rosters_subsample_nontargets_without_moving_the_threshold(monkeypatch):
    from voicelive.recognition import calibration as C

    rng = np.random.default_rng(5)
    raw, labels = simulate(rng, 20, 30, offsets=[np.zeros(20)], scales=[np.ones(20)])
    full = Calibrator().fit(raw, labels, [f"s{i}" for i in range(20)])
    monkeypatch.setattr(C, "MAX_FIT_NONTARGETS", 2000)
    monkeypatch.setattr(C, "MAX_STORED_NONTARGETS", 1000)
    small = Calibrator().fit(raw, labels, [f"s{i}" for i in range(20)])
    assert small.nontarget_logits.size == 1000
    # thresholds in z units (logit / weight) agree within a few hundredths of a standard deviation
    t_full = (full.threshold_logit(0.01) - full.bias) / full.weights[0]
    t_small = (small.threshold_logit(0.01) - small.bias) / small.weights[0]
    assert abs(t_full - t_small) < 0.1


def test_full_roster_rows_keep_small_sets_whole_and_sample_large_ones_per_speaker():
    from voicelive.recognition.recognizer import full_roster_rows

    spk = [f"s{i % 7}" for i in range(50)]
    assert full_roster_rows(spk, 100) == (list(range(50)), [])
    full, own = full_roster_rows(spk, 21)
    assert sorted(full + own) == list(range(50)) and not set(full) & set(own)
    assert all(sum(spk[i] == f"s{k}" for i in full) == 3 for k in range(7))   # 21 // 7 per speaker
    assert full_roster_rows(spk, 21) == (full, own)                           # deterministic


def test_sampled_calibration_matches_the_full_one(monkeypatch, ge2e_weights):
    """A large roster scores only a sample of trials against everyone: the threshold and the
    fusion stay where the full computation puts them."""
    import voicelive.recognition.recognizer as R

    rng = np.random.default_rng(3)

    def build():
        rec = R.Recognizer.create("ge2e")
        for j in range(60):
            name = f"spk{j:03d}"
            centre = rng.normal(size=256)
            def emb():
                v = np.abs(centre + 0.8 * rng.normal(size=256))
                return (v / np.linalg.norm(v)).astype(np.float32)
            rec._feats[0][name] = [emb() for _ in range(8)]
            rec._folds[name] = R.assign_folds(name, 8)
            rec._windows[0] += [(name, f, emb()) for f in rec._folds[name]]
        rec._speakers = sorted(rec._feats[0])
        rec.backends[0].enroll_features(rec._feats[0])
        return rec

    rec = build()
    rec._calibrate()
    full = rec.calibrator
    monkeypatch.setattr(R, "MAX_FULL_ROSTER_TRIALS", 300)            # 5 of 16 trials per speaker
    rec._calibrate()
    sampled = rec.calibrator
    assert sampled.n_nontarget < 0.4 * full.n_nontarget
    assert sampled.target_logits.size == full.target_logits.size       # every trial is still a target
    for far in (0.01, 0.05):
        # compared as a z-normalised score (the logistic weight of separable data is loosely pinned)
        z_full = (full.threshold_logit(far) - full.bias) / full.weights[0]
        z_sampled = (sampled.threshold_logit(far) - sampled.bias) / sampled.weights[0]
        assert z_sampled == pytest.approx(z_full, abs=0.1)
    np.testing.assert_allclose(sampled.mu, full.mu, rtol=0.05, atol=0.01)


def test_full_roster_budget_bounds_trial_model_pairs_for_large_rosters():
    from voicelive.recognition import recognizer as R

    assert R.full_roster_budget(5) == R.MAX_FULL_ROSTER_TRIALS
    assert R.full_roster_budget(1000) * 1000 <= R.MAX_FULL_ROSTER_PAIRS
    assert R.full_roster_budget(100_000) == R.MIN_FULL_ROSTER_TRIALS   # never fewer impostor trials than this


# -- step 5: a threshold for the amount of speech heard ----------------------------------------

def simulate_durations(rng, n_spk, n_trials, *, slope, d_prime=3.0):
    """One backend whose scores all drift with log speech seconds (as short speech pulls every
    score towards the middle): the pooled threshold then fits no single duration."""
    labels = np.arange(n_trials) % n_spk
    speech_s = np.exp(rng.uniform(np.log(0.3), np.log(5.0), n_trials))
    raw = rng.normal(size=(n_trials, n_spk)) + slope * np.log(speech_s)[:, None]
    raw[np.arange(n_trials), labels] += d_prime
    return [raw], labels, speech_s


def impostor_far(cal, rng, speech_s, far, *, slope, use_duration):
    n_spk = len(cal.speakers)
    raw = rng.normal(size=(40_000, n_spk)) + slope * np.log(speech_s)
    lg = cal.logits(raw[None])
    if use_duration:
        lg = lg - cal.duration_offset(speech_s)
    return float(np.mean(lg.max(axis=1) > cal.threshold_logit(far)))


def test_duration_offset_holds_the_false_accept_rate_at_every_length():
    rng = np.random.default_rng(1)
    far, slope = 0.01, 0.8
    raw, labels, speech_s = simulate_durations(rng, 6, 3000, slope=slope)
    cal = Calibrator().fit(raw, labels, [f"s{i}" for i in range(6)], speech_s=speech_s)
    assert cal.duration_aware
    # short speech gets a looser threshold, long speech a stricter one
    assert cal.duration_offset(0.4) < -0.5 < 0.5 < cal.duration_offset(4.0)
    with_d = {d: impostor_far(cal, rng, d, far, slope=slope, use_duration=True) for d in (0.4, 1.2, 4.0)}
    # never looser than the target at any length (the pooled tail, wider than any one length's,
    # keeps it on the safe side)...
    assert all(v <= far * 1.5 for v in with_d.values()), with_d
    # ...while without it long speech lets far more strangers in (so the check above can fail)
    assert impostor_far(cal, rng, 4.0, far, slope=slope, use_duration=False) > far * 3
    # and short speech is no longer judged as if it were long
    without_short = impostor_far(cal, rng, 0.4, far, slope=slope, use_duration=False)
    assert with_d[0.4] > 3 * without_short + 1e-4, (with_d, without_short)


def test_no_duration_fit_without_durations_or_spread():
    rng = np.random.default_rng(2)
    raw, labels, speech_s = simulate_durations(rng, 5, 1500, slope=0.8)
    spk = [f"s{i}" for i in range(5)]
    assert not Calibrator().fit(raw, labels, spk).duration_aware
    same = np.full(speech_s.size, 2.0) * rng.uniform(0.95, 1.05, speech_s.size)
    flat = Calibrator().fit(raw, labels, spk, speech_s=same)
    assert not flat.duration_aware and flat.duration_offset(0.3) == 0.0
    few = Calibrator().fit([raw[0][:30]], labels[:30], spk, speech_s=speech_s[:30])
    assert not few.duration_aware


def test_duration_offset_is_bounded_and_clamped_to_the_trials_range():
    from voicelive.recognition.calibration import MAX_DURATION_OFFSET

    rng = np.random.default_rng(3)
    raw, labels, speech_s = simulate_durations(rng, 6, 3000, slope=5.0)
    cal = Calibrator().fit(raw, labels, [f"s{i}" for i in range(6)], speech_s=speech_s)
    assert abs(cal.duration_offset(0.01)) <= MAX_DURATION_OFFSET
    assert cal.duration_offset(100.0) == cal.duration_offset(1000.0)


def test_duration_fit_survives_state_round_trip_and_old_states_have_none():
    rng = np.random.default_rng(4)
    raw, labels, speech_s = simulate_durations(rng, 6, 3000, slope=0.8)
    cal = Calibrator().fit(raw, labels, [f"s{i}" for i in range(6)], speech_s=speech_s)
    arrays, params = cal.get_state()
    back = Calibrator.from_state(arrays, params)
    assert back.duration_offset(0.5) == cal.duration_offset(0.5) != 0.0
    old = {k: v for k, v in arrays.items() if not k.startswith("cal/dur_")}
    assert not Calibrator.from_state(old, params).duration_aware
