"""`voicelive bench`: the speaker-identification benchmark of PROTOCOL.md (v1).

A fresh system is built for every (seed, k), enrolled from the split's enrollment utterances, and
scores each test utterance. Product backends are calibrated from enrollment data only; the two
reference systems (``seed_svm``, ``seed_catboost``) score with their class probability.
Features are cached per (feature hash, test channel, utterance) for the accuracy part; timing runs
without caches.

``test_channel`` (see :mod:`voicelive.audio.channels`) passes the TEST audio only — known and unknown
test utterances, and the streaming sessions — through a simulated microphone/room/noise channel;
enrollment (and so every speaker model and the calibration) stays clean. ``all`` runs every channel
and reports each metric beside its ratio to ``clean``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.channels import CHANNELS, apply_channel, channel_names
from voicelive.evaluation import metrics as M
from voicelive.evaluation.corpus import Corpus, Split, Utterance, load_manifest, protocol_split
from voicelive.recognition.base import Backend
from voicelive.recognition.classifiers import CatBoostBackend, SVMBackend
from voicelive.recognition.recognizer import Recognizer
from voicelive.recognition.registry import DEFAULT_BACKEND, make_backends

REFERENCE_SYSTEMS = ("seed_svm", "seed_catboost")
METRICS = ("closed_acc", "weighted_f1", "open_eer", "dir_far1", "dir_far5", "min_dcf")
THRESHOLD_METRICS = ("fa_at_threshold", "dir_at_threshold")
WINDOW_S = 2.0


class BenchSystem:
    """One system under test: a calibrated product recognizer or a reference classifier."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reference = name in REFERENCE_SYSTEMS
        if name == "seed_svm":
            self.backends: list[Backend] = [SVMBackend("seed_mfcc")]
        elif name == "seed_catboost":
            self.backends = [CatBoostBackend("seed")]
        else:
            self.backends = make_backends(name)
        self.rec: Recognizer | None = None

    @property
    def has_embedding(self) -> bool:
        return any(b.has_embedding for b in self.backends)

    def fresh(self) -> "BenchSystem":
        clone = object.__new__(BenchSystem)
        clone.name, clone.reference = self.name, self.reference
        clone.backends = [b.fresh() for b in self.backends]
        clone.rec = None
        return clone

    def fit(self, feats: Sequence[dict[str, list[Any]]], clips: dict[str, list[np.ndarray]] | None = None) -> None:
        if self.reference:
            self.backends[0].enroll_features(feats[0])
        else:
            self.rec = Recognizer(self.backends, name=self.name)
            self.rec.enroll_features(feats, clips_by_speaker=clips)

    @property
    def speakers(self) -> list[str]:
        return self.backends[0].speakers if self.reference else self.rec.speakers

    def score(self, feats: Sequence[Any]) -> np.ndarray:
        if self.reference:
            return np.asarray(self.backends[0].score_features(feats[0]), dtype=np.float64)
        return self.rec.logits_features(feats)

    def extract(self, wave: np.ndarray) -> list[Any]:
        return [b.extract(wave) for b in self.backends]


class FeatureCache:
    """(feature hash, channel, utterance id) -> features, so seeds, k values and backends sharing a
    front end share extraction; channel copies of the audio are kept too."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self._store: dict[tuple[str, str, str], Any] = {}
        self._audio: dict[tuple[str, str], np.ndarray] = {}

    def audio(self, utt: Utterance, channel: str = "clean") -> np.ndarray:
        """The utterance's waveform through ``channel`` (deterministic per utterance id)."""
        if channel == "clean":
            return self.corpus.audio(utt)
        key = (channel, utt.utterance_id)
        w = self._audio.get(key)
        if w is None:
            w = apply_channel(self.corpus.audio(utt), channel, utterance_id=utt.utterance_id)
            self._audio[key] = w
        return w

    def get(self, backend: Backend, utt: Utterance, channel: str = "clean") -> Any:
        key = (backend.feature_hash, channel, utt.utterance_id)
        f = self._store.get(key)
        if f is None:
            f = backend.extract(self.audio(utt, channel))
            self._store[key] = f
        return f

    def embedding(self, backend: Backend, utt: Utterance, channel: str = "clean") -> np.ndarray:
        key = ("emb:" + backend.feature_hash, channel, utt.utterance_id)
        e = self._store.get(key)
        if e is None:
            e = backend.embed_features(self.get(backend, utt, channel))
            self._store[key] = e
        return e


