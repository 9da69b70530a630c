"""Channel-robustness experiments: candidate backend / calibration variants scored on PROTOCOL.md
splits with the TEST audio through every simulated channel (enrollment clean), as in
`voicelive bench --test-channel all`, but for variants that are not (yet) product backend names.

    python scripts/channel_experiments.py --corpus fsdd --seeds 1 --k 10 \
        --variants fusion fusion-cmvn-tel fusion3 --out exp.json

A variant is one of :data:`MEMBERS`. Two more families were measured and dropped (docs/BENCHMARKS.md,
"Channel robustness"): random-channel copies of the calibration windows (``+calN``; the copies
are made by scripts/random_channels.py, also used by scripts/condition_experiments.py) and adaptive t-norm of GE2E scores (``ge2e-tn``, ``ge2e-tm``,
``fusion-tn``; commit 9262374, recognition/normalise.py).
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

from voicelive.audio.channels import CHANNELS  # noqa: E402
from voicelive.dsp import features as F  # noqa: E402
from voicelive.evaluation import bench as B  # noqa: E402
from voicelive.evaluation.corpus import protocol_split  # noqa: E402
from voicelive.recognition.gmm_ubm import GMMUBMBackend  # noqa: E402
from corpora import open_corpus  # noqa: E402

TEL = F.FastFeatureConfig(fmin_hz=300.0, fmax_hz=3400.0)
_GE2E = []


def ge2e():
    if not _GE2E:
        from voicelive.recognition.ge2e import GE2EBackend
        _GE2E.append(GE2EBackend())
    return _GE2E[0].fresh()


def ge2e_band(lo_hz=300.0, hi_hz=3400.0):
    """GE2E on audio band-limited to ``lo_hz``–``hi_hz`` (enrollment and test alike)."""
    from scipy import signal

    from voicelive.recognition.ge2e import GE2EBackend

    base = ge2e()

    class BandGE2E(GE2EBackend):
        name = "ge2e-band"
        _sos = signal.butter(6, (lo_hz, hi_hz), btype="bandpass", fs=16_000, output="sos")

        @property
        def feature_hash(self):
            return "band" + str((lo_hz, hi_hz)) + super().feature_hash

        def extract(self, wave):
            return super().extract(signal.sosfilt(self._sos, wave).astype(np.float32))

    b = BandGE2E(base.encoder)
    return b


def nb():
    from voicelive.recognition.narrowband import NarrowbandGMMUBMBackend

    return NarrowbandGMMUBMBackend()


def svm(features="seed_mfcc"):
    from voicelive.recognition.classifiers import SVMBackend

    return SVMBackend(features)


def gmm(norm="none", cfg=F.FastFeatureConfig()):
    return GMMUBMBackend(norm=norm, feature_config=cfg)


MEMBERS = {
    "fusion": lambda: [ge2e(), gmm()],
    "ge2e": lambda: [ge2e()],
    "gmm-ubm": lambda: [gmm()],
    "gmm-cmvn": lambda: [gmm("cmvn")],
    "gmm-cmvn-tel": lambda: [gmm("cmvn", TEL)],
    "gmm-cmn-tel": lambda: [gmm("cmn", TEL)],
    "fusion-cmvn": lambda: [ge2e(), gmm("cmvn")],
    "fusion-cmvn-tel": lambda: [ge2e(), gmm("cmvn", TEL)],
    "fusion3": lambda: [ge2e(), gmm(), gmm("cmvn", TEL)],
    "fusion-2cmvn": lambda: [ge2e(), gmm("cmvn"), gmm("cmvn", TEL)],
    "gmm-nb": lambda: [nb()],
    "fusion-nb": lambda: [ge2e(), gmm(), nb()],
    "fusion-cmn": lambda: [ge2e(), gmm("cmn")],
    "fusion3-cmn": lambda: [ge2e(), gmm("cmn"), gmm("cmvn", TEL)],
    "ge2e-tel": lambda: [ge2e_band()],
    "ge2e-hp300": lambda: [ge2e_band(300.0, 7900.0)],
    "ge2e+ge2e-tel": lambda: [ge2e(), ge2e_band()],
    "fusion+svm": lambda: [ge2e(), gmm(), svm()],
    "fusion+fastsvm": lambda: [ge2e(), gmm(), svm("fast")],
}


def make_system(variant: str) -> B.BenchSystem:
    system = B.BenchSystem("gmm-ubm")          # a product system; its members are replaced below
    system.name = variant
    system.backends = MEMBERS[variant]()
    return system


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="fsdd or asterisk_prompts (under ../shared/corpora) or a manifest")
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--channels", nargs="+", default=list(CHANNELS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    corpus = open_corpus(args.corpus)
    splits = [protocol_split(corpus, s) for s in range(args.seeds)]
    cache = B.FeatureCache(corpus)
    rows = []
    for variant in args.variants:
        system = make_system(variant)
        t0 = time.perf_counter()
        outs = [B.evaluate_split_channels(system, sp, args.k, cache, args.channels) for sp in splits]
        for ch in args.channels:
            per = [o[ch] for o in outs]
            row = {"variant": variant, "channel": ch, "seconds": time.perf_counter() - t0}
            for m in ("closed_acc", "open_eer", "dir_far1", "min_dcf", "fa_at_threshold", "dir_at_threshold"):
                row[m] = float(np.nanmean([p.get(m, np.nan) for p in per]))
            rows.append(row)
            print(f"{corpus.name:>16} {variant:<22} {ch:<10} acc {100 * row['closed_acc']:5.1f}  "
                  f"EER {100 * row['open_eer']:5.1f}  DIR@1 {100 * row['dir_far1']:5.1f}  "
                  f"FA@thr {100 * row['fa_at_threshold']:4.1f}  DIR@thr {100 * row['dir_at_threshold']:5.1f}  "
                  f"({row['seconds']:.0f}s)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"corpus": corpus.name, "seeds": args.seeds, "k": args.k,
                                              "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
