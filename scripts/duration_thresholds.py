"""Would a threshold that depends on how much speech was heard help? (docs/BENCHMARKS.md, "What
limits the streaming results").

For each PROTOCOL.md split (k = 10, the default fusion) the calibration trials of the product —
held-out enrollment clips, 2-s windows, pseudo-impostors — plus short windows (0.5/1.0/1.5 s cut
from each held-out fold's joined clips) are scored by cross-validation, and a 1 %-FAR threshold is
chosen per bin of speech seconds (frames the `fast` front end counts as speech) from enrollment data
only. Test utterances and the live windows of the streaming sessions are then judged by the pooled
threshold (the product's) and by the threshold of their own duration bin.

    python scripts/duration_thresholds.py fsdd 3
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from voicelive import SAMPLE_RATE  # noqa: E402
from voicelive.dsp import features as F  # noqa: E402
from voicelive.dsp.vad import SpeechGate  # noqa: E402
from voicelive.evaluation import bench as B  # noqa: E402
from voicelive.evaluation.corpus import protocol_split  # noqa: E402
from voicelive.evaluation.sessions import build_sessions, LEAD_SILENCE_S  # noqa: E402
from voicelive.recognition import recognizer as R  # noqa: E402
from voicelive.recognition.calibration import Calibrator  # noqa: E402
from corpora import open_corpus  # noqa: E402

CFG = F.FastFeatureConfig()


def speech_s(w):
    P = F.power_spectrogram(np.asarray(w, np.float32), CFG)
    return float(F.speech_frame_mask(P, CFG).sum()) * CFG.hop_length / SAMPLE_RATE

EDGES = np.array([0.0, 0.6, 1.0, 1.4, 1.8, 99])


def bin_of(d):
    return int(np.searchsorted(EDGES, d, side="right") - 1)



corpus = open_corpus(sys.argv[1])
cache = B.FeatureCache(corpus)
SHORT = (0.5, 1.0, 1.5)
out = []
for seed in range(int(sys.argv[2])):
    split = protocol_split(corpus, seed)
    sysk = B.BenchSystem("fusion").fresh()
    enr = split.enrollment(10)
    feats = [{s: [cache.get(b, u) for u in utts] for s, utts in enr.items()} for b in sysk.backends]
    clips = {s: [corpus.audio(u) for u in utts] for s, utts in enr.items()}
    sysk.fit(feats, clips)
    rec = sysk.rec
    spk = rec.speakers
    trials = []
    for s in spk:
        folds = rec._folds[s]
        for w, f in zip(clips[s], folds): trials.append((s, f, w, "clip"))
        for f, w in R.calibration_windows(clips[s], folds): trials.append((s, f, w, "win"))
        # short windows: fold streams cut at 0.5/1.0/1.5 s
        gap = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
        for f in sorted(set(folds)):
            parts = []
            for w, ff in zip(clips[s], folds):
                if ff == f: parts += [w, gap]
            st = np.concatenate(parts[:-1])
            for L in SHORT:
                n = int(L * SAMPLE_RATE)
                starts = list(range(0, max(1, st.size - n + 1), n))[:3]
                trials += [(s, f, st[i:i + n], f"short{L}") for i in starts]
        for ci, w in enumerate(clips[s][:R.MAX_PSEUDO_CLIPS]):
            trials += [(s, folds[ci], p, "pseudo") for p in R.pseudo_impostors([w])]
    raws = []
    for bi, b in enumerate(rec.backends):
        tr = [(s, f, b.extract(w)) for s, f, w, _ in trials]
        sc, names = b.cross_val_scores(feats[bi], rec._folds, tr)
        raws.append(sc)
    lg = rec.calibrator.logits(np.stack(raws))     # (n, S)
    lab = np.array([-1 if t[3] == "pseudo" else spk.index(t[0]) for t in trials])
    dur = np.array([speech_s(t[2]) for t in trials])
    kinds = [t[3] for t in trials]
    S = len(spk)
    p = 1 - (1 - 0.01) ** (1 / S)
    thr = {}
    for bi in range(len(EDGES) - 1):
        m = np.array([bin_of(d) == bi for d in dur])
        nt = lg[m][(lab[m][:, None] != np.arange(S)[None, :])]
        nt = nt[np.isfinite(nt)]
        if nt.size >= 20:
            c = Calibrator(speakers=spk); c.nontarget_logits = np.sort(nt); c.n_nontarget = nt.size
            thr[bi] = c.threshold_logit(0.01)
        print(f"seed {seed} bin {EDGES[bi]:.1f}-{EDGES[bi+1]:.1f}: n trials {m.sum()} nontarget {nt.size} thr {thr.get(bi, float('nan')):+.2f} (pooled {rec.threshold_logit:+.2f})", flush=True)
    # tests: utterances and session windows
    def thr_for(d):
        b = bin_of(d)
        return thr.get(b, rec.threshold_logit)
    for u in split.known_tests + split.unknown_tests:
        l = rec.logits_features([cache.get(b, u) for b in rec.backends])
        d = speech_s(corpus.audio(u)); top = int(np.argmax(l))
        known = u.speaker in spk
        out.append(dict(seed=seed, kind="utt", known=known, d=d, top=float(l[top]), right=bool(known and spk[top] == u.speaker),
                        thr_pooled=rec.threshold_logit, thr_d=thr_for(d)))
    for sess in build_sessions(corpus, split):
        gate = SpeechGate()
        for end in np.arange(2.0, sess.wave.size / SAMPLE_RATE + 1e-9, 0.5):
            w = sess.wave[int((end - 2) * SAMPLE_RATE):int(end * SAMPLE_RATE)]
            v = gate.analyse(w, t_s=end)
            if not v.is_speech: continue
            seg = w[v.span[0]:v.span[1]]
            l = rec.logits(seg); top = int(np.argmax(l)); d = speech_s(seg)
            out.append(dict(seed=seed, kind="win", known=sess.known, t=end - LEAD_SILENCE_S, d=d, top=float(l[top]),
                            right=bool(sess.known and spk[top] == sess.speaker), thr_pooled=rec.threshold_logit, thr_d=thr_for(d)))
for kind in ("utt", "win"):
    for t in ("thr_pooled", "thr_d"):
        k = [r for r in out if r["kind"] == kind and r["known"]]; u = [r for r in out if r["kind"] == kind and not r["known"]]
        print(kind, t, f"known right&acc {np.mean([r['right'] and r['top'] > r[t] for r in k]):.3f}  unknown acc {np.mean([r['top'] > r[t] for r in u]):.3f}")