@dataclass
class Progress:
    total: int
    label: str = ""
    done: int = 0
    t0: float = field(default_factory=time.perf_counter)
    enabled: bool = True

    def step(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        frac = self.done / max(1, self.total)
        bar = "#" * int(frac * 30)
        el = time.perf_counter() - self.t0
        eta = el / frac - el if frac > 0 else 0
        sys.stderr.write(f"\r[{bar:<30}] {self.done}/{self.total} {what:<40.40} {el:6.0f}s (eta {eta:4.0f}s)")
        sys.stderr.flush()
        if self.done >= self.total:
            sys.stderr.write("\n")


def _mean_std(values: list[float]) -> dict[str, Any]:
    """Mean and std (ddof=1) over the finite values, and every seed's value in seed order (None
    where a seed had none), so one bad split can be told from a general shift."""
    from voicelive.evaluation.sessions import finite_or_none

    per_seed = [finite_or_none(v) for v in values]
    a = np.asarray([v for v in per_seed if v is not None], dtype=np.float64)
    if a.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "per_seed": per_seed}
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0, "per_seed": per_seed}


def evaluate_split(system: BenchSystem, split: Split, k: int, cache: FeatureCache, *,
                   sessions: bool = False, channel: str = "clean") -> dict[str, Any]:
    """One (system, seed, k): enroll on clean audio, score the tests heard through ``channel``."""
    return evaluate_split_channels(system, split, k, cache, [channel], sessions=sessions)[channel]


def evaluate_split_channels(system: BenchSystem, split: Split, k: int, cache: FeatureCache,
                            channels: Sequence[str], *, sessions: bool = False) -> dict[str, dict[str, Any]]:
    """One (system, seed, k) enrolled ONCE on clean audio, then scored on the tests heard through
    each of ``channels`` -> ``{channel: metrics}``."""
    sysk = system.fresh()
    enr = split.enrollment(k)
    feats = [{s: [cache.get(b, u) for u in utts] for s, utts in enr.items()} for b in sysk.backends]
    sysk.fit(feats, {s: [cache.corpus.audio(u) for u in utts] for s, utts in enr.items()})
    out = {ch: _score_split(sysk, split, cache, ch, sessions=sessions) for ch in channels}
    if sessions and not sysk.reference:
        for ch, held in _held_out_sessions(system, split, k, cache, channels).items():
            out[ch]["held_out_sessions"] = held
    return out


