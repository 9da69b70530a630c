"""Streaming-session helpers of the benchmark."""

import numpy as np

from voicelive.decision.smoothing import Verdict
from voicelive.evaluation.sessions import CHECK_S, sessions_summary, verdict_at


def test_verdict_at_takes_the_last_verdict_in_force():
    vs = [Verdict("silence", t_s=0.5), Verdict("listening", t_s=1.0), Verdict("speaker", "a", 0.9, t_s=1.5)]
    assert verdict_at(vs, 0.4) is None
    assert verdict_at(vs, 1.2).state == "listening"
    assert verdict_at(vs, 9.0).speaker == "a"


def test_summary_counts_never_correct_as_infinite_not_nan():
    per_seed = [{"acc": {t: 1.0 for t in CHECK_S}, "far": {t: 0.0 for t in CHECK_S}, "ttfc": [0.5, 1.0, np.inf]},
                {"acc": {t: 0.5 for t in CHECK_S}, "far": {t: 0.25 for t in CHECK_S}, "ttfc": [1.5]}]
    s = sessions_summary(per_seed)
    assert s["acc@1s"]["mean"] == 0.75 and s["far@6s"]["mean"] == 0.125
    assert s["ttfc_median_s"] == 1.5  # pooled 0.5, 1.0, 1.5, inf: the higher middle value
    assert s["ttfc_p95_s"] == np.inf
    assert s["never_correct"] == 0.25
    # each seed's own values too, JSON-safe (a seed whose streams were never named -> None)
    assert s["acc@1s"]["per_seed"] == [1.0, 0.5] and s["far@6s"]["per_seed"] == [0.0, 0.25]
    assert s["ttfc_median_s_per_seed"] == [1.0, 1.5]
    never = sessions_summary([{"acc": {t: 0.0 for t in CHECK_S}, "far": {t: float("nan") for t in CHECK_S},
                               "ttfc": [np.inf]}])
    assert never["ttfc_median_s_per_seed"] == [None] and never["far@1s"]["per_seed"] == [None]
