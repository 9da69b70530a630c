"""Saving and loading an enrolled :class:`~voicelive.recognition.recognizer.Recognizer`.

A saved model is one small ``.npz`` *model file* plus the *shards* it names (in ``shards/`` beside
it; see :mod:`voicelive.recognition.shards`). The model file holds every backend's shared state
(GE2E centroids, the GMM-UBM's UBM), the calibration, each speaker's cached held-out scores, the
folds and the JSON model card: about 3 MB at 1000 speakers. The shards hold the per-speaker bulk
kept for recalibration (clip and calibration-window features, GMM-UBM statistics and held-out
terms): written once, when a speaker's data changes, and shared by every later model version, so
adding a speaker writes one shard of a few hundred kB instead of rewriting hundreds of MB.

Writes: shards first (temp file, fsync, ``os.replace``, directory fsync), then the model file (temp
file, fsync, ``os.replace``), so a crash leaves the previous model and everything it needs intact.
Loading maps the shards instead of reading them, and checks each backend's feature-config hash
against what this version computes (refusing a mismatch). Files from before shards (everything in
the one ``.npz``) still load; their next save moves the data into a shard.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from voicelive import paths
from voicelive.errors import ModelError, ModelMissingError
from voicelive.recognition import shards
from voicelive.recognition.calibration import Calibrator
from voicelive.recognition.packing import is_packed, pack, unpack
from voicelive.recognition.registry import make_backends

MODEL_FILE = "model.npz"
LAYOUT_SHARDS = "shards"
"""``state.json`` ``layout`` of files whose per-speaker data is in shards; older files hold it all."""


def default_model_dir(override: str | os.PathLike | None = None) -> Path:
    return Path(override) if override else paths.data_dir() / "model"


def model_path(model_dir: str | os.PathLike | None = None) -> Path:
    p = Path(model_dir) if model_dir else default_model_dir()
    return p if p.suffix == ".npz" else p / MODEL_FILE


def _pack_json(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def _unpack_json(a: np.ndarray) -> Any:
    return json.loads(np.asarray(a, dtype=np.uint8).tobytes().decode())


def _stored_features(f) -> np.ndarray:
    """Enrollment features as kept for recalibration, exactly as they are in memory (float32
    frame matrices, vectors). Files written before 2026-11-30 hold frame matrices in half
    precision; they still load (:func:`_loaded_features`), but a roster whose GMM-UBM was still
    being refitted (fewer than 5 speakers) then refitted it on rounded frames, which made enrolling
    people one at a time measurably worse than enrolling them together (docs/BENCHMARKS.md). Once
    the UBM is final the frames are summarised anyway, so this costs little space."""
    a = np.asarray(f)
    if a.ndim == 2 and a.dtype == np.float64:
        return a.astype(np.float32)
    return a


def _loaded_features(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _group_by_shard(rec) -> dict[str, list[str]]:
    """Shard name -> the speakers of ``rec`` whose data it holds (speakers without one left out)."""
    out: dict[str, list[str]] = {}
    for s in rec.speakers:
        if s in rec._shard_of:
            out.setdefault(rec._shard_of[s], []).append(s)
    return out


MAX_SHARDS = 64
"""A model whose speakers are spread over more shards than this (one per enrollment, over time) has
its smallest shards merged into the next one written, so loading does not open a file per speaker
(shards then hold ~:data:`MAX_MERGED_SPEAKERS` speakers each: ~80 shards at 1000 speakers at most)."""
MAX_MERGED_SPEAKERS = 64
"""At most this many speakers' data is rewritten by such a merge (bounded extra time per update)."""