def _held_out_sessions(system: BenchSystem, split: Split, k: int, cache: FeatureCache,
                       channels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """More strangers than the split's unknown speakers (PROTOCOL's caveat: two of them bound a
    false-accept rate poorly): each enrolled speaker in turn is left out of the roster, the system
    is enrolled on the others, and the left-out person's own session streams are judged as an
    unknown voice's. Pooled over the speakers left out -> ``{channel: evaluate_sessions result}``."""
    from voicelive.evaluation.sessions import Session, build_sessions, evaluate_sessions, merge_session_results

    enr = split.enrollment(k)
    streams = {ch: build_sessions(cache.corpus, split, channel=ch) for ch in channels}
    parts: dict[str, list[dict[str, Any]]] = {ch: [] for ch in channels}
    for held in sorted(enr):
        rest = {s: utts for s, utts in enr.items() if s != held}
        if len(rest) < max(b.min_speakers for b in system.backends):
            continue
        sysh = system.fresh()
        sysh.fit([{s: [cache.get(b, u) for u in utts] for s, utts in rest.items()} for b in sysh.backends],
                 {s: [cache.corpus.audio(u) for u in utts] for s, utts in rest.items()})
        for ch in channels:
            mine = [Session(s.speaker, False, s.wave) for s in streams[ch] if s.known and s.speaker == held]
            if mine:
                parts[ch].append(evaluate_sessions(sysh.rec, mine))
    return {ch: merge_session_results(p) for ch, p in parts.items() if p}


def _score_split(sysk: BenchSystem, split: Split, cache: FeatureCache, channel: str, *,
                 sessions: bool) -> dict[str, Any]:
    tests = split.known_tests + split.unknown_tests
    scores = np.stack([sysk.score([cache.get(b, u, channel) for b in sysk.backends]) for u in tests])
    out = M.open_set_metrics(scores, sysk.speakers, [u.speaker for u in split.known_tests], len(split.known_tests))
    if not sysk.reference:
        # the product's own threshold (calibrated on enrollment data only), not an oracle one
        t = sysk.rec.threshold_logit
        n_k = len(split.known_tests)
        top, pred = scores.max(axis=1), scores.argmax(axis=1)
        right = np.array([sysk.speakers[p] == u.speaker for p, u in zip(pred[:n_k], split.known_tests)])
        out["fa_at_threshold"] = float(np.mean(top[n_k:] > t)) if len(split.unknown_tests) else float("nan")
        out["dir_at_threshold"] = float(np.mean((top[:n_k] > t) & right))
    if sysk.has_embedding:
        eb = next(b for b in sysk.backends if b.has_embedding)
        embs = np.stack([cache.embedding(eb, u, channel) for u in tests])
        out["verif_eer"] = M.pairwise_verification_eer(embs, [u.speaker for u in tests], seed=split.seed)
    if sessions and not sysk.reference:
        from voicelive.evaluation.sessions import build_sessions, evaluate_sessions

        out["sessions"] = evaluate_sessions(sysk.rec, build_sessions(cache.corpus, split, channel=channel))
    return out


def speech_windows(corpus: Corpus, utts: Sequence[Utterance], n: int, window_s: float = WINDOW_S) -> list[np.ndarray]:
    """``n`` windows of exactly ``window_s`` of real speech (consecutive test utterances joined)."""
    need = int(round(window_s * SAMPLE_RATE))
    stream = np.concatenate([corpus.audio(u) for u in utts])
    while stream.size < need * n:
        stream = np.concatenate([stream, stream])
    return [stream[i * need:(i + 1) * need] for i in range(n)]


def time_system(system: BenchSystem, corpus: Corpus, split: Split, *, k: int = 10,
                n_warmup: int = 3, n_timed: int = 40) -> dict[str, float]:
    """Per-window time (features + scoring, one thread, no caches), enrollment and add-one times."""
    from threadpoolctl import threadpool_limits

    enr = split.enrollment(k)
    waves = {s: [corpus.audio(u) for u in utts] for s, utts in enr.items()}
    with threadpool_limits(1):
        # enrollment of the whole set, from audio
        t0 = time.perf_counter()
        full = system.fresh()
        full.fit([{s: [b.extract(w) for w in ws] for s, ws in waves.items()} for b in full.backends], waves)
        enroll_s = time.perf_counter() - t0
        # add one more speaker to an existing set (all but the last)
        last = sorted(waves)[-1]
        rest = {s: ws for s, ws in waves.items() if s != last}
        add_s = float("nan")
        if len(rest) >= max(b.min_speakers for b in system.backends):
            part = system.fresh()
            part.fit([{s: [b.extract(w) for w in ws] for s, ws in rest.items()} for b in part.backends], rest)
            t0 = time.perf_counter()
            if part.reference:
                part.backends[0].add_speaker(last, waves[last])
            else:
                part.rec.add_speaker(last, waves[last])
            add_s = time.perf_counter() - t0
        windows = speech_windows(corpus, split.known_tests, n_warmup + n_timed)
        times = []
        for i, w in enumerate(windows):
            t0 = time.perf_counter()
            full.score(full.extract(w))
            dt = time.perf_counter() - t0
            if i >= n_warmup:
                times.append(dt * 1000.0)
    return {"ms_per_window_p50": float(np.median(times)), "ms_per_window_p95": float(np.percentile(times, 95)),
            "enroll_s": enroll_s, "add_speaker_s": add_s, "n_enrolled": len(waves)}


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "load_1min": os.getloadavg()[0], "python": platform.python_version()}


def _summary_row(system: BenchSystem, k: int, channel: str, per_seed: list[dict[str, Any]], corpus: Corpus,
                 splits: list[Split], extra) -> dict[str, Any]:
    """Mean ± std over seeds of one (system, k, channel)."""
    row: dict[str, Any] = {"backend": system.name, "k": k, "test_channel": channel}
    for m in METRICS:
        row[m] = _mean_std([r.get(m, float("nan")) for r in per_seed])
    row["verif_eer"] = _mean_std([r["verif_eer"] for r in per_seed]) if system.has_embedding else None
    if not system.reference:
        for m in THRESHOLD_METRICS:
            row[m] = _mean_std([r[m] for r in per_seed])
    from voicelive.evaluation.sessions import sessions_summary

    for key in ("sessions", "held_out_sessions"):
        if all(key in r for r in per_seed):
            row[key] = sessions_summary([r[key] for r in per_seed])
    if extra is not None:
        row.update(extra(system, corpus, splits, k))
    return row


