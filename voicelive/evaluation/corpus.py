"""Labelled corpora described by a ``manifest.csv`` (``path,speaker,utterance_id,duration_s,...``)
and the benchmark split of PROTOCOL.md."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicelive.audio.io import load_audio
from voicelive.errors import ConfigError

REQUIRED_COLUMNS = ("path", "speaker", "utterance_id")
MIN_UTTERANCES = 11


@dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str
    utterance_id: str


@dataclass
class Corpus:
    name: str
    utterances: list[Utterance]
    dropped_speakers: list[str] = field(default_factory=list)
    _audio: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})

    def by_speaker(self) -> dict[str, list[Utterance]]:
        out: dict[str, list[Utterance]] = {}
        for u in self.utterances:
            out.setdefault(u.speaker, []).append(u)
        return {k: sorted(v, key=lambda u: u.utterance_id) for k, v in sorted(out.items())}

    def audio(self, utt: Utterance) -> np.ndarray:
        """The utterance's waveform (16 kHz mono float32), decoded once and kept."""
        w = self._audio.get(utt.utterance_id)
        if w is None:
            w = load_audio(utt.path)
            self._audio[utt.utterance_id] = w
        return w


def load_manifest(path: str | Path, *, min_utterances: int = MIN_UTTERANCES) -> Corpus:
    """Read a manifest; paths are absolute or relative to the manifest's folder. Speakers with
    fewer than ``min_utterances`` are dropped (and listed in ``dropped_speakers``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.csv"
    if not p.exists():
        raise ConfigError(f"manifest not found: {p}; pass a manifest.csv with columns {', '.join(REQUIRED_COLUMNS)}")
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{p} lacks column(s) {', '.join(missing)}; a manifest needs {', '.join(REQUIRED_COLUMNS)}")
        rows = list(reader)
    utts = []
    for r in rows:
        fp = Path(r["path"])
        utts.append(Utterance(fp if fp.is_absolute() else p.parent / fp, r["speaker"], r["utterance_id"]))
    counts: dict[str, int] = {}
    for u in utts:
        counts[u.speaker] = counts.get(u.speaker, 0) + 1
    dropped = sorted(s for s, n in counts.items() if n < min_utterances)
    kept = [u for u in utts if u.speaker not in dropped]
    if len({u.speaker for u in kept}) < 2:
        raise ConfigError(f"{p} has fewer than 2 speakers with at least {min_utterances} utterances each")
    return Corpus(name=p.parent.name, utterances=kept, dropped_speakers=dropped)


@dataclass(frozen=True)
class Split:
    seed: int
    enrolled: list[str]
    unknown: list[str]
    enroll_pool: dict[str, list[Utterance]]    # first 10 permuted utterances; positions [0, k) enroll
    known_tests: list[Utterance]                # positions [10, 50) of each enrolled speaker
    unknown_tests: list[Utterance]              # positions [0, 40) of each unknown speaker

    def enrollment(self, k: int) -> dict[str, list[Utterance]]:
        return {s: v[:k] for s, v in self.enroll_pool.items()}


def protocol_split(corpus: Corpus, seed: int) -> Split:
    """PROTOCOL.md v1, step by step, with one ``default_rng(seed)`` consumed in a fixed order."""
    rng = np.random.default_rng(seed)
    speakers = corpus.speakers
    n = len(speakers)
    perm = rng.permutation(n)
    n_enr = int(np.clip(round(2 * n / 3), 2, n - 1))
    enrolled = sorted(speakers[i] for i in perm[:n_enr])
    unknown = sorted(speakers[i] for i in perm[n_enr:])
    by = corpus.by_speaker()
    pool, known, unk = {}, [], []
    for s in enrolled:
        utts = by[s]
        order = [utts[i] for i in rng.permutation(len(utts))]
        pool[s] = order[:10]
        known += order[10:50]
    for s in unknown:
        utts = by[s]
        order = [utts[i] for i in rng.permutation(len(utts))]
        unk += order[:40]
    return Split(seed, enrolled, unknown, pool, known, unk)
