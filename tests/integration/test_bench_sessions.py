"""`voicelive bench` streaming sessions on a shared corpus: strangers judged at any moment, and every
enrolled person left out of the roster in turn and judged as a stranger."""

import pytest

from voicelive.evaluation import bench as B
from voicelive.evaluation import sessions as S
from voicelive.evaluation.corpus import load_manifest, protocol_split

pytestmark = pytest.mark.corpus


def test_each_enrolled_person_is_judged_as_a_stranger_by_a_roster_without_them(corpora_dir, monkeypatch):
    corpus = load_manifest(corpora_dir / "fsdd" / "manifest.csv")
    split = protocol_split(corpus, 0)
    judged = []
    real = S.evaluate_sessions

    def spy(scorer, sessions, config=None):
        judged.append((sorted(scorer.speakers), [(s.speaker, s.known) for s in sessions]))
        return real(scorer, sessions, config)

    monkeypatch.setattr(S, "evaluate_sessions", spy)
    out = B.evaluate_split(B.BenchSystem("gmm-ubm"), split, 5, B.FeatureCache(corpus), sessions=True)
    enrolled = sorted(split.enrollment(5))
    main_roster, main_streams = judged[0]
    assert main_roster == enrolled and any(known for _, known in main_streams)
    left_out = judged[1:]
    assert [next(iter({s for s, _ in streams})) for _, streams in left_out] == enrolled
    for roster, streams in left_out:
        (person,) = {s for s, _ in streams}
        assert person not in roster and len(roster) == len(enrolled) - 1
        assert all(not known for _, known in streams)
    ho = out["held_out_sessions"]
    assert len(ho["ever_named"]) == sum(len(streams) for _, streams in left_out)
    assert all(0.0 <= ho["far"][t] <= 1.0 for t in S.CHECK_S)
    # the split's own sessions say, per stream, whether anyone was ever named / someone else shown
    ss = out["sessions"]
    assert len(ss["ever_named"]) == sum(not k for _, k in main_streams)
    assert len(ss["ever_wrong"]) == sum(k for _, k in main_streams)


def test_the_report_has_the_stranger_table(corpora_dir):
    res = B.run_bench(corpora_dir / "fsdd" / "manifest.csv", backends=["gmm-ubm"], ks=(5,), seeds=1,
                      timing=False, progress=False)
    row = res["results"][0]
    named, n = row["held_out_sessions"]["unknown_ever_named"]
    assert n > 0 and 0 <= named <= n
    md = B.markdown_table(res)
    assert "| left-out streams ever named |" in md
    u = row["sessions"]["unknown_ever_named"]
    assert f"| gmm-ubm | 5 | {u[0]}/{u[1]} | " in md
    # every table has as many cells in each line as in its header
    for table in md.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({line.count("|") for line in rows}) <= 1, table