def write_shards(rec, folder: str | os.PathLike) -> list[str]:
    """Write one new shard (in ``folder``) with the per-speaker data of every speaker of ``rec``
    that is not in a shard of ``folder`` yet (and, beyond :data:`MAX_SHARDS` shards, of the
    speakers of the smallest ones); returns the names of all shards ``rec`` now uses."""
    folder = Path(folder)
    existing = {n: (folder / n).is_file() for n in set(rec._shard_of.values())}
    for s in list(rec._shard_of):
        if s not in rec.speakers or not existing[rec._shard_of[s]]:
            del rec._shard_of[s]
    new = [s for s in rec.speakers if s not in rec._shard_of]
    groups = _group_by_shard(rec) if new else {}
    if len(groups) + 1 > MAX_SHARDS:
        merged: list[str] = []
        n_merged = 0
        for _, members in sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0])):
            if len(merged) + len(members) > MAX_MERGED_SPEAKERS:
                break
            merged += members
            n_merged += 1
        if n_merged >= 2:       # (rewriting one shard's speakers alone would change nothing)
            for s in merged:
                del rec._shard_of[s]
            new = [s for s in rec.speakers if s not in rec._shard_of]
    if new:
        arrays: dict[str, np.ndarray] = {}
        counts = []
        for i, b in enumerate(rec.backends):
            wins = {s: [] for s in new}
            for s, _, f in rec._windows[i]:
                if s in wins:
                    wins[s].append(f)
            per = [b.speaker_arrays(s) for s in new]
            arrays.update(pack(f"f{i}", [_stored_features(f) for s in new for f in rec._feats[i][s]]))
            arrays.update(pack(f"w{i}", [_stored_features(f) for s in new for f in wins[s]]))
            arrays.update(pack(f"s{i}", [a for p in per for a in p]))
            counts.append([[len(rec._feats[i][s]), len(wins[s]), len(p)] for s, p in zip(new, per)])
        name = shards.write_shard(folder, arrays, {"speakers": new, "counts": counts})
        paths.sync_dir(folder)
        for s in new:
            rec._shard_of[s] = name
    return sorted(set(rec._shard_of.values()))


def recognizer_arrays(rec) -> dict[str, np.ndarray]:
    """Everything in the model file of ``rec`` as a flat dict of arrays (the per-speaker bulk is in
    shards, which :func:`write_shards` must have written)."""
    arrays: dict[str, np.ndarray] = {}
    backend_params = []
    own_names = []
    for i, b in enumerate(rec.backends):
        a, p = b.get_shared_state()
        arrays.update({f"b{i}/{k}": v for k, v in a.items()})
        backend_params.append(p)
        arrays.update(pack(f"p{i}", [_stored_features(f) for _, _, f in rec._pseudo[i]]))
        names = [s for s in rec.speakers if s in rec._own[i]]
        arrays.update(pack(f"o{i}", [rec._own[i][s] for s in names]))
        own_names.append(names)
        # (speaker index, fold) of each calibration window, in order: an array, not JSON (16 000
        # pairs at 1000 speakers)
        index = {s: k for k, s in enumerate(rec.speakers)}
        arrays[f"windows{i}"] = np.array([(index[s], f) for s, f, _ in rec._windows[i]], dtype=np.int64).reshape(-1, 2)
    cal_a, cal_p = rec.calibrator.get_state()
    arrays.update(cal_a)
    arrays["card.json"] = _pack_json(rec.card())
    arrays["state.json"] = _pack_json({"backend_params": backend_params, "calibration": cal_p,
                                       "target_far": rec.target_far,
                                       "n_clips": {s: len(rec._feats[0][s]) for s in rec.speakers},
                                       "pseudo": [[[s, f] for s, f, _ in p] for p in rec._pseudo],
                                       "folds": rec._folds,
                                       "layout": LAYOUT_SHARDS,
                                       "shards": _group_by_shard(rec),
                                       "own": own_names})
    return arrays


def write_recognizer(rec, fileobj_path: Path) -> None:
    """Write to exactly ``fileobj_path`` (no atomic dance; for callers that manage temp files),
    after the shards it needs (in ``shards/`` beside it; see :func:`write_shards`)."""
    write_shards(rec, Path(fileobj_path).parent / shards.SHARD_DIR)
    arrays = recognizer_arrays(rec)
    fd = os.open(fileobj_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        # uncompressed: the bulk is in shards; what is left is small
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())


def referenced_shards(model_file: str | os.PathLike) -> set[str]:
    """Names of the shards a model file uses (empty for files from before shards)."""
    with _open_npz(Path(model_file)) as z:
        state = _unpack_json(z["state.json"]) if "state.json" in z.files else {}
    return set(state.get("shards", {}))


