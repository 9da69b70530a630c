# make run   — set everything up on a fresh Debian/Ubuntu machine and start the app
# make test  — set everything up and run the whole test suite
.PHONY: setup run test bench

setup:
	bash scripts/setup.sh

run: setup
	.venv/bin/python main.py

test: setup
	bash scripts/test.sh

bench: setup
	.venv/bin/voicelive bench --manifest ../shared/corpora/fsdd/manifest.csv --out bench-out/fsdd
