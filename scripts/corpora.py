"""The shared corpora for the experiment scripts: a corpus name under ../shared/corpora, or a path
to any PROTOCOL.md manifest."""

from __future__ import annotations

from pathlib import Path

from voicelive.evaluation.corpus import Corpus, load_manifest

SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def open_corpus(name_or_manifest: str) -> Corpus:
    """``fsdd`` / ``asterisk_prompts`` (or another folder of ../shared/corpora), or a manifest path."""
    path = Path(name_or_manifest)
    if not path.exists():
        path = SHARED_CORPORA / name_or_manifest / "manifest.csv"
    return load_manifest(path)
