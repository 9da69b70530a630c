"""The verdict panel: who is speaking (or Unknown / Listening… / Silence), how sure, for how long."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from voicelive.decision.smoothing import Verdict
from voicelive.gui.widgets.meters import ConfidenceBar, ScoreBar

__all__ = ["VerdictPanel", "STATE_COLOURS", "STATE_TEXT"]

STATE_COLOURS = {
    "speaker": "#48c978",
    "unknown": "#f0883e",
    "listening": "#58a6ff",
    "silence": "#7d8590",
    "paused": "#7d8590",
}
STATE_TEXT = {
    "unknown": "Unknown",
    "listening": "Listening…",
    "silence": "Silence",
    "paused": "Paused",
}
STATE_CAPTION = {
    "speaker": "Speaking now",
    "unknown": "Not an enrolled voice",
    "listening": "Speech — deciding",
    "silence": "No speech",
    "paused": "Input paused",
}


class VerdictPanel(QFrame):
    """Big name, state colour, confidence bar with threshold, top candidates, speaking time."""

    N_CANDIDATES = 3

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verdictPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.caption = QLabel(STATE_CAPTION["listening"])
        self.caption.setObjectName("verdictCaption")
        self.name = QLabel(STATE_TEXT["listening"])
        self.name.setObjectName("verdictName")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = ConfidenceBar()
        self.score_text = QLabel("")
        self.score_text.setObjectName("verdictDetail")
        self.duration = QLabel("")
        self.duration.setObjectName("verdictDetail")
        self.hint = QLabel("")
        self.hint.setObjectName("verdictHint")
        self.hint.setWordWrap(True)
        self.hint.hide()

        cand_box = QWidget()
        grid = QGridLayout(cand_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        head = QLabel("Top candidates")
        head.setObjectName("verdictDetail")
        grid.addWidget(head, 0, 0, 1, 3)
        self._cand_rows: list[tuple[QLabel, ScoreBar, QLabel]] = []
        for i in range(self.N_CANDIDATES):
            name, bar, val = QLabel(""), ScoreBar(height=8), QLabel("")
            name.setObjectName("candidateName")
            val.setObjectName("candidateScore")
            val.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            val.setMinimumWidth(38)
            grid.addWidget(name, i + 1, 0)
            grid.addWidget(bar, i + 1, 1)
            grid.addWidget(val, i + 1, 2)
            self._cand_rows.append((name, bar, val))
        grid.setColumnStretch(1, 1)

        left = QVBoxLayout()
        left.setSpacing(4)
        left.addWidget(self.caption)
        left.addWidget(self.name)
        left.addWidget(self.bar)
        detail = QHBoxLayout()
        detail.addWidget(self.score_text)
        detail.addStretch(1)
        detail.addWidget(self.duration)
        left.addLayout(detail)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(4)
        right.addWidget(cand_box)
        right.addWidget(self.hint)
        right.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(18, 12, 18, 12)
        lay.setSpacing(28)
        lay.addLayout(left, 3)
        lay.addLayout(right, 2)
        self._state = None
        self._text = ""
        self._set_state("listening", STATE_TEXT["listening"])

    # -------------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def text(self) -> str:
        """What the big label shows (the name, or Unknown / Listening… / Silence / Paused)."""
        return self._text

    def _set_state(self, state: str, text: str) -> None:
        if state != self._state:
            self._state = state
            self.setProperty("verdictState", state)
            colour = STATE_COLOURS[state]
            self.name.setStyleSheet(f"color: {colour};")
            self.caption.setText(STATE_CAPTION[state])
        if text != self._text:
            self._text = text
            self.name.setText(text)

    def set_hint(self, text: str | None) -> None:
        """A line under the candidates (e.g. 'Nobody is enrolled yet …'); None hides it."""
        if text:
            self.hint.setText(text)
            self.hint.show()
        else:
            self.hint.hide()

    def show_verdict(self, verdict: Verdict, *, threshold: float | None, speaking_s: float | None,
                     paused: bool = False) -> None:
        """Show a verdict. ``threshold``: the scorer's calibrated accept threshold (None when there
        is no model); ``speaking_s``: how long the shown speaker (or unknown voice) has been on."""
        state = "paused" if paused else verdict.state
        text = verdict.speaker if state == "speaker" else STATE_TEXT[state]
        self._set_state(state, text)
        colour = STATE_COLOURS[state]
        score = verdict.score if state in ("speaker", "unknown") else None
        self.bar.set_value(score, threshold, colour)
        parts = []
        if score is not None:
            parts.append(f"confidence {score:.2f}")
        if threshold is not None:
            parts.append(f"accept at ≥ {threshold:.2f}")
        self.score_text.setText(" · ".join(parts))
        if speaking_s is not None and state in ("speaker", "unknown"):
            self.duration.setText(f"speaking for {speaking_s:.1f} s")
        else:
            self.duration.setText("")
        cands = verdict.candidates if state in ("speaker", "unknown", "listening") else ()
        for i, (name_l, bar, val) in enumerate(self._cand_rows):
            if i < len(cands):
                n, s = cands[i]
                name_l.setText(n)
                bar.set_value(s, threshold, STATE_COLOURS["speaker"] if threshold is not None and s >= threshold
                              else "#58a6ff")
                val.setText(f"{s:.2f}")
            else:
                name_l.setText("—" if i == 0 else "")
                bar.set_value(None, None)
                val.setText("")
