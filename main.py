"""Start the VoiceLive desktop app (same as `voicelive gui`)."""

import importlib.util
import sys

from voicelive.cli import main

if __name__ == "__main__":
    if importlib.util.find_spec("voicelive.commands.gui") is None:
        # the desktop window is not built yet: show what the command line offers
        print("VoiceLive's desktop window is not available in this version; the command line is:\n")
        sys.exit(main(["--help"]))
    sys.exit(main(["gui", *sys.argv[1:]]))
