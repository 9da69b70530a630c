"""The one place where seconds and samples are converted."""

from voicelive import SAMPLE_RATE


def s_to_samples(seconds: float, sr: int = SAMPLE_RATE) -> int:
    """Seconds to a whole number of samples (rounded to nearest)."""
    return int(round(float(seconds) * sr))


def samples_to_s(n_samples: int, sr: int = SAMPLE_RATE) -> float:
    """Samples to seconds."""
    return float(n_samples) / float(sr)
