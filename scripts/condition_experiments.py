"""Channel-robustness experiments on calibration and enrollment (issue #8; docs/BENCHMARKS.md,
"Channel robustness", steps 8 and 9).

For each PROTOCOL.md split the product recognizer is enrolled on clean audio as usual — or, with
``--enroll-aug N``, on every clip plus N random-channel copies of it (multi-condition enrollment;
each copy sits in its clip's cross-validation fold). Then the calibration trials (held-out
enrollment clips, live-sized windows, pseudo-impostors) are scored once more together with
random-channel copies of the windows (scripts/random_channels.py: random bands, microphones, rooms
and noise, NOT the benchmark's test channels), and several fusion heads are fitted on the same
z-normalised scores:

``base``       the product's calibrator, untouched (clean trials only, linear fusion);
``lin-clean``  linear fusion refitted on the clean trials of this script (a check of ``base``);
``aug``        linear fusion refitted on clean + augmented trials (step 4, for reference);
``qmf``        fusion weights that depend on the test audio's condition measures q (level range,
               low-band and high-band energy ratios): logit = sum_b (w_b + v_b . q) z_b + c . q + b;
``qmf-int``    the same without the c . q terms;
``gate``       the product's logit plus terms in one-sided degradation measures (how far q falls
               below the roster's clean enrollment), ``gate-pair`` below the claimed speaker's.

Heads with ``-cthr`` take their threshold from the clean trials only. Every head is scored on the
known/unknown tests through every simulated channel (the ``base`` rows equal
``voicelive bench --test-channel all``).

    python scripts/condition_experiments.py --corpus asterisk_prompts --members ge2e gmm-ubm --seeds 3 \
        [--enroll-aug 1] --out result.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from voicelive import SAMPLE_RATE  # noqa: E402
from voicelive.audio.channels import CHANNELS  # noqa: E402
from voicelive.dsp import features as F  # noqa: E402
from voicelive.evaluation import bench as B  # noqa: E402
from voicelive.evaluation import metrics as M  # noqa: E402
from voicelive.evaluation.corpus import protocol_split  # noqa: E402
from voicelive.recognition import recognizer as R  # noqa: E402
from corpora import open_corpus  # noqa: E402
from random_channels import augment_windows  # noqa: E402
from voicelive.recognition.calibration import Calibrator  # noqa: E402
from voicelive.recognition.registry import SINGLE_BACKENDS  # noqa: E402

_CFG = F.FastFeatureConfig()
_FREQS = np.arange(_CFG.n_fft // 2 + 1) * SAMPLE_RATE / _CFG.n_fft


def condition_measures(wave: np.ndarray) -> np.ndarray:
    """[level range dB (p95 - p10 of frame levels), low band <300 Hz vs 300-3400 Hz dB,
    high band >3400 Hz vs 300-3400 Hz dB], band ratios over the louder half of the frames."""
    P = F.power_spectrogram(np.asarray(wave, dtype=np.float32), _CFG).astype(np.float64)
    lev = 10 * np.log10(P.sum(axis=1) + 1e-12)
    rng_db = float(np.percentile(lev, 95) - np.percentile(lev, 10))
    loud = P[lev >= np.median(lev)].sum(axis=0) + 1e-12
    mid = loud[(_FREQS >= 300) & (_FREQS < 3400)].sum()
    low = loud[_FREQS < 300].sum()
    high = loud[_FREQS >= 3400].sum()
    return np.array([rng_db, 10 * np.log10(low / mid), 10 * np.log10(high / mid)])


class Conditions:
    """A 'backend' for the feature cache: its features are the condition measures."""

    feature_hash = "conditions-v1"

    @staticmethod
    def extract(wave):
        return condition_measures(wave)


class Head:
    """A fusion head over z-normalised member scores and condition measures.

    ``qmf``/``qmf-int``: logistic regression on [z, z*q, q] (or without the main q terms), q
    standardised over the clean enrollment trials. ``gate``/``gate-pair``: the product's clean
    fusion logit as a fixed offset plus terms in one-sided degradation measures
    d_j = max(0, (mean_j - q_j) / sd_j - 1) relative to the roster's (``gate``) or the claimed
    speaker's (``gate-pair``) clean enrollment, so clean audio keeps the product's scores."""

    def __init__(self, kind: str, cal: Calibrator, q_mu, q_sd, q_mu_spk) -> None:
        self.kind, self.cal, self.q_mu, self.q_sd, self.q_mu_spk = kind, cal, q_mu, q_sd, q_mu_spk
        self.coef, self.bias, self.threshold = None, 0.0, 0.0

    def _d(self, q, col):
        mu = self.q_mu_spk[col] if self.kind == "gate-pair" else self.q_mu
        return np.maximum(0.0, (mu - q) / self.q_sd - 1.0)

    def design(self, z, q, col):
        """z (n, B), q (n, J), col (n,) speaker index of each row -> design matrix."""
        if self.kind in ("aug", "lin-clean"):
            return z
        if self.kind.startswith("gate"):
            d = self._d(q, col)
            return np.concatenate([(z[:, :, None] * d[:, None, :]).reshape(len(z), -1), d], axis=1)
        qs = (q - self.q_mu) / self.q_sd
        inter = (z[:, :, None] * qs[:, None, :]).reshape(len(z), -1)
        return np.concatenate([z, inter] + ([qs] if self.kind == "qmf" else []), axis=1)

    def _offset(self, z):
        return z @ self.cal.weights + self.cal.bias if self.kind.startswith("gate") else 0.0

    def fit(self, z, q, col, y, thr_mask, target_far=0.01):
        X = self.design(z, q, col)
        off = self._offset(z)
        if self.kind.startswith("gate"):
            from scipy.optimize import minimize

            sw = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum())
            s = np.where(y, 1.0, -1.0)

            def loss(p):
                lg = X @ p + off
                m = -s * lg
                l = np.logaddexp(0, m)
                g = -(s * (1 / (1 + np.exp(-m)))) * sw
                return float(np.sum(sw * l) + 1e-3 * p @ p), X.T @ g + 2e-3 * p

            res = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B")
            self.coef, self.bias = res.x, 0.0
        else:
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(X, y)
            self.coef, self.bias = lr.coef_[0], float(lr.intercept_[0])
        lg = X @ self.coef + self.bias + off
        c = Calibrator(speakers=self.cal.speakers)
        nt = np.sort(lg[(~y) & thr_mask])
        c.nontarget_logits, c.n_nontarget = nt, nt.size
        c.target_logits = np.sort(lg[y & thr_mask])
        self.threshold = c.threshold_logit(target_far)
        return self

    def logits(self, z_bs: np.ndarray, q: np.ndarray) -> np.ndarray:
        """z (B, S), q (J,) -> (S,)."""
        zz = z_bs.T
        S = zz.shape[0]
        qq = np.repeat(q[None, :], S, axis=0)
        return self.design(zz, qq, np.arange(S)) @ self.coef + self.bias + self._offset(zz)


KINDS = ("aug", "qmf", "qmf-int", "gate", "gate-pair")


ENROLL_KINDS = ["band", "mic", "room", "noise"]


def enrollment_copies(name, clips, copies):
    """Multi-condition enrollment: ``copies`` random-channel copies of every clip (clip i, copy c)."""
    from random_channels import _seed, random_channel

    kinds = ENROLL_KINDS
    return [random_channel(w, kinds[(c + i) % len(kinds)],
                           np.random.default_rng(_seed("enroll-augment", name, i, c)))
            for c in range(copies) for i, w in enumerate(clips)]


def fit_split(members, split, k, cache, copies, enroll_aug=0):
    backends = [SINGLE_BACKENDS[m]() for m in members]
    enr = split.enrollment(k)
    feats = [{s: [cache.get(b, u) for u in utts] for s, utts in enr.items()} for b in backends]
    clips = {s: [cache.corpus.audio(u) for u in utts] for s, utts in enr.items()}
    rec = R.Recognizer(backends, name="+".join(members))
    if enroll_aug:
        # every copy of clip i is in clip i's fold, so cross-validation never meets its own audio
        base_folds = R.assign_folds
        R.assign_folds = lambda name, n: base_folds(name, n // (1 + enroll_aug)) * (1 + enroll_aug)
        extra = {s: enrollment_copies(s, clips[s], enroll_aug) for s in clips}
        for bi, b in enumerate(backends):
            for s in clips:
                feats[bi][s] = feats[bi][s] + [b.extract(w) for w in extra[s]]
        try:
            rec.enroll_features(feats, clips_by_speaker=clips)
        finally:
            R.assign_folds = base_folds
    else:
        rec.enroll_features(feats, clips_by_speaker=clips)
    cv_folds = dict(rec._folds)
    cal = rec.calibrator
    spk = rec.speakers
    # trials: (speaker, fold, wave, is_aug, is_pseudo)
    trials = []
    for s in spk:
        folds = rec._folds[s][:len(clips[s])]     # the clean clips' folds
        for w, f in zip(clips[s], folds):
            trials.append((s, f, w, False, False))
        wins = R.calibration_windows(clips[s], folds)
        trials += [(s, f, w, False, False) for f, w in wins]
        trials += [(s, f, w, True, False) for f, w in augment_windows(s, wins, copies=copies)]
        for ci, w in enumerate(clips[s][:R.MAX_PSEUDO_CLIPS]):
            trials += [(s, folds[ci], p, False, True) for p in R.pseudo_impostors([w])]
    raws = []
    for bi, b in enumerate(backends):
        tr = [(s, f, b.extract(w)) for s, f, w, _, _ in trials]
        sc, names = b.cross_val_scores(feats[bi], cv_folds, tr)
        assert names == spk
        raws.append(sc)
    z = cal._znorm(np.stack(raws))                       # (B, n, S)
    q = np.stack([condition_measures(t[2]) for t in trials])     # (n, J)
    lab = np.array([-1 if t[4] else spk.index(t[0]) for t in trials])
    is_aug = np.array([t[3] for t in trials])
    n, S = len(trials), len(spk)
    y = (lab[:, None] == np.arange(S)[None, :]).reshape(-1)
    Z = z.transpose(1, 2, 0).reshape(n * S, -1)
    Q = np.repeat(q, S, axis=0)
    A = np.repeat(is_aug, S)
    ok = np.all(np.isfinite(Z), axis=1)
    C = np.tile(np.arange(S), n)
    clean = ~is_aug & (lab >= 0)
    q_mu, q_sd = q[clean].mean(axis=0), q[clean].std(axis=0) + 1e-3
    q_mu_spk = np.stack([q[clean & (lab == j)].mean(axis=0) for j in range(S)])
    heads = {"base": None}
    heads["lin-clean"] = Head("lin-clean", cal, q_mu, q_sd, q_mu_spk).fit(Z[ok & ~A], Q[ok & ~A], C[ok & ~A], y[ok & ~A],
                                                                   np.ones((ok & ~A).sum(), bool))
    for kind in KINDS:
        heads[kind] = Head(kind, cal, q_mu, q_sd, q_mu_spk).fit(Z[ok], Q[ok], C[ok], y[ok], np.ones(ok.sum(), bool))
        if kind.startswith("gate"):
            heads[kind + "-cthr"] = Head(kind, cal, q_mu, q_sd, q_mu_spk).fit(Z[ok], Q[ok], C[ok], y[ok], ~A[ok])
    return rec, heads


def score_split(rec, heads, split, cache, channel):
    tests = split.known_tests + split.unknown_tests
    out = {}
    rows = {h: [] for h in heads}
    for u in tests:
        fs = [cache.get(b, u, channel) for b in rec.backends]
        raw = rec.raw_scores(fs)
        q = cache.get(Conditions, u, channel)
        for h, head in heads.items():
            if head is None:
                rows[h].append(rec.calibrator.logits(raw))
            else:
                rows[h].append(head.logits(rec.calibrator._znorm(raw), q))
    n_k = len(split.known_tests)
    for h, r in rows.items():
        scores = np.stack(r)
        m = M.open_set_metrics(scores, rec.speakers, [u.speaker for u in split.known_tests], n_k)
        t = rec.threshold_logit if heads[h] is None else heads[h].threshold
        top, pred = scores.max(axis=1), scores.argmax(axis=1)
        right = np.array([rec.speakers[p] == u.speaker for p, u in zip(pred[:n_k], split.known_tests)])
        m["fa_at_threshold"] = float(np.mean(top[n_k:] > t))
        m["dir_at_threshold"] = float(np.mean((top[:n_k] > t) & right))
        out[h] = m
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--members", nargs="+", default=["ge2e", "gmm-ubm"])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--enroll-aug", type=int, default=0, help="random-channel copies of each enrollment clip")
    ap.add_argument("--enroll-kinds", nargs="+", default=ENROLL_KINDS)
    ap.add_argument("--channels", nargs="+", default=list(CHANNELS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    corpus = open_corpus(args.corpus)
    ENROLL_KINDS[:] = args.enroll_kinds
    cache = B.FeatureCache(corpus)
    per = {}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        split = protocol_split(corpus, seed)
        rec, heads = fit_split(args.members, split, args.k, cache, args.copies, args.enroll_aug)
        print(f"seed {seed} fitted ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
        for ch in args.channels:
            for h, m in score_split(rec, heads, split, cache, ch).items():
                per.setdefault((h, ch), []).append(m)
    rows = []
    for (h, ch), ms in per.items():
        row = {"head": h, "channel": ch}
        for key in ("closed_acc", "open_eer", "dir_far1", "fa_at_threshold", "dir_at_threshold"):
            row[key] = float(np.nanmean([m[key] for m in ms]))
        rows.append(row)
    name = "+".join(args.members) + (f" enroll-aug{args.enroll_aug}:{','.join(args.enroll_kinds)}" if args.enroll_aug else "")
    for h in dict.fromkeys(r["head"] for r in rows):
        cells = []
        for r in rows:
            if r["head"] == h:
                cells.append(f"{r['channel']}: {100 * r['closed_acc']:.1f}/{100 * r['open_eer']:.1f}"
                             f" (FA {100 * r['fa_at_threshold']:.1f}, in {100 * r['dir_at_threshold']:.1f})")
        print(f"{corpus.name} {name} {h:<9} | " + " | ".join(cells), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"corpus": corpus.name, "members": args.members, "seeds": args.seeds,
                                              "k": args.k, "copies": args.copies, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
