"""`voicelive access-log`: the kiosk's door decisions, as a table, CSV or JSON.

Times are stored in UTC. The table shows local time; CSV and JSON keep the stored UTC ISO 8601
text (unambiguous for spreadsheets and scripts). An unknown voice has an empty speaker.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime

CSV_COLUMNS = ("time", "decision", "state", "speaker", "score", "threshold", "speech_s")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("access-log", help="show or export the kiosk's access log",
                       description="Door decisions recorded by `voicelive kiosk`: time, granted/denied, speaker "
                                   "(empty = unknown voice), score, threshold and seconds of speech used.")
    p.add_argument("--data-dir", default=None,
                   help="roster database (default: the user data dir, or $VOICELIVE_DATA_DIR)")
    p.add_argument("--since", metavar="ISO_DATE", default=None,
                   help="only entries at or after this date/time, e.g. 2024-05-01 or 2024-05-01T14:00 "
                        "(local time unless an offset is given)")
    p.add_argument("--until", metavar="ISO_DATE", default=None, help="only entries before this date/time")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the newest N entries")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="write CSV (header + one row per decision) to stdout")
    fmt.add_argument("--json", action="store_true", help="write a JSON list to stdout")
    p.set_defaults(run=run)


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import ConfigError
    from voicelive.store import Store

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    store = Store.open(args.data_dir)
    try:
        rows = store.access_log(args.since, until=args.until, limit=args.limit)
    finally:
        store.close()

    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in CSV_COLUMNS])
        sys.stdout.flush()
        return 0
    if args.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in rows], ensure_ascii=False) + "\n")
        return 0
    if not rows:
        print("No access decisions recorded" + (f" since {args.since}" if args.since else "")
              + "; the kiosk (`voicelive kiosk`) writes them.")
        return 0
    width = max(7, *(len(r.speaker or "unknown") for r in rows))
    print(f"{'TIME':<19}  {'DECISION':<8}  {'SPEAKER':<{width}}  {'SCORE':>6}  {'THRESH':>6}  {'SPEECH':>7}  STATE")
    for r in rows:
        t = datetime.fromisoformat(r.time).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        speech = "-" if r.speech_s is None else f"{r.speech_s:.1f} s"
        print(f"{t:<19}  {r.decision:<8}  {r.speaker or 'unknown':<{width}}  {_fmt(r.score, '6.3f'):>6}  "
              f"{_fmt(r.threshold, '6.3f'):>6}  {speech:>7}  {r.state or '-'}")
    granted = sum(r.decision == "granted" for r in rows)
    print(f"{len(rows)} decision(s): {granted} granted, {len(rows) - granted} denied")
    return 0
