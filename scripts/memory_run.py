#!/usr/bin/env python3
"""Long real-time run of `voicelive stream` with the RSS sampled from /proc: is memory flat?

Enrolls a few speakers of a shared corpus into a private data dir, writes one test file that mixes
held-out speech of enrolled speakers, a stranger and silence, then runs

    voicelive stream --source FILE --realtime --loop --duration-s D --json

in a subprocess and samples its resident set size every ``--every-s`` seconds. Prints a CSV
(elapsed_s, rss_mib) and a one-line summary (RSS at start/after warm-up/end, slope).

    python scripts/memory_run.py --minutes 30 --corpus ../shared/corpora/asterisk_prompts
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parents[1].parent / "shared/corpora/asterisk_prompts"))
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every-s", type=float, default=30.0)
    ap.add_argument("--speakers", type=int, default=4, help="enrolled speakers (one more is the stranger)")
    ap.add_argument("--out", default=None, help="CSV file for the samples (default: stdout)")
    args = ap.parse_args()

    from voicelive.audio.io import save_audio
    from voicelive.evaluation.corpus import load_manifest

    corpus = load_manifest(Path(args.corpus) / "manifest.csv")
    by_spk = corpus.by_speaker()
    speakers = sorted(by_spk)[: args.speakers + 1]
    enrolled, stranger = speakers[:-1], speakers[-1]
    work = Path(tempfile.mkdtemp(prefix="vl-memrun-"))
    env = dict(os.environ, VOICELIVE_DATA_DIR=str(work / "data"), VOICELIVE_LOG_DIR=str(work / "log"))
    cli = [sys.executable, "-m", "voicelive"]

    for spk in enrolled:  # enroll from the first 12 utterances of each speaker
        files = [str(u.path) for u in by_spk[spk][:12]]
        subprocess.run(cli + ["enroll", spk, *files], env=env, check=True, stdout=subprocess.DEVNULL)

    sr = 16_000
    parts = []
    for spk in enrolled + [stranger]:
        for u in by_spk[spk][20:24]:  # held-out speech
            parts.append(corpus.audio(u))
        parts.append(np.zeros(sr * 2, dtype=np.float32))
    test_file = work / "mix.flac"
    save_audio(test_file, np.concatenate(parts), sr=sr)
    loop_s = sum(p.size for p in parts) / sr

    duration_s = args.minutes * 60
    proc = subprocess.Popen(cli + ["stream", "--source", str(test_file), "--realtime", "--loop",
                                   "--duration-s", str(duration_s), "--json"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out = open(args.out, "w") if args.out else sys.stdout
    print("elapsed_s,rss_mib", file=out, flush=True)
    t0 = time.monotonic()
    samples: list[tuple[float, float]] = []
    time.sleep(10.0)
    while proc.poll() is None:
        rss = _rss_mib(proc.pid)
        if rss is not None:
            el = time.monotonic() - t0
            samples.append((el, rss))
            print(f"{el:.0f},{rss:.1f}", file=out, flush=True)
        time.sleep(args.every_s)
    err = proc.stderr.read()
    if proc.returncode != 0:
        print(f"stream exited {proc.returncode}: {err.strip()[-500:]}", file=sys.stderr)
        return 1
    t = np.array([s[0] for s in samples])
    r = np.array([s[1] for s in samples])
    warm = r[t >= min(120.0, t[-1] / 4)]
    tw = t[t >= min(120.0, t[-1] / 4)]
    slope = float(np.polyfit(tw / 60, warm, 1)[0]) if warm.size >= 3 else float("nan")
    print(f"loop of {loop_s:.0f} s ({len(enrolled)} enrolled + 1 stranger), {duration_s / 60:.0f} min real time: "
          f"RSS start {r[0]:.1f} MiB, after warm-up {warm[0]:.1f} MiB, end {r[-1]:.1f} MiB, "
          f"max {r.max():.1f} MiB, slope after warm-up {slope:+.3f} MiB/min", file=sys.stderr)
    print("stream summary:", err.strip()[-800:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
