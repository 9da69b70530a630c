"""Keeping the active model in step with the roster in the store.

``sync_model`` compares the speakers and clip counts of the store with those of the active model and
applies only the difference: incremental backends add or remove one speaker without retraining the
others; the others are rebuilt. The new model is written and activated atomically by the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from voicelive.errors import ModelError, NotEnrolledError
from voicelive.recognition.model_io import load_recognizer, write_recognizer, write_shards
from voicelive.recognition.shards import SHARD_DIR
from voicelive.recognition.recognizer import Recognizer
from voicelive.recognition.registry import DEFAULT_BACKEND

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    recognizer: Recognizer | None
    version_id: int | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rebuilt: bool = False
    seconds: float = 0.0


def active_recognizer(store) -> Recognizer | None:
    """The store's active model, or None when nobody is enrolled yet."""
    active = store.active_model()
    if active is None:
        return None
    return load_recognizer(active.path)


KEEP_MODEL_VERSIONS = 5
"""Inactive model versions kept after each save (older ones and their files are deleted)."""
PRUNE_MIN_AGE_S = 600.0
"""Unlisted model files younger than this are left alone (another process's save in flight)."""


def save_active(store, rec: Recognizer) -> int:
    """Save ``rec`` as the store's new active model version. Only the speakers whose data changed go
    to disk beyond the (small) model file: a new shard in ``models/shards`` (see
    :func:`~voicelive.recognition.model_io.write_shards`), written and fsynced before the version
    that uses it is committed; the card lists the shards so the store keeps them while it is kept.
    Afterwards all but the newest :data:`KEEP_MODEL_VERSIONS` inactive versions are deleted."""
    store.models_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_shards(rec, store.models_dir / SHARD_DIR)
    vid = store.save_model(rec.name, rec.card(), lambda p: write_recognizer(rec, p))
    try:  # disk stays bounded; a failure here must not fail the enrollment that just succeeded
        store.prune_models(keep=KEEP_MODEL_VERSIONS, min_age_s=PRUNE_MIN_AGE_S)
    except Exception as exc:  # noqa: BLE001 - logged, the saved model is fine
        log.warning("could not delete old model versions (%s); they stay on disk", exc)
    return vid


def sync_model(store, *, backend: str | None = None, target_far: float | None = None,
               force_rebuild: bool = False) -> SyncResult:
    """Bring the active model in line with the store's roster; returns what changed."""
    t0 = time.perf_counter()
    try:
        rec = None if force_rebuild else active_recognizer(store)
    except ModelError as exc:
        log.warning("active model unusable (%s); rebuilding from the roster", exc)
        rec = None
    if rec is not None and backend is not None and rec.name != backend:
        rec = None
    roster = {s.name: s.n_clips for s in store.list_speakers() if s.n_clips > 0}
    if not roster:
        return SyncResult(None, None, seconds=time.perf_counter() - t0)
    name = backend or (rec.name if rec is not None else DEFAULT_BACKEND)
    if rec is None or not rec.incremental:
        model_names = set(rec.speakers) if rec is not None else set()
        model_counts = {s: len(rec._feats[0][s]) for s in rec.speakers} if rec is not None else {}
        if rec is not None and model_counts == roster and not force_rebuild:
            return SyncResult(rec, store.active_model().version_id, seconds=time.perf_counter() - t0)
        far = target_far if target_far is not None else (rec.target_far if rec is not None else None)
        rec = Recognizer.create(name) if far is None else Recognizer.create(name, target_far=far)
        rec.enroll(store.clips_by_speaker())
        vid = save_active(store, rec)
        return SyncResult(rec, vid, added=sorted(set(roster) - model_names),
                          removed=sorted(model_names - set(roster)), rebuilt=True, seconds=time.perf_counter() - t0)
    added, removed = [], []
    for s in [s for s in rec.speakers if s not in roster]:
        if len(rec.speakers) == 1:
            # last speaker gone: nothing left to model
            rec = None
            removed.append(s)
            break
        rec.remove_speaker(s)
        removed.append(s)
    if rec is not None:
        for s, n in sorted(roster.items()):
            if s not in rec.speakers or len(rec._feats[0][s]) != n:
                rec.add_speaker(s, store.clips(s))
                added.append(s)
    if rec is None:
        return sync_model(store, backend=name, force_rebuild=True)
    # a roster shrunk below 8 people: speakers enrolled before need voice-shifted copies too
    completed = rec.ensure_pseudo_impostors(store.clips)
    if target_far is not None:
        rec.set_target_far(target_far)
    if not added and not removed and not completed and target_far is None:
        return SyncResult(rec, store.active_model().version_id, seconds=time.perf_counter() - t0)
    vid = save_active(store, rec)
    return SyncResult(rec, vid, added=added, removed=removed, seconds=time.perf_counter() - t0)


def on_roster_changed(store) -> SyncResult:
    """Hook called after the roster changed (speakers remove/rename/import)."""
    try:
        return sync_model(store)
    except NotEnrolledError:
        return SyncResult(None, None)
