"""`voicelive stream`: identify speakers live from a microphone or a file, printing verdict changes."""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
from collections import Counter
from pathlib import Path

from voicelive.audio.sources import FileSource, MicSource, Source
from voicelive.commands._common import add_data_args, load_scorer
from voicelive.config import PipelineConfig, from_toml
from voicelive.decision.smoothing import Verdict
from voicelive.errors import ConfigError, VoiceliveError
from voicelive.pipeline import Pipeline, PipelineStats, WindowScorer

log = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "stream",
        help="identify speakers live (microphone or file)",
        description="Run the live pipeline on a microphone or an audio file and print every change of "
                    "verdict with its stream time; a summary follows at the end of the file or on Ctrl-C.",
    )
    p.add_argument("--source", default="mic", metavar="mic|FILE",
                   help="'mic' (default) for the microphone, or an audio file")
    p.add_argument("--device", metavar="D", help="input device: index or part of its name (see `voicelive devices`)")
    p.add_argument("--hop-s", type=float, metavar="S", help="time between analysis windows, 0.1-2.0 s (default 0.25)")
    p.add_argument("--realtime", action="store_true",
                   help="feed a file at real-time pace, like a microphone (default: as fast as possible)")
    p.add_argument("--loop", action="store_true", help="repeat the file forever (stop with Ctrl-C or --duration-s)")
    p.add_argument("--duration-s", type=float, metavar="S", help="stop after this much audio")
    p.add_argument("--block-size", type=int, metavar="N", help="samples per block at 16 kHz (default 1024)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per verdict change: {"t_s", "state", "speaker", "score"}; '
                        "the summary goes to stderr")
    add_data_args(p)
    p.add_argument("--no-model", action="store_true", help="show speech activity only (no identification)")
    p.add_argument("--config", metavar="TOML", help="options file with [audio], [window], [vad], [decision] tables")
    p.set_defaults(run=run)
    return p


# ---------------------------------------------------------------------------------------------
def _load_scorer(args: argparse.Namespace) -> WindowScorer | None:
    if args.no_model:
        return None
    return load_scorer(args)


def _make_source(args: argparse.Namespace, config: PipelineConfig) -> Source:
    if args.source == "mic":
        if args.loop:
            raise ConfigError("--loop only applies to files (--source FILE)")
        return MicSource(config.audio.device, block_size=config.audio.block_size,
                         queue_blocks=config.audio.queue_blocks)
    if args.device is not None:
        raise ConfigError("--device only applies to the microphone (--source mic)")
    return FileSource(Path(args.source), realtime=args.realtime, block_size=config.audio.block_size,
                      loop=args.loop)


class _Reporter:
    """Prints verdict changes and keeps what the summary needs."""

    def __init__(self, *, as_json: bool, hop_s: float, out=None) -> None:
        self.as_json = as_json
        self.hop_s = hop_s
        self.out = out if out is not None else sys.stdout
        self.last: Verdict | None = None
        self.time_in: Counter[str] = Counter()
        self.first_named: dict[str, float] = {}
        self.changes = 0

    def feed(self, v: Verdict) -> None:
        key = v.speaker if v.state == "speaker" else v.state
        self.time_in[key] += self.hop_s
        if v.state == "speaker" and v.speaker not in self.first_named:
            self.first_named[v.speaker] = v.t_s
        if v.same_as(self.last):
            return
        self.last = v
        self.changes += 1
        if self.as_json:
            print(json.dumps(v.to_json()), file=self.out, flush=True)
        else:
            print(f"{v.t_s:9.2f} s  {v.label()}", file=self.out, flush=True)

    def summary(self, stats: PipelineStats, *, source: str, interrupted: bool) -> None:
        lines = [f"summary ({source}{', interrupted' if interrupted else ''}): {stats.audio_s:.1f} s of audio, "
                 f"{stats.windows} windows ({stats.speech_windows} with speech), {self.changes} verdict changes"]
        for key, secs in sorted(self.time_in.items(), key=lambda kv: -kv[1]):
            first = f"   first named at {self.first_named[key]:.2f} s" if key in self.first_named else ""
            lines.append(f"  {key:<16} {secs:7.1f} s{first}")
        p50 = "-" if stats.latency_p50_ms is None else f"{stats.latency_p50_ms:.1f}"
        p95 = "-" if stats.latency_p95_ms is None else f"{stats.latency_p95_ms:.1f}"
        rtf = "-" if stats.rtf is None else f"{stats.rtf:.4f}"
        lines.append(f"  worker per window: p50 {p50} ms, p95 {p95} ms; real-time factor {rtf}")
        lines.append(f"  dropped blocks {stats.dropped_blocks}, input overflows {stats.overflows}, "
                     f"ring overruns {stats.ring_overruns}, scorer errors {stats.scorer_errors}")
        print("\n".join(lines), file=sys.stderr if self.as_json else self.out, flush=True)


def run(args: argparse.Namespace) -> int:
    config = from_toml(args.config, {"window.hop_s": args.hop_s, "audio.block_size": args.block_size,
                                     "audio.device": args.device})
    if args.duration_s is not None and args.duration_s <= 0:
        raise ConfigError(f"--duration-s must be positive, got {args.duration_s}")
    source = _make_source(args, config)  # a missing/undecodable file is reported before the model
    scorer = _load_scorer(args)
    reporter = _Reporter(as_json=args.json, hop_s=config.window.hop_s)
    verdicts: queue.Queue[Verdict] = queue.Queue()
    pipeline = Pipeline(source=source, scorer=scorer, config=config, on_verdict=verdicts.put)
    threaded = args.source == "mic" or args.realtime
    limit = args.duration_s
    interrupted = False
    reached = False

    def drain() -> bool:
        """Report queued verdicts; True once the duration limit is reached."""
        nonlocal reached
        while not reached:
            try:
                v = verdicts.get_nowait()
            except queue.Empty:
                return False
            if limit is not None and v.t_s > limit + 1e-9:
                reached = True
            else:
                reporter.feed(v)
        return True

    try:
        if threaded:
            pipeline.start()  # device errors surface here
            log.info("ready: streaming from %s", source.name)
            while True:
                if drain():
                    break
                if not pipeline.running:
                    drain()
                    break
                if limit is not None and pipeline.latest().t_s > limit + config.window.hop_s:
                    drain()
                    break
                pipeline.wait(0.05)
        else:
            log.info("ready: streaming from %s", source.name)
            while not pipeline.finished:
                pipeline.step(max_blocks=16)
                if drain():
                    break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pipeline.stop()
    if not interrupted:
        drain()
    snap = pipeline.latest()
    reporter.summary(snap.stats, source=source.name, interrupted=interrupted)
    err = pipeline.error
    if isinstance(err, VoiceliveError):
        raise err  # the CLI prints it on one line and exits non-zero
    if err is not None:
        print(f"voicelive: error: the live pipeline stopped: {err}", file=sys.stderr)
        return 1
    return 0
