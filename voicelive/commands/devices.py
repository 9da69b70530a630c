"""`voicelive devices`: list audio input devices with their default sample rates."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from voicelive.audio.devices import list_input_devices


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "devices",
        help="list audio input devices",
        description="List the audio input devices PortAudio can record from, with their default sample "
                    "rates; '*' marks the default. Use the index or part of the name with --device.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    devices = list_input_devices()
    if args.json:
        print(json.dumps([asdict(d) for d in devices]))
        return 0 if devices else 1
    if not devices:
        print("no audio input devices found: connect a microphone (or start the sound server, e.g. "
              "PulseAudio/PipeWire) and run `voicelive devices` again", file=sys.stderr)
        return 1
    width = max(len(d.name) for d in devices)
    print(f"  {'#':>3}  {'name':<{width}}  {'host API':<12} {'ch':>3}  default rate")
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:>3}  {d.name:<{width}}  {d.hostapi:<12} {d.max_input_channels:>3}  "
              f"{d.default_samplerate:g} Hz")
    print("(* = default input; choose another with `voicelive stream --device INDEX|NAME`)")
    return 0
