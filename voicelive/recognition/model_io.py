"""Saving and loading an enrolled :class:`~voicelive.recognition.recognizer.Recognizer`.

One ``.npz`` file holds every backend's state, the calibration, the enrollment features needed to
recalibrate after adding a speaker, and a JSON model card. Writes go to a temp file that is fsynced
and then ``os.replace``d over the old file, so a crash leaves the previous model intact. Loading
checks each backend's feature-config hash against what this version computes and refuses a mismatch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from voicelive import paths
from voicelive.errors import ModelError, ModelMissingError
from voicelive.recognition.calibration import Calibrator
from voicelive.recognition.packing import is_packed, pack, unpack
from voicelive.recognition.registry import make_backends

MODEL_FILE = "model.npz"


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
    """Enrollment features as kept for recalibration: frame matrices (the GMM-UBM's MFCC frames, by
    far the bulk of a model file) in half precision — ample for re-estimating score statistics, and
    it halves the file; vectors (embeddings) unchanged."""
    a = np.asarray(f)
    if a.ndim == 2 and a.dtype in (np.float32, np.float64) and np.all(np.abs(a) < 6e4):
        return a.astype(np.float16)
    return a


def _loaded_features(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float16 else a


def recognizer_arrays(rec) -> dict[str, np.ndarray]:
    """Everything that describes ``rec`` as a flat dict of arrays."""
    arrays: dict[str, np.ndarray] = {}
    backend_params = []
    for i, b in enumerate(rec.backends):
        a, p = b.get_state()
        arrays.update({f"b{i}/{k}": v for k, v in a.items()})
        backend_params.append(p)
        # one packed buffer per list (a member per array cost seconds at 1000 speakers)
        arrays.update(pack(f"f{i}", [_stored_features(f) for s in rec.speakers for f in rec._feats[i][s]]))
        arrays.update(pack(f"p{i}", [_stored_features(f) for _, _, f in rec._pseudo[i]]))
        arrays.update(pack(f"w{i}", [_stored_features(f) for _, _, f in rec._windows[i]]))
    cal_a, cal_p = rec.calibrator.get_state()
    arrays.update(cal_a)
    arrays["card.json"] = _pack_json(rec.card())
    arrays["state.json"] = _pack_json({"backend_params": backend_params, "calibration": cal_p,
                                       "target_far": rec.target_far,
                                       "n_clips": {s: len(rec._feats[0][s]) for s in rec.speakers},
                                       "pseudo": [[[s, f] for s, f, _ in p] for p in rec._pseudo],
                                       "folds": rec._folds,
                                       "windows": [[[s, f] for s, f, _ in w] for w in rec._windows]})
    return arrays


def write_recognizer(rec, fileobj_path: Path) -> None:
    """Write to exactly ``fileobj_path`` (no atomic dance; for callers that manage temp files)."""
    arrays = recognizer_arrays(rec)
    fd = os.open(fileobj_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        # uncompressed: deflating ~100 MB of features cost seconds per update; half precision (above) wins more
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())


def save_recognizer(rec, path: str | os.PathLike | None = None) -> Path:
    """Atomically write ``rec`` to ``path`` (a ``.npz`` file or a model directory)."""
    target = model_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write_recognizer(rec, tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
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
    for i, (b, bp) in enumerate(zip(backends, state["backend_params"])):
        prefix = f"b{i}/"
        b.set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}, bp)
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
    rec._folds = {s: [int(f) for f in v] for s, v in state["folds"].items()}
    rec._speakers = speakers
    rec.calibrator = Calibrator.from_state(arrays, state["calibration"])
    rec.set_target_far(rec.target_far)
    return rec
