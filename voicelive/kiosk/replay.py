"""The kiosk's replay guard: refuse a recording of an earlier visit played back at the door.

Someone standing behind an enrolled person can record them with a phone while the door opens, and
play the recording back later. The speaker recogniser cannot tell: it is that person's voice. But
a recording repeats one performance exactly, and a person never does. So the kiosk remembers an
acoustic fingerprint (:mod:`voicelive.dsp.fingerprint`) of everything it heard during each visit
that opened the door (the :data:`VISIT_BEFORE_S` seconds before it opened, refused tries included,
until it locked again), and before it opens the door it compares the new attempt's windows with
them. If one lines up with an earlier visit
(similarity at or above :data:`REPLAY_SIMILARITY`), the door stays shut and the access log says
"replayed recording".

What it does not catch (docs/BENCHMARKS.md, "Replayed recordings"): a recording made anywhere but
at this door (a voice message, a video), and one played so far from the microphone or in so much
noise that its fine structure is lost — such a copy also rarely passes the speaker check.

Qt-free. The fingerprints live in the store (``access_fingerprints``, with their access-log row),
so a restart does not forget them; those older than :data:`MEMORY_DAYS` or beyond the newest
:data:`MAX_REMEMBERED` are deleted when a new grant is kept (the access-log rows stay).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from voicelive.dsp.fingerprint import Fingerprint, FingerprintIndex

__all__ = ["ReplayGuard", "ReplayMatch", "REPLAY_SIMILARITY", "MATCHING_WINDOWS", "MAX_REMEMBERED", "MEMORY_DAYS",
           "VISIT_BEFORE_S", "MAX_VISIT_WINDOWS", "visit_fingerprint", "local_time"]

log = logging.getLogger(__name__)

REPLAY_SIMILARITY = 0.06
"""Share of a window's fingerprint hashes that must line up with an earlier visit. Measured on the
shared corpora (docs/BENCHMARKS.md, "Replayed recordings"): against 200 remembered visits of the
same people, one of them saying the digit "eight" ten times, two windows of a genuine attempt with
"eight" in it lined up at 0.046-0.055 (0.04 called 4 of 120 digit attempts replays, 0.06 none);
replays through a small loudspeaker or a phone, the kind that still passes the speaker check,
scored 0.056 or more in their second-best window and nearly all far more. Copies played across a
reverberant room or in 10 dB of noise score 0.03-0.06: about 3 in 4 of them are still caught
(and the speaker check refuses most of the rest)."""
MATCHING_WINDOWS = 2
"""Windows of an attempt that must line up with the same visit: a replay lines up in every window,
a similar take now and then in one."""
MAX_REMEMBERED = 200
"""Granted visits kept (the newest); up to about 120 kB each in memory (24 MB at most)."""
MEMORY_DAYS = 30.0
"""Visits older than this are forgotten."""
VISIT_BEFORE_S = 10.0
"""A granted visit begins this long before the door opened: a recording of the visitor may hold
an earlier try that was refused, and played back it could pass."""
MAX_VISIT_WINDOWS = 14
"""Windows of one visit that are kept: every other analysis window (one per second at the kiosk's
0.5-s hop: 2-s windows 1 s apart still overlap any 2-s stretch of the visit by at least 1.5 s),
the first 14 of them (the 10 s before the door opened and the first seconds after)."""


def visit_fingerprint(windows: Sequence[Fingerprint]) -> Fingerprint:
    """What is kept of a visit's window fingerprints: every other one, at most
    :data:`MAX_VISIT_WINDOWS`."""
    return Fingerprint.concat(list(windows)[::2][:MAX_VISIT_WINDOWS])


@dataclass(frozen=True)
class ReplayMatch:
    """An attempt that lines up with an earlier grant.

    Attributes
    ----------
    similarity : float
        Share of the best window's hashes that line up (0..1).
    speaker : str or None
        Who the earlier grant was for.
    time : str or None
        When (ISO 8601, UTC), if known.
    access_id : int or None
        The earlier grant's access-log row, if it was logged.
    """

    similarity: float
    speaker: str | None = None
    time: str | None = None
    access_id: int | None = None

    def describe(self) -> str:
        when = f" at {self.time}" if self.time else ""
        who = self.speaker or "someone"
        return f"replayed recording: matches the access granted to {who}{when} (similarity {self.similarity:.2f})"


class ReplayGuard:
    """Fingerprints of recent grants and the check against them.

    Parameters
    ----------
    similarity : float
        Threshold (see :data:`REPLAY_SIMILARITY`).
    max_remembered : int
        Grants kept; the oldest go first.
    """

    def __init__(self, similarity: float = REPLAY_SIMILARITY, *, max_remembered: int = MAX_REMEMBERED) -> None:
        self.similarity = float(similarity)
        self.max_remembered = int(max_remembered)
        self._index = FingerprintIndex()
        self._info: OrderedDict[int, tuple[str | None, str | None, int | None]] = OrderedDict()
        self._end_t_s: dict[int, float] = {}   # stream time a visit of this run ended (see check)
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._info)

    def remember(self, fp: Fingerprint, *, speaker: str | None = None, time: str | None = None,
                 access_id: int | None = None, end_t_s: float | None = None) -> int | None:
        """Keep the fingerprint of a granted visit; returns its key (for :meth:`replace`).
        ``end_t_s``: stream time of the visit's last window (see :meth:`check`)."""
        keys = self._remember_many([(fp, speaker, time, access_id, end_t_s)])
        return keys[0]

    def _remember_many(self, visits) -> list[int | None]:
        keys: list[int | None] = []
        indexed = []
        for fp, speaker, time, access_id, end_t_s in visits:
            if not len(fp):
                keys.append(None)
                continue
            key = self._next_key
            self._next_key += 1
            self._info[key] = (speaker, time, access_id)
            if end_t_s is not None:
                self._end_t_s[key] = float(end_t_s)
            indexed.append((key, fp))
            keys.append(key)
        self._index.add_many(indexed)
        self._forget_oldest()
        return keys

    def _forget_oldest(self) -> None:
        if len(self._info) > self.max_remembered:
            old = []
            while len(self._info) > self.max_remembered:
                k = self._info.popitem(last=False)[0]
                self._end_t_s.pop(k, None)
                old.append(k)
            self._index.discard(old)

    def replace(self, key: int, fp: Fingerprint, *, end_t_s: float | None = None) -> None:
        """A remembered visit grew (the door stayed open and the visitor kept talking)."""
        if key in self._info and len(fp):
            self._index.add(key, fp)
            if end_t_s is not None:
                self._end_t_s[key] = float(end_t_s)

    def new_stream(self) -> None:
        """The input restarted (its stream time starts again): forget the visits' end times."""
        self._end_t_s.clear()

    @property
    def index(self) -> FingerprintIndex:
        """The remembered visits' fingerprints (read-only use)."""
        return self._index

    def check(self, windows: Sequence[Fingerprint], *, similarity: float | None = None,
              audio_from_t_s: float | None = None, exclude: Iterable[int] = ()) -> ReplayMatch | None:
        """Does this attempt replay a remembered visit? Yes when :data:`MATCHING_WINDOWS` of its
        ``windows`` (all of them if fewer) each line up with the same visit at ``similarity`` or
        more (default: the guard's own threshold).

        ``audio_from_t_s``: stream time where the attempt's audio begins. A visit of this stream
        that ended after it shares real audio with the attempt (someone kept talking while the
        door relocked), so it is not compared. ``exclude``: keys of visits not to compare.
        """
        threshold = self.similarity if similarity is None else float(similarity)
        need = min(MATCHING_WINDOWS, len(windows))
        if need == 0 or not len(self._index):
            return None
        exclude = [int(k) for k in exclude]
        if audio_from_t_s is not None:
            exclude += [k for k, end in self._end_t_s.items() if end > float(audio_from_t_s)]
        by_key: dict[int, list[float]] = {}
        for fp in windows:
            key, sim = self._index.best(fp, exclude=exclude)
            if key is not None:
                by_key.setdefault(key, []).append(sim)
        best_key, best = None, 0.0
        for key, sims in by_key.items():
            sims.sort(reverse=True)
            if len(sims) >= need and sims[need - 1] >= threshold and sims[0] > best:
                best_key, best = key, sims[0]
        if best_key is None:
            return None
        speaker, time, access_id = self._info[best_key]
        return ReplayMatch(best, speaker, time, access_id)

    def load(self, store, *, days: float = MEMORY_DAYS, now: datetime | None = None) -> int:
        """Remember the grants the store kept from the last ``days`` days; returns how many."""
        now = now if now is not None else datetime.now(timezone.utc)
        since = now - timedelta(days=float(days))
        rows = store.access_fingerprints(since=since, limit=self.max_remembered)
        visits = []
        for access_id, time, speaker, blob in rows:
            try:
                fp = Fingerprint.from_bytes(blob)
            except Exception as exc:   # one damaged row must not disable the guard
                log.warning("access %s: unreadable fingerprint skipped (%s)", access_id, exc)
                continue
            visits.append((fp, speaker, local_time(time), access_id, None))
        self._remember_many(visits)    # one merge into the index, not one per visit
        return len(rows)


def local_time(iso_utc: str | None) -> str | None:
    """A stored UTC time as the kiosk shows it (local, to the minute)."""
    if iso_utc is None:
        return None
    from voicelive.store.db import parse_time

    try:
        return parse_time(iso_utc).astimezone().strftime("%Y-%m-%d %H:%M")
    except Exception:
        return str(iso_utc)
