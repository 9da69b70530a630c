"""Replay benchmark: does the kiosk open for a recording of an earlier visit played back at the door?

For every seed, a fresh recognizer (default backend) is enrolled from the protocol's k enrollment
utterances and set to the kiosk's target false-accept rate. Then, through the kiosk itself (live
pipeline, door state machine and one shared :class:`~voicelive.kiosk.replay.ReplayGuard`, as
:func:`voicelive.kiosk.session.run_kiosk_offline` runs it):

1. **genuine visits**: every session stream of PROTOCOL.md (known and unknown speakers, 1 s of
   silence then 6 s of speech), one after the other. Each is new audio, so a "replayed recording"
   verdict on one of them is a false alarm.
2. **replays**: every genuine visit that opened the door is played back through each of
   :data:`REPLAY_CONDITIONS` (the attacker's recorder and loudspeaker, the room, the noise), after
   a random 0–0.5 s lead, once with the guard and once without it. An attack *succeeds* when the
   door opens.

3. **the guard alone**, recognizer aside (so also where the door never opens, e.g. on 0.4-s
   digits): every stream's visit is remembered as the kiosk keeps one; then each stream's first
   3 s of windows (0.5-s hop) are checked against the *other* streams (a hit is a false alarm) and
   each replay's against all (a hit on its own original is a detection). The largest one-window
   similarity of genuine speech to another visit is the threshold's margin.
4. **a crowded memory**: :data:`~voicelive.kiosk.replay.MAX_REMEMBERED` visits (the guard's
   limit) of about 7 s each, built from the corpus's utterances that none of the seed's streams
   use, speaker by speaker — the same people saying other sentences, or the same digits again, as
   regulars at a door do — and each stream checked against them. Every hit is a false alarm,
   unless the corpus itself holds the same recording twice (asterisk_prompts splices some prompts
   from one recording, e.g. ``vm-incorrect`` and ``vm-incorrect-mailbox``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.channels import apply_channel, utterance_seed
from voicelive.dsp.fingerprint import fingerprint
from voicelive.evaluation.corpus import load_manifest, protocol_split
from voicelive.evaluation.sessions import BLOCK_SIZE, build_sessions
from voicelive.kiosk.access import KioskPolicy
from voicelive.kiosk.replay import ReplayGuard, visit_fingerprint
from voicelive.kiosk.session import run_kiosk_offline
from voicelive.recognition.recognizer import Recognizer
from voicelive.recognition.registry import DEFAULT_BACKEND

__all__ = ["REPLAY_CONDITIONS", "run_replay_bench", "markdown_table", "to_json", "COMMAND"]

COMMAND = "voicelive bench-replay"

REPLAY_CONDITIONS: dict[str, tuple[str, ...]] = {
    "direct": (),                          # a perfect recorder and loudspeaker (or a cable)
    "speaker": ("laptop",),                # small loudspeaker/microphone colour + noise at 25 dB SNR
    "speaker-room": ("laptop", "reverb"),  # ... played from across a room (RT60 0.4 s)
    "speaker-noisy": ("laptop", "noisy"),  # ... with a fan running (pink noise, 10 dB SNR)
    "phone": ("laptop", "telephone"),      # a phone's recorder and its 300-3400 Hz loudspeaker
}
"""Replay paths, as chains of :mod:`voicelive.audio.channels` (each seeded per stream)."""

WINDOW_S, HOP_S = 2.0, 0.5


def replay_wave(wave: np.ndarray, condition: str, stream_id: str) -> np.ndarray:
    """``wave`` played back through ``condition``, after a lead of 0–0.5 s (seeded by the id)."""
    y = wave
    for k, ch in enumerate(REPLAY_CONDITIONS[condition]):
        y = apply_channel(y, ch, utterance_id=f"replay:{condition}:{k}:{stream_id}")
    lead = int(np.random.default_rng(utterance_seed(f"replay-lead:{stream_id}")).integers(0, SAMPLE_RATE // 2))
    return np.concatenate([np.zeros(lead, np.float32), y]).astype(np.float32)


def _windows(wave: np.ndarray) -> list[np.ndarray]:
    n, hop = int(WINDOW_S * SAMPLE_RATE), int(HOP_S * SAMPLE_RATE)
    return [wave[i:i + n] for i in range(0, max(1, wave.size - n + 1), hop)]


def _attempt_windows(wave: np.ndarray, lead_s: float) -> list[np.ndarray]:
    """The windows a streak would check: 2-s windows every 0.5 s ending 1.0–3.5 s into the speech."""
    n, hop = int(WINDOW_S * SAMPLE_RATE), int(HOP_S * SAMPLE_RATE)
    ends = [int((lead_s + 1.0) * SAMPLE_RATE) + i * hop for i in range(6)]
    return [wave[max(0, e - n):e] for e in ends if e <= wave.size]


def guard_alone(waves: Sequence[np.ndarray], policy: KioskPolicy, *, tag: str) -> dict[str, Any]:
    """Part 3 of the module docstring, for one seed's streams."""
    from voicelive.evaluation.sessions import LEAD_SILENCE_S

    guard = ReplayGuard(policy.replay_similarity)
    keys = [guard.remember(visit_fingerprint([fingerprint(w) for w in _windows(x)]), speaker=str(i))
            for i, x in enumerate(waves)]
    index = guard.index
    margin, false_alarms = [], 0
    for i, x in enumerate(waves):
        fps = [fingerprint(w) for w in _attempt_windows(x, LEAD_SILENCE_S)]
        margin.append(max((index.best(f, exclude=[keys[i]])[1] for f in fps), default=0.0))
        false_alarms += guard.check(fps, exclude=[keys[i]]) is not None
    detected = {}
    for cond in REPLAY_CONDITIONS:
        hits = 0
        for i, x in enumerate(waves):
            y = replay_wave(x, cond, f"{tag}:{i}")
            lead = (y.size - x.size) / SAMPLE_RATE + LEAD_SILENCE_S
            m = guard.check([fingerprint(w) for w in _attempt_windows(y, lead)])
            hits += m is not None and m.speaker == str(i)
        detected[cond] = hits
    return {"streams": len(waves), "false_alarms": int(false_alarms), "margin": margin, "detected": detected}


