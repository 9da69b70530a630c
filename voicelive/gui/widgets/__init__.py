"""Widgets of the main window: waveform, spectrogram, verdict, roster, meters."""
