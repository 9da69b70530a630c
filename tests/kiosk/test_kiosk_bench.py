"""`voicelive bench-kiosk` on a shared corpus: besides the split's unknown speakers, each enrolled
person is left out of the roster in turn and tries the door as a stranger."""

import pytest

from voicelive.evaluation import kiosk_bench as KB
from voicelive.kiosk.access import KioskPolicy

pytestmark = pytest.mark.corpus


def test_left_out_people_try_the_door_against_a_roster_without_them(corpora_dir, monkeypatch):
    rosters = []
    real_enroll = KB.Recognizer.enroll

    def spy(self, clips, *a, **kw):
        rosters.append(sorted(clips))
        return real_enroll(self, clips, *a, **kw)

    monkeypatch.setattr(KB.Recognizer, "enroll", spy)
    res = KB.run_kiosk_bench(corpora_dir / "fsdd" / "manifest.csv", seeds=[0], ks=[3], policy=KioskPolicy())
    row = res["rows"][0]
    full, *left = rosters
    assert len(left) == len(full) and all(len(r) == len(full) - 1 for r in left)
    assert sorted((set(full) - set(r)).pop() for r in left) == full
    assert row["left_out_streams"] == row["known_streams"] and 0 <= row["left_out_opened"] <= row["left_out_streams"]
    md = KB.markdown_table(res)
    header, sep, line = md.splitlines()[2:5]
    assert "left-out people let in" in header and header.count("|") == sep.count("|") == line.count("|")
    assert f"| {row['left_out_opened']}/{row['left_out_streams']} |" in line
    # switched off: no column values, no extra enrollments
    rosters.clear()
    off = KB.run_kiosk_bench(corpora_dir / "fsdd" / "manifest.csv", seeds=[0], ks=[3], left_out=False)
    assert len(rosters) == 1 and off["rows"][0]["left_out_streams"] == 0
