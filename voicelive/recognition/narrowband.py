"""A channel-robust GMM-UBM: narrowband, per-utterance normalised cepstra.

Its MFCCs come only from 300–3400 Hz — the band every telephone, headset codec and cheap
microphone passes — so a missing low end (a low-cut, a telephone), a dull or bright top (a laptop
shelf, a headset) or hiss and rumble outside the band leave them untouched. Cepstral mean and
variance normalisation over each utterance's speech frames (CMVN) then removes what a stationary
channel does inside the band (a fixed equaliser is a constant added to every log-mel frame).
Speech frames are still picked on the full-band power: picking them on the in-band power was
measured and lost (asterisk_prompts seed 0, clean open-set EER 11.2 -> 16.5 %, no channel better).

On clean speech it is a weaker model than the full-band :class:`GMMUBMBackend` (it throws away
what the voice has outside the band and the utterance's average colour); it earns its place as a
fusion member when the test channel differs from enrollment (docs/BENCHMARKS.md, "Channel
robustness").
"""

from __future__ import annotations

from voicelive.dsp import features as F
from voicelive.recognition.gmm_ubm import GMMUBMBackend

NARROWBAND_HZ = (300.0, 3400.0)
NARROWBAND_CONFIG = F.FastFeatureConfig(fmin_hz=NARROWBAND_HZ[0], fmax_hz=NARROWBAND_HZ[1])


class NarrowbandGMMUBMBackend(GMMUBMBackend):
    """:class:`GMMUBMBackend` on 300–3400 Hz MFCC+Δ+ΔΔ with per-utterance CMVN."""

    name = "gmm-ubm-nb"

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("norm", "cmvn")
        kwargs.setdefault("feature_config", NARROWBAND_CONFIG)
        super().__init__(**kwargs)
