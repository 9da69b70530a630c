"""Shared test set-up: makes ``tests/synth.py`` importable as ``synth`` from every test folder."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ge2e_weights():
    """GE2E weights in the models cache (the README's set-up fetched them); skip only if they
    cannot be had at all (offline machine)."""
    from voicelive.errors import ModelMissingError
    from voicelive.recognition.weights import setup_models

    try:
        return setup_models(quiet=True)
    except ModelMissingError as exc:
        pytest.skip(f"GE2E weights unavailable: {exc}")


CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.fixture(scope="session")
def corpora_dir():
    if not (CORPORA / "fsdd" / "manifest.csv").exists():
        pytest.skip(f"shared corpora not found at {CORPORA}")
    return CORPORA
