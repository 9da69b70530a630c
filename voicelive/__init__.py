"""VoiceLive: real-time speaker identification with an honest 'unknown'."""

__version__ = "0.1.0"

SAMPLE_RATE = 16_000
"""The one internal sample rate (Hz). Sources convert to it at the boundary."""