def remove_unused_shards(folder: str | os.PathLike) -> list[str]:
    """Delete the shards in ``folder``/shards that no ``.npz`` model file of ``folder`` uses (for a
    model directory outside the store; the store prunes its own, see ``Store.prune_models``)."""
    folder = Path(folder)
    sdir = folder / shards.SHARD_DIR
    if not sdir.is_dir():
        return []
    used: set[str] = set()
    for f in folder.glob("*.npz"):
        try:
            used |= referenced_shards(f)
        except ModelError:
            return []   # cannot tell what a damaged file needs: delete nothing
    removed = []
    for p in sdir.glob(f"*{shards.SUFFIX}"):
        if p.name not in used and not p.name.startswith(shards.TMP_PREFIX):
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def save_recognizer(rec, path: str | os.PathLike | None = None) -> Path:
    """Atomically write ``rec`` to ``path`` (a ``.npz`` file or a model directory); shards no model
    file of that directory uses any more are deleted afterwards."""
    target = model_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write_recognizer(rec, tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    paths.sync_dir(target.parent)
    remove_unused_shards(target.parent)
    return target


def read_card(path: str | os.PathLike | None = None) -> dict[str, Any]:
    p = model_path(path)
    with _open_npz(p) as z:
        return _unpack_json(z["card.json"])


def _open_npz(p: Path):
    if not p.exists():
        raise ModelMissingError(f"no enrolled model at {p}; enroll someone first: `voicelive enroll NAME FILE...`")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"model file {p} is corrupt ({exc}); re-enroll or restore a backup") from exc


def load_recognizer(path: str | os.PathLike | None = None):
    """Load a saved recognizer, refusing one whose features differ from this version's."""
    from voicelive.recognition.recognizer import Recognizer

    p = model_path(path)
    with _open_npz(p) as z:
        try:
            arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"model file {p} is corrupt ({exc}); re-enroll or restore a backup") from exc
    if "card.json" not in arrays or "state.json" not in arrays:
        raise ModelError(f"{p} is not a VoiceLive model file")
    card = _unpack_json(arrays["card.json"])
    state = _unpack_json(arrays["state.json"])
    if card.get("format") != 1:
        raise ModelError(f"model {p} has format {card.get('format')}, this version reads format 1; re-enroll")
    backends = make_backends(card["backend"])
    members = card["members"]
    names_now = [b.name for b in backends]
    names_then = [m["name"] for m in members]
    if names_now != names_then:
        raise ModelError(f"model {p} was built with backends {names_then} but {names_now} are available now "
                         "(missing GE2E weights? run `voicelive setup-models`), or retrain with `voicelive train`")
    for b, m in zip(backends, members):
        if b.feature_hash != m["feature_hash"]:
            raise ModelError(f"model {p} was built with other '{b.name}' features (hash {m['feature_hash']}, "
                             f"this version: {b.feature_hash}); retrain with `voicelive train`")
    rec = Recognizer(backends, name=card["backend"], target_far=float(state["target_far"]))
    speakers = list(card["speakers"])
    if state.get("layout") == LAYOUT_SHARDS:
        _load_sharded(rec, p, arrays, state, speakers)
    else:
        _load_single_file(rec, p, arrays, state, speakers)
    rec._folds = {s: [int(f) for f in v] for s, v in state["folds"].items()}
    rec._speakers = speakers
    rec.calibrator = Calibrator.from_state(arrays, state["calibration"])
    rec.set_target_far(rec.target_far)
    return rec