def crowded_memory(corpus, split, policy: KioskPolicy, *, visit_s: float = 7.0) -> dict[str, Any]:
    """Part 4 of the module docstring, for one seed."""
    from voicelive.evaluation.sessions import GAP_S, LEAD_SILENCE_S
    from voicelive.kiosk.replay import MAX_REMEMBERED

    used = {u.utterance_id for u in split.known_tests + split.unknown_tests}
    pools = {spk: [u for u in us if u.utterance_id not in used] for spk, us in corpus.by_speaker().items()}
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    guard = ReplayGuard(policy.replay_similarity)
    while len(guard) < MAX_REMEMBERED and any(pools.values()):
        for spk, pool in pools.items():
            parts, n = [], 0
            while pool and n < visit_s * SAMPLE_RATE:
                w = corpus.audio(pool.pop())
                parts += [w, gap]
                n += w.size + gap.size
            if parts:
                guard.remember(visit_fingerprint([fingerprint(w) for w in _windows(np.concatenate(parts))]))
            if len(guard) >= MAX_REMEMBERED:
                break
    sessions = build_sessions(corpus, split)
    hits = sum(guard.check([fingerprint(w) for w in _attempt_windows(s.wave, LEAD_SILENCE_S)]) is not None
               for s in sessions)
    return {"visits": len(guard), "attempts": len(sessions), "false_alarms": int(hits)}


def _outcome(session) -> str:
    ds = session.decisions
    if any(d.decision == "granted" for d in ds):
        return "opened"
    if any(d.replay for d in ds):
        return "replay"
    if ds:
        return "denied"
    return "nothing"


def evaluate_replay_split(rec: Recognizer, sessions, policy: KioskPolicy, *, tag: str) -> dict[str, Any]:
    guard = ReplayGuard(policy.replay_similarity)
    genuine = []
    granted = []
    for i, s in enumerate(sessions):
        ks = run_kiosk_offline(s.wave, rec, policy=policy, block_size=BLOCK_SIZE, replay_guard=guard)
        genuine.append(_outcome(ks))
        if genuine[-1] == "opened":
            granted.append((f"{tag}:{i}", s))
    off = dataclasses.replace(policy, replay_guard=False)
    replays: dict[str, dict[str, list[str]]] = {}
    for cond in REPLAY_CONDITIONS:
        with_guard, without = [], []
        for sid, s in granted:
            y = replay_wave(s.wave, cond, sid)
            with_guard.append(_outcome(run_kiosk_offline(y, rec, policy=policy, block_size=BLOCK_SIZE,
                                                         replay_guard=guard)))
            without.append(_outcome(run_kiosk_offline(y, rec, policy=off, block_size=BLOCK_SIZE)))
        replays[cond] = {"guard": with_guard, "no_guard": without}
    return {"genuine": genuine, "replays": replays, "alone": guard_alone([s.wave for s in sessions], policy, tag=tag)}


