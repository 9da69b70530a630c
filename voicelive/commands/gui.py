"""`voicelive gui`: the desktop window (live waveform, spectrogram, verdict, roster, enrollment).

Qt is imported only when the command runs, so the rest of the command line works without it.
"""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_data_args


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "gui", help="open the desktop window (live identification, roster, enrollment)",
        description="Open VoiceLive's desktop window: live waveform and spectrogram, who is speaking (or "
                    "'Unknown'), the enrolled speakers and a guided enrollment wizard. Same as `python main.py`.")
    p.add_argument("--source", metavar="FILE",
                   help="replay an audio file (looping, at real-time pace) as if it were the microphone")
    p.add_argument("--device", metavar="D", help="input device: index or part of its name (see `voicelive devices`)")
    add_data_args(p, model_dir=False)
    p.add_argument("--backend", default=None, help="backend for new models (default: the active model's)")
    p.add_argument("--hop-s", type=float, metavar="S", help="time between analysis windows, 0.1-2.0 s")
    p.add_argument("--config", metavar="TOML", help="options file with [audio], [window], [vad], [decision] tables")
    p.add_argument("--fullscreen", action="store_true", help="start full screen (F11 toggles)")
    p.add_argument("--exit-after-s", type=float, metavar="S", help="close the window after S seconds (smoke tests)")
    p.add_argument("--perf", action="store_true",
                   help="with --exit-after-s: print frames per second and CPU use (JSON) when closing")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from voicelive.gui.app import run_gui

    return run_gui(args)
