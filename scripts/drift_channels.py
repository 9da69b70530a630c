"""Drift monitor on real speech: enroll-set = the first N utterances of 3 speakers; recent = their
next N utterances, as recorded and through three altered channels. Prints each verdict.

    .venv/bin/python scripts/drift_channels.py --corpus asterisk_prompts
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's voicelive
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # the altered copies the tests use

import numpy as np

from altered_audio import band_limited, equalised, noisy
from voicelive.analysis.drift import reference_from_clips
from voicelive.analysis.embeddings import Embedder
from voicelive.evaluation.corpus import load_manifest

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", default="asterisk_prompts")
    ap.add_argument("--n", type=int, default=10, help="utterances per speaker for each set")
    args = ap.parse_args()
    corpus = load_manifest(CORPORA / args.corpus / "manifest.csv")
    by = corpus.by_speaker()
    speakers = list(by)[:3]
    emb = Embedder()
    ref = reference_from_clips(emb, {s: [corpus.audio(u) for u in by[s][:args.n]] for s in speakers})
    held = [corpus.audio(u) for s in speakers for u in by[s][args.n:2 * args.n]]
    print(f"{args.corpus}: {len(speakers)} speakers, {ref.n} enrollment windows")
    for name, fn in (("same source", lambda w: w), ("equalised (+high shelf)", equalised),
                     ("noisy (10 dB SNR)", noisy), ("band-limited 300-3400 Hz", band_limited)):
        rep = ref.compare(emb.embed_windows([np.asarray(fn(w), dtype=np.float32) for w in held]))
        print(f"{name:<26} ratio {rep.ratio:5.2f}x  FD {rep.frechet:.3f} (level {rep.level:.3f})  "
              f"NDB {rep.ndb}/{rep.n_bins}  JSD {rep.jsd:.3f}  -> {rep.verdict}")


if __name__ == "__main__":
    main()
