"""`voicelive cluster`, `eval` and `drift` as a user runs them, on the shared corpora; the eval
report is opened headless (Qt's HTML renderer, offscreen) and every image must load."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from html.parser import HTMLParser

import pytest

from voicelive.cli import main

pytestmark = pytest.mark.corpus


def test_cluster_reports_every_method_on_a_shared_corpus(corpora_dir, ge2e_weights, tmp_path, capsys):
    out_csv = tmp_path / "clusters.csv"
    rc = main(["cluster", str(corpora_dir / "asterisk_prompts" / "manifest.csv"), "--max-per-speaker", "8",
               "--csv", str(out_csv), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    methods = {"kmeans", "agglomerative", "dbscan", "meanshift", "auto"}
    assert set(res) == {"n_clusters", "scores"}
    assert set(res["n_clusters"]) == methods and set(res["scores"]) == methods
    for m in methods:
        assert set(res["scores"][m]) == {"nmi", "ari", "acc"}
        assert all(0.0 <= v <= 1.0 for k, v in res["scores"][m].items() if k != "ari")
    # 7 different voices (and languages) are told apart by the default and the partitioning methods
    for m in ("auto", "kmeans", "agglomerative"):
        assert res["scores"][m]["nmi"] >= 0.9, (m, res)
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 56 and set(rows[0]) == {"file", "cluster", "confidence", "speaker"}
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)


def test_cluster_a_folder_without_labels(corpora_dir, ge2e_weights, tmp_path, capsys):
    import shutil

    d = tmp_path / "rec"
    d.mkdir()
    for spk in ("george", "theo"):
        for i in range(4):
            shutil.copy(corpora_dir / "fsdd" / "audio" / spk / f"{i}_{spk}_0.flac", d / f"{spk}_{i}.flac")
    (d / "notes.txt").write_text("not audio")
    rc = main(["cluster", str(d), "--method", "kmeans", "--n-speakers", "2", "--csv", str(tmp_path / "c.csv")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "kmeans" in out and "wrote" in out
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert len(rows) == 8 and {r["cluster"] for r in rows} == {"0", "1"}


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["cluster", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voicelive: error:") and "does not exist" in err and "Traceback" not in err
    assert main(["drift", "--data-dir", str(tmp_path / "empty")]) != 0
    assert "nobody is enrolled" in capsys.readouterr().err


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs))


def test_eval_report_renders_headless_with_every_image(corpora_dir, ge2e_weights, tmp_path, capsys, qapp):
    from PIL import Image
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QTextBrowser

    out = tmp_path / "report"
    rc = main(["eval", "--manifest", str(corpora_dir / "fsdd" / "manifest.csv"), "--backend", "ge2e", "--k", "5",
               "--out", str(out), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    n = res["numbers"]
    assert n["n_known_tests"] == 160 and n["n_unknown_tests"] == 80
    for key in ("closed_acc", "weighted_f1", "open_eer", "min_dcf", "dir_far1", "dir_far5"):
        assert n[key] is not None
    assert any(k.startswith("F0.5") for k in res["thresholds"]) and any(k.startswith("TPR@FPR") for k in res["thresholds"])
    page = out / "index.html"
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    names = {a["data-file"] for a in parser.srcs}
    assert names == {"roc.png", "det.png", "pr.png", "tpr_fpr.png", "scores.png", "confusion.png", "per_speaker.png"}
    browser = QTextBrowser()
    browser.resize(1000, 800)
    browser.setHtml(page.read_text(encoding="utf-8"))
    for a in parser.srcs:
        data = base64.b64decode(a["src"].split(",", 1)[1])
        assert data == (out / a["data-file"]).read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
            assert im.size[0] > 200 and im.size[1] > 200
        res_img = browser.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(a["src"]))
        assert res_img is not None and not res_img.isNull(), a["data-file"]
    assert "Open-set detection EER" in browser.toPlainText()
    shot = os.environ.get("VOICELIVE_SCREENSHOT_DIR")
    if shot:
        browser.resize(1100, 2400)
        browser.grab().save(os.path.join(shot, "eval_report.png"))
    browser.deleteLater()