def run_bench(manifest: str | Path, *, backends: Sequence[str] | None = None, ks: Sequence[int] = (5, 10),
              seeds: int = 5, timing: bool = True, progress: bool = True, sessions: bool = True,
              test_channel: str | Sequence[str] = "clean",
              extra: Callable[[BenchSystem, Corpus, list[Split], int], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run PROTOCOL.md. ``test_channel``: a channel name of :data:`CHANNELS`, a list of them, or
    ``"all"``; each result row carries its ``test_channel`` (timing is measured once, on clean
    audio, and copied to every channel's rows)."""
    channels = channel_names(test_channel)
    corpus = load_manifest(manifest)
    names = list(backends) if backends else [DEFAULT_BACKEND, *REFERENCE_SYSTEMS]
    systems = [BenchSystem(n) for n in names]
    splits = [protocol_split(corpus, s) for s in range(seeds)]
    cache = FeatureCache(corpus)
    prog = Progress(total=len(systems) * (len(ks) * seeds * len(channels) + (1 if timing else 0)), enabled=progress)
    results = []
    for system in systems:
        for k in ks:
            by_channel: dict[str, list[dict[str, Any]]] = {c: [] for c in channels}
            for split in splits:
                for c, out in evaluate_split_channels(system, split, k, cache, channels, sessions=sessions).items():
                    by_channel[c].append(out)
                    prog.step(f"{system.name} k={k} {c} seed={split.seed}")
            for channel in channels:
                results.append(_summary_row(system, k, channel, by_channel[channel], corpus, splits, extra))
        if timing:
            t = time_system(system, corpus, splits[0], k=10)
            prog.step(f"{system.name} timing")
            for row in results:
                if row["backend"] == system.name:
                    row.update(t)
    return {
        "corpus": corpus.name,
        "manifest": str(manifest),
        "n_speakers": len(corpus.speakers),
        "dropped_speakers": corpus.dropped_speakers,
        "n_enrolled": len(splits[0].enrolled),
        "default_backend": DEFAULT_BACKEND,
        "seeds": seeds,
        "test_channel": "all" if channels == list(CHANNELS) else ",".join(channels),
        "test_channels": channels,
        "catboost_iterations": CatBoostBackend.DEFAULT_ITERATIONS,
        "machine": machine_info(),
        "results": results,
    }


def _count(pair) -> str:
    """``[hits, n]`` -> ``"hits/n"`` (– when not measured)."""
    return "–" if not pair or not pair[1] else f"{pair[0]}/{pair[1]}"


def _pct(d: dict[str, float] | None) -> str:
    if d is None or not np.isfinite(d["mean"]):
        return "–"
    return f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"


def _worst_pct(d: dict[str, Any]) -> str:
    """The highest seed's value in %: a threshold's promise is judged by its worst split, not its mean."""
    vals = [v for v in d.get("per_seed", []) if v is not None]
    return f"{100 * max(vals):.1f}" if vals else "—"


def _label(r: dict[str, Any], many: bool) -> str:
    """Backend cell of a row: ``fusion`` or, when several channels are in one table, ``fusion | telephone``."""
    return f"{r['backend']} | {r.get('test_channel', 'clean')}" if many else r["backend"]


def _ratio(value: dict[str, float] | None, ref: dict[str, float] | None, *, pct: bool = True) -> str:
    if value is None or not np.isfinite(value["mean"]):
        return "–"
    v = f"{100 * value['mean']:.1f}" if pct else f"{value['mean']:.3f}"
    if ref is None or not np.isfinite(ref["mean"]) or ref["mean"] == 0:
        return v
    return f"{v} (×{value['mean'] / ref['mean']:.2f})"


RATIO_METRICS = (("closed_acc", "closed acc %", True), ("open_eer", "open EER %", True),
                 ("dir_far1", "DIR@1%", True), ("min_dcf", "minDCF", False),
                 ("fa_at_threshold", "unknown accepted %", True), ("dir_at_threshold", "known accepted+right %", True))


def channel_ratio_table(res: dict[str, Any]) -> str:
    """One row per (backend, k, channel): each metric's mean with its ratio to the same backend and
    k on clean test audio (for EER and minDCF a ratio above 1 is worse; for accuracies, below 1)."""
    clean = {(r["backend"], r["k"]): r for r in res["results"] if r.get("test_channel", "clean") == "clean"}
    has_sessions = any(r.get("sessions") for r in res["results"])
    head = "| backend | k | channel | " + " | ".join(h for _, h, _ in RATIO_METRICS)
    n_cols = 3 + len(RATIO_METRICS)
    if has_sessions:
        head += " | sessions acc@4s % | sessions FA@4s %"
        n_cols += 2
    lines = [head + " |", "|" + "---|" * n_cols]
    for r in res["results"]:
        ref = clean.get((r["backend"], r["k"]))
        cells = [_ratio(r.get(m), ref.get(m) if ref else None, pct=p) for m, _, p in RATIO_METRICS]
        if has_sessions:
            ss, rs = r.get("sessions") or {}, (ref or {}).get("sessions") or {}
            cells += [_ratio(ss.get("acc@4s"), rs.get("acc@4s")), _ratio(ss.get("far@4s"), rs.get("far@4s"))]
        lines.append(f"| {r['backend']} | {r['k']} | {r.get('test_channel', 'clean')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(res: dict[str, Any]) -> str:
    many = len(res.get("test_channels", ["clean"])) > 1
    head = ("| backend | " + ("channel | " if many else "") + "k | closed acc % | weighted F1 % | open EER % | DIR@1% "
            "| DIR@5% | minDCF | verif EER % | ms/window p50 | p95 | enroll s | add one s |")
    lines = [f"**{res['corpus']}**: {res['n_speakers']} speakers ({res['n_enrolled']} enrolled per seed), "
             f"{res['seeds']} seeds; test channel: {res.get('test_channel', 'clean')} (enrollment clean); "
             f"machine: {res['machine']['cores']} cores, {res['machine']['cpu']}, "
             f"load {res['machine']['load_1min']:.2f}", ""]
    if many:
        lines += ["Each metric with its ratio to clean test audio (same backend and k):", "",
                  channel_ratio_table(res), ""]
    lines += [head, "|" + "---|" * (14 if many else 13)]
    for r in res["results"]:
        dcf = r["min_dcf"]
        lines.append(
            f"| {_label(r, many)} | {r['k']} | {_pct(r['closed_acc'])} | {_pct(r['weighted_f1'])} | {_pct(r['open_eer'])} "
            f"| {_pct(r['dir_far1'])} | {_pct(r['dir_far5'])} | {dcf['mean']:.3f} ± {dcf['std']:.3f} "
            f"| {_pct(r['verif_eer'])} | {r.get('ms_per_window_p50', float('nan')):.1f} "
            f"| {r.get('ms_per_window_p95', float('nan')):.1f} | {r.get('enroll_s', float('nan')):.2f} "
            f"| {r.get('add_speaker_s', float('nan')):.2f} |")
    rows = [r for r in res["results"] if r.get("fa_at_threshold")]
    if rows:
        lines += ["", "At the product's own threshold (target FAR 1 %, calibrated from enrollment data only):", "",
                  "| backend | " + ("channel | " if many else "") + "k | unknown utterances accepted % "
                  "| worst seed % | known accepted and right % |", "|---|---|---|---|---|" + ("---|" if many else "")]
        lines += [f"| {_label(r, many)} | {r['k']} | {_pct(r['fa_at_threshold'])} | {_worst_pct(r['fa_at_threshold'])} "
                  f"| {_pct(r['dir_at_threshold'])} |" for r in rows]
    rows = [r for r in res["results"] if r.get("sessions")]
    if rows:
        lines += ["", "Streaming sessions (the app's pipeline and threshold; 6-s streams after 1 s of silence):", "",
                  "| backend | " + ("channel | " if many else "") + "k | acc@1s | acc@2s | acc@4s | acc@6s "
                  "| FA@1s | FA@2s | FA@4s | FA@6s | first correct median s | p95 s |", "|" + "---|" * (13 if many else 12)]
        for r in rows:
            ss = r["sessions"]
            cells = [_pct(ss[f"acc@{t}s"]) for t in (1, 2, 4, 6)] + [_pct(ss[f"far@{t}s"]) for t in (1, 2, 4, 6)]
            lines.append(f"| {_label(r, many)} | {r['k']} | " + " | ".join(cells)
                         + f" | {ss['ttfc_median_s']:.2f} | {ss['ttfc_p95_s']:.2f} |")
        lines += ["", "Strangers at any moment, not only at the check times: the split's unknown streams, and every "
                  "enrolled person's own streams judged by a roster enrolled without them (left out in turn):", "",
                  "| backend | " + ("channel | " if many else "") + "k | unknown streams ever named "
                  "| known streams ever shown as someone else | left-out FA@1s | FA@2s | FA@4s | FA@6s "
                  "| left-out streams ever named |", "|" + "---|" * (10 if many else 9)]
        for r in rows:
            ss, ho = r["sessions"], r.get("held_out_sessions")
            ho_cells = ([_pct(ho[f"far@{t}s"]) for t in (1, 2, 4, 6)] + [_count(ho.get("unknown_ever_named"))]
                        if ho else ["–"] * 5)
            lines.append(f"| {_label(r, many)} | {r['k']} | {_count(ss.get('unknown_ever_named'))} "
                         f"| {_count(ss.get('known_ever_wrong'))} | " + " | ".join(ho_cells) + " |")
    return "\n".join(lines)


def write_results(res: dict[str, Any], out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    (out / "results.md").write_text(markdown_table(res) + "\n")
    return out / "results.json"
