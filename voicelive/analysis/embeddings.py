"""Speaker embeddings of files, segments and windows through the engine's embedding backend.

Files come from a folder (every audio file below it, unlabelled) or a ``manifest.csv`` (labelled,
see :mod:`voicelive.evaluation.corpus`). Embeddings are L2-normalised rows (GE2E: 256 numbers).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.errors import AudioError, ConfigError
from voicelive.units import s_to_samples

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".opus", ".aiff", ".aif")
DEFAULT_EMBEDDING_BACKEND = "ge2e"
WINDOW_S = 2.0
"""Live analysis windows are 2 s long; drift compares like with like."""
WINDOW_HOP_S = 1.0
MIN_WINDOW_S = 0.8
SPEECH_FLOOR_DBFS = -55.0
SPEECH_RANGE_DB = 30.0
"""A window counts as speech when its RMS is above the floor and within this of the loudest window."""


@dataclass(frozen=True)
class AudioItem:
    """One recording to analyse: its file, its speaker when known, and an id for reports."""

    path: Path
    label: str | None
    item_id: str


def list_audio(source: str | Path, *, max_per_speaker: int | None = None, seed: int = 0) -> list[AudioItem]:
    """Recordings of a folder (recursively, sorted, unlabelled) or a manifest (labelled).

    Parameters
    ----------
    source
        A folder of audio files, a ``manifest.csv``, or a folder holding one.
    max_per_speaker
        Keep at most this many utterances per speaker of a manifest (a seeded random choice).
    seed
        For that choice.
    """
    p = Path(source).expanduser()
    if not p.exists():
        raise ConfigError(f"{p} does not exist; give a folder of audio files or a manifest.csv")
    manifest = p if p.is_file() and p.suffix.lower() == ".csv" else (p / "manifest.csv" if p.is_dir() else None)
    if manifest is not None and manifest.is_file():
        return _from_manifest(manifest, max_per_speaker=max_per_speaker, seed=seed)
    if p.is_file():
        if p.suffix.lower() not in AUDIO_EXTENSIONS:
            raise ConfigError(f"{p} is neither an audio file nor a manifest.csv")
        return [AudioItem(p, None, p.stem)]
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ConfigError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {p}")
    return [AudioItem(f, None, str(f.relative_to(p))) for f in files]


def _from_manifest(path: Path, *, max_per_speaker: int | None, seed: int) -> list[AudioItem]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("path", "speaker") if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path} lacks column(s) {', '.join(missing)}; a manifest needs path,speaker")
        rows = list(reader)
    items: dict[str, list[AudioItem]] = {}
    for r in rows:
        fp = Path(r["path"])
        fp = fp if fp.is_absolute() else path.parent / fp
        items.setdefault(r["speaker"], []).append(AudioItem(fp, r["speaker"], r.get("utterance_id") or fp.stem))
    out: list[AudioItem] = []
    rng = np.random.default_rng(seed)
    for spk in sorted(items):
        its = sorted(items[spk], key=lambda i: i.item_id)
        if max_per_speaker is not None and len(its) > max_per_speaker:
            keep = np.sort(rng.choice(len(its), max_per_speaker, replace=False))
            its = [its[i] for i in keep]
        out += its
    if not out:
        raise ConfigError(f"{path} lists no recordings")
    return out


def speech_windows(wave: np.ndarray, *, window_s: float = WINDOW_S, hop_s: float = WINDOW_HOP_S,
                   sr: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Cut a recording into live-sized windows and keep those with speech-like energy.

    A recording shorter than a window is one window (if it is long enough and not silent).
    """
    w = np.asarray(wave, dtype=np.float32).reshape(-1)
    win, hop = s_to_samples(window_s, sr), s_to_samples(hop_s, sr)
    if w.size < s_to_samples(MIN_WINDOW_S, sr):
        return []
    starts = [0] if w.size <= win else list(range(0, w.size - win + 1, hop))
    wins = [w[s:s + win] for s in starts]
    rms_db = np.array([10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20) for x in wins])
    keep = (rms_db > SPEECH_FLOOR_DBFS) & (rms_db > rms_db.max() - SPEECH_RANGE_DB)
    return [x for x, k in zip(wins, keep) if k]


JOIN_GAP_S = 0.3


def joined(waves: Iterable[np.ndarray], *, min_s: float = WINDOW_S, gap_s: float = JOIN_GAP_S,
           sr: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Consecutive recordings joined (with ``gap_s`` of silence) into chunks of at least ``min_s``,
    so that short clips (a spoken digit) still make live-sized windows; longer ones stay whole.
    The last chunk may be shorter."""
    need = s_to_samples(min_s, sr)
    gap = np.zeros(s_to_samples(gap_s, sr), dtype=np.float32)
    out: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    n = 0
    for w in waves:
        w = np.asarray(w, dtype=np.float32).reshape(-1)
        if parts:
            parts.append(gap)
            n += gap.size
        parts.append(w)
        n += w.size
        if n >= need:
            out.append(np.concatenate(parts))
            parts, n = [], 0
    if parts:
        out.append(np.concatenate(parts))
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


class Embedder:
    """The engine's speaker embedding for waves, files and windows.

    Parameters
    ----------
    backend
        A backend name with an embedding (``ge2e``; ``fusion`` uses its GE2E member), or a backend
        object.
    """

    def __init__(self, backend: str | object = DEFAULT_EMBEDDING_BACKEND) -> None:
        if isinstance(backend, str):
            from voicelive.recognition.registry import make_backends

            candidates = [b for b in make_backends(backend) if b.has_embedding]
            if not candidates:
                raise ConfigError(f"backend '{backend}' has no speaker embedding; use --backend ge2e "
                                  "(after `voicelive setup-models`)")
            self.backend = candidates[0]
        else:
            if not getattr(backend, "has_embedding", False):
                raise ConfigError(f"backend '{getattr(backend, 'name', backend)}' has no speaker embedding")
            self.backend = backend
        self.name = self.backend.name

    @property
    def feature_hash(self) -> str:
        return self.backend.feature_hash

    def embed_wave(self, wave: np.ndarray) -> np.ndarray:
        """Unit-length embedding ``(d,)`` of one mono 16-kHz wave."""
        return unit_rows(self.backend.embed(wave))[0].astype(np.float32)

    def embed_waves(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, d)`` float32, one unit row per wave."""
        if not len(waves):
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.embed_wave(w) for w in waves])

    def embed_items(self, items: Sequence[AudioItem], *, progress: Callable[[int, int], None] | None = None
                    ) -> tuple[np.ndarray, list[AudioItem], list[tuple[AudioItem, str]]]:
        """Embeddings of whole recordings. Returns ``(embeddings (n, d), items embedded, skipped
        [(item, why)])``: unreadable or silent files are skipped and reported, not fatal."""
        from voicelive.audio.io import load_audio

        rows, ok, skipped = [], [], []
        for i, it in enumerate(items):
            try:
                rows.append(self.embed_wave(load_audio(it.path)))
                ok.append(it)
            except AudioError as exc:
                skipped.append((it, str(exc)))
                log.warning("skipping %s: %s", it.path, exc)
            if progress is not None:
                progress(i + 1, len(items))
        emb = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return emb, ok, skipped

    def embed_windows(self, waves: Iterable[np.ndarray], **kw) -> np.ndarray:
        """Embeddings of the speech windows of several recordings (short ones joined, see
        :func:`joined`), stacked ``(n_windows, d)``."""
        rows = [self.embed_wave(x) for w in joined(waves) for x in speech_windows(w, **kw)]
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
