"""Start the VoiceLive desktop app (same as `voicelive gui`)."""

import sys

from voicelive.cli import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
