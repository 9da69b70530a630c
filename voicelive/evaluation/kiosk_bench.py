"""Kiosk benchmark: the door on the streaming sessions of PROTOCOL.md.

For every seed and k a fresh recognizer (default backend) is enrolled from the protocol's
enrollment utterances and set to the kiosk's target false-accept rate; every session stream (1 s of
silence, then 6 s of one test speaker's speech) is fed through a fresh
:class:`~voicelive.kiosk.session.KioskSession` — the live pipeline and the door state machine, as
fast as possible in blocks of 1024 samples, stream time as the clock. Reported:

* **unknown streams opened**: streams of never-enrolled speakers during which the door opened at
  all (the kiosk's false-accept rate; the number that matters at a door);
* **left-out people let in**: the same, for more strangers: each enrolled person in turn is left
  out of the roster (the recognizer enrolled on the others) and their own streams try the door
  (the split's two unknown speakers bound a false-accept rate poorly);
* **wrong-person opens**: known streams where the door opened for another enrolled speaker;
* **known streams opened within 6 s** (by the right person), and the **time to open** from the
  start of speech (median and p95 over all known streams; a stream that never opens counts as
  infinite, so the median is finite only when more than half open);
* denials of enrolled speakers (a denial means a visitor waits out the cooldown).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from voicelive.evaluation.corpus import load_manifest, protocol_split
from voicelive.evaluation.sessions import BLOCK_SIZE, LEAD_SILENCE_S, STREAM_S, build_sessions
from voicelive.kiosk.access import KioskPolicy
from voicelive.kiosk.session import run_kiosk_offline
from voicelive.recognition.recognizer import Recognizer
from voicelive.recognition.registry import DEFAULT_BACKEND

__all__ = ["run_kiosk_bench", "markdown_table", "COMMAND"]

COMMAND = "voicelive bench-kiosk"


def evaluate_kiosk_split(rec: Recognizer, sessions, policy: KioskPolicy) -> dict[str, Any]:
    """Door outcomes for one enrolled recognizer over its session streams."""
    unknown_opened, wrong_opens, known_t, known_denied = [], [], [], []
    for s in sessions:
        ks = run_kiosk_offline(s.wave, rec, policy=policy, block_size=BLOCK_SIZE)
        grants = [d for d in ks.decisions if d.decision == "granted"]
        if not s.known:
            unknown_opened.append(bool(grants))
            continue
        right = [d for d in grants if d.speaker == s.speaker]
        wrong_opens.append(any(d.speaker != s.speaker for d in grants))
        known_t.append(right[0].t_s - LEAD_SILENCE_S if right else math.inf)
        known_denied.append(any(d.decision == "denied" for d in ks.decisions))
    return {"unknown_opened": unknown_opened, "wrong_opens": wrong_opens, "known_t": known_t,
            "known_denied": known_denied}


def run_kiosk_bench(manifest: str | Path, *, seeds: Sequence[int] = range(5), ks: Sequence[int] = (5, 10),
                    policy: KioskPolicy | None = None, backend: str = DEFAULT_BACKEND,
                    progress: Callable[[str], None] | None = None, left_out: bool = True) -> dict[str, Any]:
    policy = policy if policy is not None else KioskPolicy()
    corpus = load_manifest(manifest)
    say = progress or (lambda _m: None)
    from voicelive.evaluation.bench import machine_info

    rows = []
    t0 = time.perf_counter()
    for k in ks:
        per_seed = []
        for seed in seeds:
            split = protocol_split(corpus, seed)
            rec = Recognizer.create(backend, target_far=policy.target_far)
            rec.enroll({s: [corpus.audio(u) for u in us] for s, us in split.enrollment(k).items()})
            sess = build_sessions(corpus, split)
            r = evaluate_kiosk_split(rec, sess, policy)
            r["threshold"] = max(rec.threshold, policy.score_floor)
            if left_out:
                r["left_out_opened"] = left_out_opened(corpus, split, k, sess, policy, backend)
            per_seed.append(r)
            say(f"k={k} seed={seed}: {sum(r['unknown_opened'])}/{len(r['unknown_opened'])} unknown opened, "
                f"{sum(np.isfinite(r['known_t']))}/{len(r['known_t'])} known opened"
                + (f", {sum(r['left_out_opened'])}/{len(r['left_out_opened'])} left-out let in" if left_out else "")
                + f" ({time.perf_counter() - t0:.0f} s)")
        rows.append({"k": k, **summarise(per_seed)})
    return {"corpus": Path(manifest).parent.name, "n_speakers": len(corpus.speakers), "backend": backend,
            "policy": asdict(policy), "seeds": list(seeds), "machine": machine_info(),
            "elapsed_s": time.perf_counter() - t0, "rows": rows}


def left_out_opened(corpus, split, k: int, sessions, policy: KioskPolicy, backend: str = DEFAULT_BACKEND
                    ) -> list[bool]:
    """Each enrolled person left out of the roster in turn: did the door open during each of their
    own session streams, for a recognizer enrolled on everyone else? One boolean per stream."""
    enr = split.enrollment(k)
    out: list[bool] = []
    for held in sorted(enr):
        mine = [s for s in sessions if s.known and s.speaker == held]
        rest = {s: us for s, us in enr.items() if s != held}
        if not mine or not rest:
            continue
        rec = Recognizer.create(backend, target_far=policy.target_far)
        rec.enroll({s: [corpus.audio(u) for u in us] for s, us in rest.items()})
        for s in mine:
            ks = run_kiosk_offline(s.wave, rec, policy=policy, block_size=BLOCK_SIZE)
            out.append(any(d.decision == "granted" for d in ks.decisions))
    return out


def summarise(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    unk = [x for r in per_seed for x in r["unknown_opened"]]
    wrong = [x for r in per_seed for x in r["wrong_opens"]]
    t = np.array([x for r in per_seed for x in r["known_t"]], dtype=np.float64)
    denied = [x for r in per_seed for x in r["known_denied"]]
    opened_per_seed = [float(np.mean(np.isfinite(r["known_t"]))) for r in per_seed if r["known_t"]]
    return {
        "unknown_streams": len(unk), "unknown_opened": int(sum(unk)),
        "known_streams": int(t.size), "wrong_person_opens": int(sum(wrong)),
        "known_opened": int(np.isfinite(t).sum()),
        "known_opened_pct_mean": float(np.mean(opened_per_seed) * 100) if opened_per_seed else float("nan"),
        "known_opened_pct_std": float(np.std(opened_per_seed, ddof=1) * 100) if len(opened_per_seed) > 1 else 0.0,
        "time_to_open_median_s": float(np.percentile(t, 50, method="higher")) if t.size else float("nan"),
        "time_to_open_p95_s": float(np.percentile(t, 95, method="higher")) if t.size else float("nan"),
        "time_to_open_median_opened_s": float(np.median(t[np.isfinite(t)])) if np.isfinite(t).any() else float("nan"),
        "known_denied": int(sum(denied)),
        "threshold_mean": float(np.mean([r["threshold"] for r in per_seed])),
        "left_out_streams": sum(len(r.get("left_out_opened", [])) for r in per_seed),
        "left_out_opened": sum(int(sum(r.get("left_out_opened", []))) for r in per_seed),
    }


def _count(hits: int, n: int) -> str:
    return f"{hits}/{n}" if n else "–"


def _s(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:.2f}"


def markdown_table(res: dict[str, Any]) -> str:
    m = res["machine"]
    p = res["policy"]
    lines = [f"**{res['corpus']}**: {res['n_speakers']} speakers, backend {res['backend']}, seeds "
             f"{','.join(map(str, res['seeds']))}; kiosk target FAR {p['target_far'] * 100:g} %, "
             f"{p['min_windows']} windows / ≥ {p['min_speech_s']:g} s of speech, floor {p['score_floor']:g}; "
             f"{STREAM_S:g}-s streams; machine: {m['cores']} cores, load {m['load_1min']:.2f}; "
             f"{res['elapsed_s']:.0f} s", "",
             "| k | unknown streams opened | left-out people let in | wrong-person opens | known opened within 6 s % | "
             "time to open median s (all / opened) | p95 s | enrolled denied at least once | mean threshold |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(
            f"| {r['k']} | {r['unknown_opened']}/{r['unknown_streams']} | "
            f"{_count(r.get('left_out_opened', 0), r.get('left_out_streams', 0))} | {r['wrong_person_opens']}/{r['known_streams']} | "
            f"{r['known_opened_pct_mean']:.1f} ± {r['known_opened_pct_std']:.1f} "
            f"({r['known_opened']}/{r['known_streams']}) | {_s(r['time_to_open_median_s'])} / "
            f"{_s(r['time_to_open_median_opened_s'])} | {_s(r['time_to_open_p95_s'])} | "
            f"{r['known_denied']}/{r['known_streams']} | {r['threshold_mean']:.3f} |")
    return "\n".join(lines)


def to_json(res: dict[str, Any]) -> str:
    return json.dumps(res, indent=2, default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else x)
