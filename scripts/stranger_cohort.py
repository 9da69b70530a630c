"""Would recordings of real strangers make the threshold trustworthy? (a protocol extension)

The product calibrates its threshold from the enrolled people alone (plus pitch-shifted copies of
them when fewer than 8 are enrolled). This experiment adds recordings of a real person who is NOT
enrolled, the way a user could record "voices that must not be accepted", and asks whether the
threshold then rejects a *different* stranger better.

For each PROTOCOL.md split with at least two unknown speakers: for each unknown speaker U, another
unknown speaker C gives ``--cohort-clips`` recordings (never U's audio, never one of C's own test
utterances) as extra non-target calibration trials: the clips and live-sized windows cut from them,
scored against every enrolled model. U's 40 unknown tests measure the false-accept rate at the
product threshold; the known tests measure how many enrolled people are still accepted. Printed:
both, without and with the stranger cohort, per seed and pooled.

An experiment, not product code: it adds the trials through the recognizer's internal list of
impostor trials (the one pseudo-impostors use) and recalibrates.

    python scripts/stranger_cohort.py --corpus asterisk_prompts --k 10 --seeds 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from voicelive.evaluation.bench import BenchSystem, FeatureCache  # noqa: E402
from voicelive.evaluation.corpus import protocol_split  # noqa: E402
from voicelive.recognition.recognizer import calibration_windows  # noqa: E402
from corpora import open_corpus  # noqa: E402


def cohort_utterances(corpus, split, speaker: str, n: int):
    """``n`` of ``speaker``'s utterances that are not among its unknown tests (seeded choice)."""
    tests = {u.utterance_id for u in split.unknown_tests if u.speaker == speaker}
    rest = [u for u in corpus.by_speaker()[speaker] if u.utterance_id not in tests]
    pick = np.random.default_rng(split.seed).permutation(len(rest))[:n]
    return [rest[i] for i in sorted(pick)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--backend", default="fusion")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cohort-clips", type=int, default=10)
    args = ap.parse_args(argv)
    corpus = open_corpus(args.corpus)
    cache = FeatureCache(corpus)
    pooled = {"none": [0, 0, 0, 0], "stranger": [0, 0, 0, 0]}   # FA count, unknown n, known in, known n
    for seed in range(args.seeds):
        split = protocol_split(corpus, seed)
        unknown = sorted({u.speaker for u in split.unknown_tests})
        if len(unknown) < 2:
            print(f"seed {seed}: fewer than two unknown speakers, skipped")
            continue
        system = BenchSystem(args.backend).fresh()
        enr = split.enrollment(args.k)
        feats = [{s: [cache.get(b, u) for u in utts] for s, utts in enr.items()} for b in system.backends]
        system.fit(feats, {s: [corpus.audio(u) for u in utts] for s, utts in enr.items()})
        rec = system.rec
        base_pseudo = [list(p) for p in rec._pseudo]
        known = split.known_tests
        known_f = [[cache.get(b, u) for b in system.backends] for u in known]

        def measure(tests_f) -> tuple[int, int]:
            t = rec.threshold_logit
            in_ = sum(int(system.score(f).max() > t) for f in tests_f)
            return in_, len(tests_f)

        for target in unknown:
            donor = next(s for s in unknown if s != target)
            tests_f = [[cache.get(b, u) for b in system.backends]
                       for u in split.unknown_tests if u.speaker == target]
            cohort = cohort_utterances(corpus, split, donor, args.cohort_clips)
            waves = [corpus.audio(u) for u in cohort]
            wins = [w for _, w in calibration_windows(waves, [0] * len(waves))]
            line = [f"seed {seed} stranger {target} (cohort: {len(cohort)} clips of {donor})"]
            for mode in ("none", "stranger"):
                anchor = rec.speakers[0]   # any enrolled name: the trial is an impostor of everyone
                rec._pseudo = [list(p) for p in base_pseudo]
                if mode == "stranger":
                    for bi, b in enumerate(system.backends):
                        rec._pseudo[bi] += [(anchor, 0, cache.get(b, u)) for u in cohort]
                        rec._pseudo[bi] += [(anchor, 0, b.extract(w)) for w in wins]
                rec._calibrate()
                fa, n_u = measure(tests_f)
                k_in, n_k = measure(known_f)
                p = pooled[mode]
                p[0] += fa; p[1] += n_u; p[2] += k_in; p[3] += n_k
                line.append(f"{mode}: FA {100 * fa / n_u:.1f} %, known accepted {100 * k_in / n_k:.1f} %")
            print(" | ".join(line), flush=True)
    for mode, (fa, n_u, k_in, n_k) in pooled.items():
        print(f"pooled {mode}: unknown accepted {100 * fa / max(n_u, 1):.2f} % of {n_u}; "
              f"known accepted {100 * k_in / max(n_k, 1):.1f} % of {n_k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
