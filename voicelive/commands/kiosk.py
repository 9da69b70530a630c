"""`voicelive kiosk`: a fullscreen door-access kiosk that opens only for enrolled voices.

`voicelive kiosk set-pin` sets the admin PIN from standard input (deployment scripts, tests).
Qt is imported only when the kiosk window is started.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from voicelive.commands._common import add_data_args


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "kiosk", help="fullscreen door-access kiosk: opens only for enrolled voices, keeps an access log",
        description="A fullscreen kiosk for a door. A visitor speaks; the door opens (on screen, or through "
                    "--door-command) only when several analysis windows in a row agree on the same enrolled "
                    "speaker above the calibrated threshold for the kiosk's target false-accept rate. Every "
                    "decision goes to the access log (`voicelive access-log`). Leaving the kiosk needs the "
                    "admin PIN (Esc or the Admin button); the first start asks for one.")
    p.add_argument("--device", metavar="D", help="input device: index or part of its name (see `voicelive devices`)")
    p.add_argument("--source", metavar="FILE", help="replay an audio file (looping, real-time) instead of a microphone")
    add_data_args(p, model_dir=False)
    p.add_argument("--target-far", type=float, metavar="F",
                   help="target false-accept rate of the accept threshold, e.g. 0.005 = 0.5 %% (default: the "
                        "value chosen on the admin screen, else 0.005)")
    p.add_argument("--unlock-s", type=_positive, metavar="S", help="seconds the door stays open (default 5)")
    p.add_argument("--min-windows", type=int, metavar="N",
                   help="agreeing analysis windows in a row needed to open (default 3)")
    p.add_argument("--min-speech-s", type=float, metavar="S",
                   help="seconds of speech those windows must cover (default 1.5)")
    p.add_argument("--cooldown-s", type=float, metavar="S",
                   help="seconds new speech is ignored after a denial or a relock (default 3)")
    p.add_argument("--no-replay-guard", dest="replay_guard", action="store_false", default=None,
                   help="do not refuse recordings of earlier visits played back at the door (the guard "
                        "compares every attempt with acoustic fingerprints of recent grants; on by default)")
    p.add_argument("--door-command", metavar="CMD",
                   help="shell command run once per grant (e.g. to pulse a relay); it sees $VOICELIVE_SPEAKER "
                        "and $VOICELIVE_UNLOCK_S")
    p.add_argument("--door-lock-command", metavar="CMD", help="shell command run when the door relocks (optional)")
    p.add_argument("--door-timeout-s", type=_positive, metavar="S",
                   help="kill a door command still running after S seconds (default 10)")
    p.add_argument("--config", metavar="TOML", help="options file with [audio], [window], [vad], [decision] tables")
    p.add_argument("--windowed", action="store_true", help="a normal window instead of full screen (set-up, demos)")
    p.add_argument("--exit-after-s", type=_positive, metavar="S", help="quit cleanly after S seconds (smoke tests)")
    p.set_defaults(run=run)

    ks = p.add_subparsers(dest="kiosk_command", metavar="SUBCOMMAND")
    sp = ks.add_parser("set-pin", help="set the admin PIN (read from standard input)",
                       description="Set the kiosk's admin PIN: 4 to 32 digits, read from the first line of "
                                   "standard input (asked twice when it is a terminal). Stored as a salted "
                                   "scrypt hash; wrong-try counters are cleared. Example: "
                                   "`echo 4711 | voicelive kiosk set-pin`.")
    sp.add_argument("--data-dir", default=argparse.SUPPRESS,
                    help="roster database (default: the user data dir, or $VOICELIVE_DATA_DIR)")
    sp.set_defaults(run=run_set_pin)
    return p


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import ConfigError

    if args.target_far is not None and not 0.0 < args.target_far < 0.5:
        raise ConfigError(f"--target-far must be between 0 and 0.5 (e.g. 0.005 for 0.5 %), got {args.target_far}")
    from voicelive.kiosk.app import run_kiosk

    return run_kiosk(args)


def _read_pin() -> str:
    from voicelive.errors import ConfigError

    if sys.stdin is None:
        raise ConfigError("no standard input to read the PIN from; pipe it in: `echo 4711 | voicelive kiosk set-pin`")
    if sys.stdin.isatty():
        a = getpass.getpass("New kiosk PIN: ")
        b = getpass.getpass("Same PIN again: ")
        if a.strip() != b.strip():
            raise ConfigError("the two PINs differ; run `voicelive kiosk set-pin` again")
        return a
    line = sys.stdin.readline()
    if not line.strip():
        raise ConfigError("standard input is empty; pipe the PIN in: `echo 4711 | voicelive kiosk set-pin`")
    return line


def run_set_pin(args: argparse.Namespace) -> int:
    from voicelive.kiosk.pin import PinGuard, validate_pin
    from voicelive.store import Store

    pin = validate_pin(_read_pin())
    store = Store.open(args.data_dir)
    try:
        PinGuard(store).set_pin(pin)
    finally:
        store.close()
    print("Kiosk PIN set.")
    return 0