def _backend_arrays(arrays: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    prefix = f"b{i}/"
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _load_single_file(rec, p: Path, arrays, state, speakers: list[str]) -> None:
    """Files written before shards: everything in the one file."""
    for i, (b, bp) in enumerate(zip(rec.backends, state["backend_params"])):
        b.set_state(_backend_arrays(arrays, i), bp)
        n_clips = [int(state["n_clips"][s]) for s in speakers]
        if is_packed(arrays, f"f{i}"):
            flat = [_loaded_features(a) for a in unpack(arrays, f"f{i}")]
            pseudo = [_loaded_features(a) for a in unpack(arrays, f"p{i}")]
            windows = [_loaded_features(a) for a in unpack(arrays, f"w{i}")]
        else:  # files written before the features were packed
            flat = [_loaded_features(arrays[f"f{i}/{si}/{ci}"]) for si in range(len(speakers))
                    for ci in range(n_clips[si])]
            pseudo = [_loaded_features(arrays[f"p{i}/{pi}"]) for pi in range(len(state["pseudo"][i]))]
            windows = [_loaded_features(arrays[f"w{i}/{wi}"]) for wi in range(len(state["windows"][i]))]
        if len(flat) != sum(n_clips) or len(pseudo) != len(state["pseudo"][i]) \
                or len(windows) != len(state["windows"][i]):
            raise ModelError(f"model file {p} is inconsistent (feature counts differ from its state); "
                             "re-enroll or restore a backup")
        starts = np.cumsum([0] + n_clips)
        rec._feats[i] = {s: flat[starts[si]:starts[si + 1]] for si, s in enumerate(speakers)}
        rec._pseudo[i] = [(s, int(f), a) for (s, f), a in zip(state["pseudo"][i], pseudo)]
        rec._windows[i] = [(s, int(f), a) for (s, f), a in zip(state["windows"][i], windows)]


def _load_sharded(rec, p: Path, arrays, state, speakers: list[str]) -> None:
    """Model file + its shards: per speaker, clip features, calibration windows and the backends'
    per-speaker arrays come from the speaker's shard (memory-mapped; nothing is copied)."""
    n_b = len(rec.backends)
    feats: list[dict[str, list]] = [{} for _ in range(n_b)]
    wins: list[dict[str, list]] = [{} for _ in range(n_b)]
    per_spk: list[dict[str, list]] = [{} for _ in range(n_b)]
    live = set(speakers)
    found: dict[str, str] = {}
    for name, members in state["shards"].items():
        sh_arrays, meta = shards.read_shard(p.parent / shards.SHARD_DIR / name)
        try:
            in_shard = list(meta["speakers"])
            for i in range(n_b):
                flat_f, flat_w, flat_s = (unpack(sh_arrays, f"{k}{i}") for k in "fws")
                at = [0, 0, 0]
                for s, (n_f, n_w, n_s) in zip(in_shard, meta["counts"][i]):
                    if s in live and s in members:
                        feats[i][s] = [_loaded_features(a) for a in flat_f[at[0]:at[0] + n_f]]
                        wins[i][s] = [_loaded_features(a) for a in flat_w[at[1]:at[1] + n_w]]
                        per_spk[i][s] = flat_s[at[2]:at[2] + n_s]
                        found[s] = name
                    at = [at[0] + n_f, at[1] + n_w, at[2] + n_s]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model shard {name} of {p} does not match the model ({exc}); "
                             "run `voicelive train` to rebuild the model from the roster") from exc
    missing = [s for s in speakers if s not in found]
    if missing:
        raise ModelError(f"model file {p} names speakers its shards do not hold ({', '.join(missing[:5])}); "
                         "run `voicelive train` to rebuild the model from the roster")
    for i, (b, bp) in enumerate(zip(rec.backends, state["backend_params"])):
        b.set_shared_state(_backend_arrays(arrays, i), bp, per_spk[i])
        if any(len(feats[i][s]) != int(state["n_clips"][s]) for s in speakers):
            raise ModelError(f"model file {p} is inconsistent (feature counts differ from its state); "
                             "run `voicelive train` to rebuild the model from the roster")
        rec._feats[i] = {s: feats[i][s] for s in speakers}
        taken = [iter(wins[i][s]) for s in speakers]
        try:
            rec._windows[i] = [(speakers[k], f, next(taken[k])) for k, f in arrays[f"windows{i}"].tolist()]
        except (KeyError, IndexError, StopIteration):
            raise ModelError(f"model file {p} is inconsistent (calibration windows differ from its shards); "
                             "run `voicelive train` to rebuild the model from the roster") from None
        pseudo = [_loaded_features(a) for a in unpack(arrays, f"p{i}")]
        rec._pseudo[i] = [(s, int(f), a) for (s, f), a in zip(state["pseudo"][i], pseudo)]
        rec._own[i] = dict(zip(state["own"][i], (np.asarray(a) for a in unpack(arrays, f"o{i}"))))
    rec._shard_of = found
