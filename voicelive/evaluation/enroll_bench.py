"""Enrollment scaling benchmark: time from the last clip to an active updated model.

For each backend and roster size N, a data dir is prepared with N enrolled speakers and an active
model; then a new speaker is enrolled through the product path — an
:class:`~voicelive.enrollment.session.EnrollmentSession` fed with synthetic speech, then
:meth:`~voicelive.enrollment.session.EnrollmentSession.finish` — and its ``update_s`` is the
figure of merit (store write + :func:`~voicelive.enrollment.model_update.sync_model`: load the
active model, extract the new speaker's features, add it, recalibrate, save and activate). The
issue-4 target is ``update_s <= 2 s`` for the embedding/GMM backends at N = 10, 100, 1000.

How the rosters are made:

* **N = pool size (10)**: everything is real. Ten synthetic voices (``tests/synth.py``), eight
  3.5-s clips each (≈ 25 s of speech, what a session collects), are enrolled with the store and
  ``sync_model`` like any user.
* **Larger N**: extracting features of thousands of clips and calibration windows would take
  hours, so the roster is synthesised *at the feature level* from the pool: speaker j copies the
  clip and calibration-window features of pool voice ``j % 10`` with a speaker-specific offset
  (a shift of the GE2E embedding; a cepstral shift of the GMM frames). The model is built
  and calibrated once (untimed) with the recognizer's own code and saved as the active version;
  the store gets the same number of (short, placeholder) clips per speaker, so ``sync_model``
  sees a model in step with the roster and takes its incremental path exactly as in the field.
  This uses the recognizer's internal state (``_feats``, ``_windows``, ``_folds``) because no
  public call accepts precomputed calibration windows.

Rosters are built in increasing size; a size whose update is predicted (quadratic growth from the
previous size) to take longer than ``max_predicted_s`` is skipped and reported as such.

Retraining backends (``seed-svm``, ``seed-catboost``) have no incremental path; they are timed
separately at one size, all real audio.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from voicelive import SAMPLE_RATE, __version__
from voicelive.errors import ConfigError

log = logging.getLogger(__name__)

TARGET_S = 2.0
POOL_VOICES = 10
CLIPS_PER_SPEAKER = 8
CLIP_S = 3.5
PLACEHOLDER_CLIP_S = 0.25
NEW_VOICE = 57
NEW_SPEAKER_SPEECH_S = 25.0
"""Speech the timed session collects (the session's default target)."""
DEFAULT_SIZES = (10, 100, 1000)
DEFAULT_BACKENDS = ("ge2e", "fusion")
DEFAULT_RETRAIN = ("seed-svm", "seed-catboost")
COMMAND = "voicelive bench-enroll"


@dataclass
class EnrollTiming:
    """One measured (or skipped) enrollment.

    Attributes
    ----------
    backend : str
    n_speakers : int
        Speakers enrolled before the new one.
    mode : str
        ``incremental`` (speaker added to the loaded model) or ``retrain`` (model rebuilt).
    update_s : float or None
        From the end of recording to the new active model (``EnrollmentResult.update_s``).
    store_s, load_s, features_s, calibrate_s, save_s : float or None
        Parts of ``update_s``: clips written to the store; active model loaded; the new speaker's
        clip + calibration-window features extracted and added (for a retrain: every speaker's
        features and the training); calibration on the whole roster; model written and activated.
    model_mb : float or None
        Size of the saved model: its file plus the shards it uses (see
        :mod:`voicelive.recognition.shards`).
    written_mb : float or None
        What the update wrote: the model file plus the shards it created.
    roster : str
        ``real`` or ``synthesised`` (feature level, see the module docs).
    note : str
        Why a row was skipped, or anything unusual.
    """

    backend: str
    n_speakers: int
    mode: str
    update_s: float | None = None
    store_s: float | None = None
    load_s: float | None = None
    features_s: float | None = None
    calibrate_s: float | None = None
    save_s: float | None = None
    model_mb: float | None = None
    written_mb: float | None = None
    roster: str = "real"
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        return None if self.update_s is None else self.update_s <= TARGET_S


@dataclass
class EnrollBenchResult:
    rows: list[EnrollTiming] = field(default_factory=list)
    command: str = COMMAND
    machine: dict[str, Any] = field(default_factory=dict)


# -- synthetic audio --------------------------------------------------------------------------------

def _synth_module():
    """``tests/synth.py`` of the source checkout (the benchmark's voices)."""
    path = Path(__file__).resolve().parents[2] / "tests" / "synth.py"
    if not path.is_file():
        raise ConfigError(f"the enrollment benchmark needs the synthetic voices of tests/synth.py ({path} "
                          "not found); run it from a VoiceLive source checkout")
    spec = importlib.util.spec_from_file_location("voicelive_bench_synth", path)
    name = spec.name
    if name in sys.modules:
        return sys.modules[name]
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = mod   # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def _session_audio(synth, voice: int, n_utterances: int) -> np.ndarray:
    """What a person enrolling says: sentences with pauses, on a quiet noise bed."""
    parts = [synth.synth_silence(0.5)]
    for k in range(n_utterances):
        parts += [synth.synth_speaker_wave(voice, CLIP_S, seed=1000 + k, pauses=False), synth.synth_silence(0.8)]
    w = np.concatenate(parts)
    return (w + synth.synth_noise(w.size / SAMPLE_RATE, seed=voice, level_dbfs=-65.0)).astype(np.float32)


# -- timing probes ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _probe(times: dict[str, float]):
    """Time the steps of ``sync_model`` (module functions it calls by name) during one finish()."""
    from voicelive.enrollment import model_update as mu

    orig_sync, orig_load, orig_save = mu.sync_model, mu.active_recognizer, mu.save_active

    def load(store):
        t0 = time.perf_counter()
        rec = orig_load(store)
        times["load_s"] = time.perf_counter() - t0
        if rec is not None:
            orig_add = rec.add_speaker

            def add(name, clips):
                t1 = time.perf_counter()
                orig_add(name, clips)
                times["add_s"] = time.perf_counter() - t1

            rec.add_speaker = add
        return rec

    def save(store, rec):
        t0 = time.perf_counter()
        vid = orig_save(store, rec)
        times["save_s"] = time.perf_counter() - t0
        return vid

    def sync(store, **kw):
        t0 = time.perf_counter()
        res = orig_sync(store, **kw)
        times["sync_s"] = time.perf_counter() - t0
        if res.recognizer is not None:
            times.update({f"rec_{k}": v for k, v in res.recognizer.timings.items()})
        return res

    mu.sync_model, mu.active_recognizer, mu.save_active = sync, load, save
    try:
        yield times
    finally:
        mu.sync_model, mu.active_recognizer, mu.save_active = orig_sync, orig_load, orig_save


def _enroll_new(store, synth, backend: str) -> tuple[EnrollTiming, Any]:
    """Enroll the benchmark's new voice through a session; returns the timing and the result."""
    from voicelive.enrollment.session import EnrollmentSession

    session = EnrollmentSession("new-speaker", store=store, backend=backend, prompts=["benchmark"],
                                target_speech_s=NEW_SPEAKER_SPEECH_S)
    session.warm_up()
    wave = _session_audio(synth, NEW_VOICE, int(np.ceil(NEW_SPEAKER_SPEECH_S / 2.5)) + 2)
    for i in range(0, wave.size, 1024):
        session.feed(wave[i:i + 1024])
        if session.done:
            break
    session.flush()
    if not session.done:
        raise ConfigError(f"the benchmark voice gave only {session.accepted_speech_s:.1f} s of accepted speech: "
                          f"{[fb.message for fb in session.feedback]}")
    shard_dir = store.models_dir / "shards"
    shards_before = set(shard_dir.iterdir()) if shard_dir.is_dir() else set()
    times: dict[str, float] = {}
    with _probe(times):
        res = session.finish()
    rebuilt = "add_s" not in times
    calibrate = times.get("rec_calibrate_s")
    if rebuilt:
        features = times.get("rec_extract_s", 0.0) + times.get("rec_train_s", 0.0)
    else:
        features = times["add_s"] - (calibrate or 0.0)
    active = store.active_model()
    file_b = active.path.stat().st_size
    used = [store.models_dir / f for f in active.card.get("files", [])]
    model_b = file_b + sum(p.stat().st_size for p in used)
    written_b = file_b + sum(p.stat().st_size for p in used if p not in shards_before)
    row = EnrollTiming(backend=backend, n_speakers=len(res.speakers) - 1, mode="retrain" if rebuilt else "incremental",
                       update_s=res.update_s, store_s=res.update_s - times.get("sync_s", 0.0),
                       load_s=times.get("load_s"), features_s=features, calibrate_s=calibrate,
                       save_s=times.get("save_s"), model_mb=model_b / 1e6, written_mb=written_b / 1e6)
    return row, res


# -- rosters ---------------------------------------------------------------------------------------

def _pool_store(data_dir: Path, synth, backend: str, n_voices: int):
    """A real roster of ``n_voices`` synthetic voices, enrolled like any user (untimed)."""
    from voicelive.enrollment.model_update import sync_model
    from voicelive.store import Store

    store = Store.open(data_dir)
    for v in range(n_voices):
        clips = [synth.synth_speaker_wave(v, CLIP_S, seed=k) for k in range(CLIPS_PER_SPEAKER)]
        store.add_speaker_with_clips(f"voice{v:02d}", clips, device="synthetic")
    sync_model(store, backend=backend, force_rebuild=True)
    return store


def _offsets(rng: np.random.Generator, rec) -> list[np.ndarray]:
    out = []
    for b in rec.backends:
        out.append(rng.normal(0.0, 0.02 if b.name == "ge2e" else 0.3, 256))
    return out


def _shift(feat: Any, offset: np.ndarray) -> np.ndarray:
    f = np.asarray(feat)
    if f.ndim == 1:            # an embedding
        return (f + offset[:f.size]).astype(f.dtype)
    g = f.copy()               # frames x coefficients: shift the static cepstra
    k = min(13, g.shape[1])
    g[:, :k] += offset[:k].astype(g.dtype)
    return g


def _pool_features(pool_store, pool_rec) -> tuple[list[dict], list[list], dict]:
    """Every backend's features of the pool's clips and calibration windows, from the audio (a saved
    model keeps some of them only as statistics, which cannot be shifted into new voices)."""
    from voicelive.recognition.recognizer import calibration_windows

    feats: list[dict] = [{} for _ in pool_rec.backends]
    windows: list[list] = [[] for _ in pool_rec.backends]
    for v in pool_rec.speakers:
        clips = pool_store.clips(v)
        wins = calibration_windows(clips, pool_rec._folds[v])
        for bi, b in enumerate(pool_rec.backends):
            feats[bi][v] = [b.extract(w) for w in clips]
            windows[bi] += [(v, fold, b.extract(w)) for fold, w in wins]
    return feats, windows, dict(pool_rec._folds)


def _synthesised_store(data_dir: Path, pool, backend: str, n: int, seed: int = 0):
    """A roster of ``n`` speakers made from the pool's features (see module docs and :func:`_pool_features`)."""
    from voicelive.enrollment.model_update import save_active
    from voicelive.recognition.recognizer import Recognizer
    from voicelive.store import SpeakerData, Store, prepare_clip

    pool_feats, pool_windows, pool_folds = pool
    rng = np.random.default_rng(seed)
    pool_names = sorted(pool_feats[0])
    rec = Recognizer.create(backend)
    names = [f"spk{j:05d}" for j in range(n)]
    placeholder_rng = np.random.default_rng(seed + 1)
    speakers = []
    for j, name in enumerate(names):
        v = pool_names[j % len(pool_names)]
        off = _offsets(rng, rec)
        for bi in range(len(rec.backends)):
            rec._feats[bi][name] = [_shift(f, off[bi]) for f in pool_feats[bi][v]]
            rec._windows[bi] += [(name, fold, _shift(f, off[bi])) for s, fold, f in pool_windows[bi] if s == v]
        rec._folds[name] = list(pool_folds[v])
        n_clips = len(pool_feats[0][v])
        w = (0.1 * placeholder_rng.standard_normal(int(PLACEHOLDER_CLIP_S * SAMPLE_RATE))).astype(np.float32)
        speakers.append(SpeakerData(name=name, clips=[prepare_clip(w, device="placeholder")] * n_clips))
    rec._speakers = sorted(names)
    for b, f in zip(rec.backends, rec._feats):
        b.enroll_features(f)
    rec._calibrate()
    store = Store.open(data_dir)
    store.import_speakers(speakers)
    save_active(store, rec)
    return store


# -- the benchmark ------------------------------------------------------------------------------------

def run_enroll_bench(*, sizes: Sequence[int] = DEFAULT_SIZES, backends: Sequence[str] = DEFAULT_BACKENDS,
                     retrain_backends: Sequence[str] = DEFAULT_RETRAIN, retrain_size: int = POOL_VOICES,
                     max_predicted_s: float = 900.0, work_dir: str | os.PathLike | None = None,
                     progress: Callable[[str], None] | None = None) -> EnrollBenchResult:
    """Run the enrollment scaling benchmark; see the module docs.

    Parameters
    ----------
    sizes : sequence of int
        Roster sizes N (speakers enrolled before the timed one); the smallest should be the pool
        size (10), larger ones are synthesised at the feature level.
    backends : sequence of str
        Incremental backends to time at every size.
    retrain_backends : sequence of str
        Backends without an incremental path, timed at ``retrain_size`` (real audio) only.
    max_predicted_s : float
        Skip a size whose update would take longer than this, extrapolating quadratically from
        the previous size (roster building costs as much again).
    work_dir : path, optional
        Where the temporary data dirs go (default: the system temp dir); removed afterwards.
    progress : callable, optional
        Called with one line of text per step.
    """
    from voicelive.recognition.registry import BACKEND_NAMES

    say = progress or (lambda msg: None)
    for b in [*backends, *retrain_backends]:
        if b not in BACKEND_NAMES:
            raise ConfigError(f"unknown backend '{b}'; choose from: {', '.join(BACKEND_NAMES)}")
    sizes = sorted({int(n) for n in sizes})
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"roster sizes must be whole numbers >= 1, got {list(sizes)}")
    synth = _synth_module()
    from voicelive.enrollment.model_update import active_recognizer

    result = EnrollBenchResult(machine={
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
        "voicelive": __version__, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")})
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="vl-enroll-bench-", dir=work_dir))
    try:
        for backend in backends:
            n_pool = min(POOL_VOICES, sizes[0])
            say(f"{backend}: enrolling the {n_pool}-voice pool (real audio, untimed)")
            pool_dir = root / f"{backend}-pool"
            pool_store = _pool_store(pool_dir, synth, backend, n_pool)
            pool_rec = active_recognizer(pool_store)
            pool = _pool_features(pool_store, pool_rec) if any(n != n_pool for n in sizes) else None
            last: tuple[int, float] | None = None
            for n in sizes:
                if last is not None and last[1] * (n / last[0]) ** 2 > max_predicted_s:
                    pred = last[1] * (n / last[0]) ** 2
                    say(f"{backend} N={n}: skipped (predicted ~{pred:.0f} s)")
                    result.rows.append(EnrollTiming(backend, n, "incremental", roster="synthesised",
                                                    note=f"skipped: predicted ~{pred:.0f} s (x{(n / last[0]) ** 2:.0f} "
                                                         f"of N={last[0]})"))
                    continue
                if n == n_pool:
                    store, roster = pool_store, "real"
                else:
                    say(f"{backend} N={n}: building the synthesised roster (untimed)")
                    store, roster = _synthesised_store(root / f"{backend}-{n}", pool, backend, n), "synthesised"
                try:
                    say(f"{backend} N={n}: enrolling the new speaker")
                    row, _ = _enroll_new(store, synth, backend)
                finally:
                    if store is not pool_store:
                        store.close()
                row.roster = roster
                result.rows.append(row)
                say(f"{backend} N={n}: {row.update_s:.2f} s")
                last = (n, float(row.update_s))
            pool_store.close()
        for backend in retrain_backends:
            say(f"{backend}: enrolling {retrain_size} voices (real audio, untimed)")
            store = _pool_store(root / f"{backend}-retrain", synth, backend, retrain_size)
            try:
                say(f"{backend} N={retrain_size}: enrolling the new speaker")
                row, _ = _enroll_new(store, synth, backend)
            finally:
                store.close()
            result.rows.append(row)
            say(f"{backend} N={retrain_size}: {row.update_s:.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def markdown_table(result: EnrollBenchResult) -> str:
    """The results as a markdown table with the command and machine."""
    lines = [
        f"Time from the last clip to an active updated model (target <= {TARGET_S:g} s); "
        f"`{result.command}`",
        "",
        "| backend | enrolled before | mode | roster | update (s) | store | load | features | calibrate | save "
        "| model (MB) | written (MB) | <= 2 s |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in result.rows:
        ok = "—" if r.meets_target is None else ("yes" if r.meets_target else "**no**")
        lines.append(f"| {r.backend} | {r.n_speakers} | {r.mode} | {r.roster} | {_fmt(r.update_s)} | {_fmt(r.store_s)} "
                     f"| {_fmt(r.load_s)} | {_fmt(r.features_s)} | {_fmt(r.calibrate_s)} | {_fmt(r.save_s)} "
                     f"| {_fmt(r.model_mb)} | {_fmt(r.written_mb)} | {ok} |" + (f" {r.note}" if r.note else ""))
    m = result.machine
    lines += ["", f"Machine: {m.get('platform')}, {m.get('cpus')} CPUs, Python {m.get('python')}, "
                  f"voicelive {m.get('voicelive')}."]
    return "\n".join(lines)


def to_json(result: EnrollBenchResult) -> str:
    return json.dumps({"command": result.command, "machine": result.machine,
                       "rows": [dict(asdict(r), meets_target=r.meets_target) for r in result.rows]}, indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m voicelive.evaluation.enroll_bench`` (same options as ``voicelive bench-enroll``)."""
    import argparse

    from voicelive.commands import bench_enroll

    p = argparse.ArgumentParser(prog="python -m voicelive.evaluation.enroll_bench")
    sub = p.add_subparsers(dest="command", required=True)
    bench_enroll.add_parser(sub)
    args = p.parse_args(["bench-enroll", *(sys.argv[1:] if argv is None else argv)])
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