def run_replay_bench(manifest: str | Path, *, seeds: Sequence[int] = range(3), k: int = 10,
                     policy: KioskPolicy | None = None, backend: str = DEFAULT_BACKEND,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    policy = policy if policy is not None else KioskPolicy()
    corpus = load_manifest(manifest)
    say = progress or (lambda _m: None)
    from voicelive.evaluation.bench import machine_info

    t0 = time.perf_counter()
    per_seed = []
    for seed in seeds:
        split = protocol_split(corpus, seed)
        rec = Recognizer.create(backend, target_far=policy.target_far)
        rec.enroll({s: [corpus.audio(u) for u in us] for s, us in split.enrollment(k).items()})
        r = evaluate_replay_split(rec, build_sessions(corpus, split), policy, tag=f"{corpus.name}:{seed}")
        r["crowded"] = crowded_memory(corpus, split, policy)
        per_seed.append(r)
        opened = sum(o == "opened" for o in r["genuine"])
        got_in = {c: sum(o == "opened" for o in v["guard"]) for c, v in r["replays"].items()}
        say(f"seed {seed}: {opened}/{len(r['genuine'])} genuine visits opened; replays that got in: "
            + ", ".join(f"{c} {n}/{opened}" for c, n in got_in.items()) + f" ({time.perf_counter() - t0:.0f} s)")
    return {"corpus": Path(manifest).parent.name, "n_speakers": len(corpus.speakers), "backend": backend,
            "k": k, "seeds": list(seeds), "policy": dataclasses.asdict(policy), "machine": machine_info(),
            "fingerprint_ms_per_window": _fingerprint_cost(corpus, split),
            "elapsed_s": time.perf_counter() - t0, **summarise(per_seed)}


def _fingerprint_cost(corpus, split) -> float:
    """Median milliseconds to fingerprint one 2-s window of real speech (one thread)."""
    wave = np.concatenate([corpus.audio(u) for u in split.known_tests[:4]])
    windows = [w for w in _windows(wave) if w.size == int(WINDOW_S * SAMPLE_RATE)][:20] or [wave]
    for w in windows[:3]:
        fingerprint(w)
    ts = []
    for w in windows:
        t = time.perf_counter()
        fingerprint(w)
        ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))


def summarise(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    genuine = [o for r in per_seed for o in r["genuine"]]
    margin = np.array([m for r in per_seed for m in r["alone"]["margin"]], dtype=np.float64)
    conds = {}
    for cond in REPLAY_CONDITIONS:
        g = [o for r in per_seed for o in r["replays"][cond]["guard"]]
        n = [o for r in per_seed for o in r["replays"][cond]["no_guard"]]
        conds[cond] = {"attempts": len(g), "opened_without_guard": sum(o == "opened" for o in n),
                       "opened_with_guard": sum(o == "opened" for o in g),
                       "caught_as_replay": sum(o == "replay" for o in g),
                       "denied_as_unknown": sum(o == "denied" for o in g),
                       "guard_alone_detected": sum(r["alone"]["detected"][cond] for r in per_seed),
                       "guard_alone_attempts": sum(r["alone"]["streams"] for r in per_seed)}
    return {"genuine_visits": len(genuine), "genuine_opened": sum(o == "opened" for o in genuine),
            "genuine_called_replay": sum(o == "replay" for o in genuine),
            "guard_alone_streams": sum(r["alone"]["streams"] for r in per_seed),
            "crowded_visits": min((r["crowded"]["visits"] for r in per_seed if "crowded" in r), default=0),
            "crowded_attempts": sum(r["crowded"]["attempts"] for r in per_seed if "crowded" in r),
            "crowded_false_alarms": sum(r["crowded"]["false_alarms"] for r in per_seed if "crowded" in r),
            "guard_alone_false_alarms": sum(r["alone"]["false_alarms"] for r in per_seed),
            "genuine_similarity_max": float(margin.max()) if margin.size else math.nan,
            "genuine_similarity_p95": float(np.percentile(margin, 95)) if margin.size else math.nan,
            "replays": conds}


def markdown_table(res: dict[str, Any]) -> str:
    m, p = res["machine"], res["policy"]
    lines = [f"**{res['corpus']}**: {res['n_speakers']} speakers, backend {res['backend']}, k = {res['k']}, seeds "
             f"{','.join(map(str, res['seeds']))}; kiosk target FAR {p['target_far'] * 100:g} %, replay threshold "
             f"{p['replay_similarity']:g}; machine: {m['cores']} cores, load {m['load_1min']:.2f}; "
             f"{res['elapsed_s']:.0f} s", "",
             f"Genuine visits: {res['genuine_opened']}/{res['genuine_visits']} opened the door, "
             f"**{res['genuine_called_replay']} called a replay**. Guard alone: "
             f"**{res['guard_alone_false_alarms']}/{res['guard_alone_streams']} genuine streams called a replay**; "
             f"largest one-window similarity of genuine speech to another visit "
             f"{res['genuine_similarity_max']:.3f} (p95 of streams {res['genuine_similarity_p95']:.3f}). "
             f"Against a crowded memory ({res['crowded_visits']} visits of the same people): "
             f"**{res['crowded_false_alarms']}/{res['crowded_attempts']} called a replay**. "
             f"Fingerprint: {res['fingerprint_ms_per_window']:.2f} ms per 2-s window.", "",
             "| replayed through | replays of opened visits | door opened without the guard | door opened with "
             "the guard | caught as a replay | denied as an unknown voice | guard alone: replays detected |",
             "|---|---|---|---|---|---|---|"]
    for cond, r in res["replays"].items():
        lines.append(f"| {cond} ({' + '.join(REPLAY_CONDITIONS[cond]) or 'as recorded'}) | {r['attempts']} | "
                     f"{r['opened_without_guard']} | {r['opened_with_guard']} | {r['caught_as_replay']} | "
                     f"{r['denied_as_unknown']} | {r['guard_alone_detected']}/{r['guard_alone_attempts']} |")
    return "\n".join(lines)


def to_json(res: dict[str, Any]) -> str:
    return json.dumps(res, indent=2, default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else x)
