"""Which test utterances pass the product's own threshold, split by how much speech they hold.

For each PROTOCOL.md split (seed) the default system is enrolled on k clips per speaker, and every
known and unknown test utterance is scored. Printed per seed: the calibrated threshold, whether the
per-duration threshold (calibration step 5) was fitted, and the share of unknown / known utterances
accepted below and above ``--short-s`` seconds of speech, with every accepted unknown utterance
(logit, seconds of audio, seconds of speech, the duration offset it was judged with).

    python scripts/acceptance_by_length.py --corpus asterisk_prompts --k 10 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from voicelive import SAMPLE_RATE  # noqa: E402
from voicelive.evaluation.bench import BenchSystem, FeatureCache  # noqa: E402
from voicelive.evaluation.corpus import protocol_split  # noqa: E402
from corpora import open_corpus  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="shared corpus name or a manifest.csv")
    ap.add_argument("--backend", default="fusion")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--short-s", type=float, default=1.2, help="speech seconds below which a test is 'short'")
    args = ap.parse_args(argv)
    corpus = open_corpus(args.corpus)
    cache = FeatureCache(corpus)
    for seed in args.seeds:
        split = protocol_split(corpus, seed)
        system = BenchSystem(args.backend).fresh()
        enr = split.enrollment(args.k)
        feats = [{s: [cache.get(b, u) for u in utts] for s, utts in enr.items()} for b in system.backends]
        system.fit(feats, {s: [corpus.audio(u) for u in utts] for s, utts in enr.items()})
        rec, cal = system.rec, system.rec.calibrator
        t = rec.threshold_logit
        print(f"seed {seed}: threshold logit {t:.2f}; per-duration threshold "
              f"{'fitted' if cal.duration_aware else 'not fitted'} from {cal.n_nontarget} non-target trials")
        for kind, tests in (("unknown", split.unknown_tests), ("known", split.known_tests)):
            rows = []
            for u in tests:
                f = [cache.get(b, u) for b in system.backends]
                speech_s = rec.speech_seconds(f)
                rows.append((float(system.score(f).max()), corpus.audio(u).size / SAMPLE_RATE,
                             np.nan if speech_s is None else speech_s, cal.duration_offset(speech_s)))
            r = np.array(rows, dtype=np.float64)
            passed = r[:, 0] > t
            short = r[:, 2] < args.short_s
            part = [f"{name} {100 * passed[sel].mean():.1f} % of {int(sel.sum())}"
                    for name, sel in ((f"< {args.short_s:g} s", short), (f">= {args.short_s:g} s", ~short)) if sel.any()]
            print(f"  {kind}: {100 * passed.mean():.1f} % accepted ({'; '.join(part)})")
            if kind == "unknown":
                for lg, dur, sp, off in r[passed]:
                    print(f"    accepted: logit {lg:.2f}, {dur:.2f} s audio, {sp:.2f} s speech, duration offset {off:+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
