"""Microphone / room drift: do recent live recordings still sound like the enrollment recordings?

Both sets are speaker embeddings of live-sized (2-s) windows. Every recent window is matched to
the enrolled speaker it sounds most like, and the enrollment set is re-weighted to the same mix
of speakers (so "only Alice talked today" is not mistaken for a new microphone). Then:

- **Fréchet distance** between Gaussians fitted to the two sets of *offsets from the speaker's
  enrollment mean* (what is left when the voice is taken out: channel, room, noise), in the full
  embedding space with Ledoit-Wolf shrunk covariances (a few dozen windows cannot estimate a
  256 x 256 covariance; and projecting on the enrollment offsets' principal components throws the
  drift away, because a new microphone moves the embeddings in a direction enrollment never varied);
- **NDB / JSD**: the enrollment set is cut into k-means bins; NDB is the number of bins whose share
  of recent windows differs significantly from their share of enrollment windows (two-proportion
  z-test, 5 %), JSD the Jensen-Shannon divergence of the two bin histograms (bits, 0..1).

The Fréchet distance of a finite sample is never 0 and grows as samples shrink, so it is judged
against a **calibrated level**: the 95th percentile of the distance between held-out enrollment
clips (as many windows as the recent set, in the same speaker mix) and the rest of the enrollment
set. ``ratio = distance / level``: below 1 for the same set-up, a warning from :data:`WARN_RATIO`,
and from :data:`DIFFERENT_RATIO` a different microphone or room.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from voicelive.analysis.embeddings import unit_rows
from voicelive.errors import ConfigError

log = logging.getLogger(__name__)

MIN_RECENT = 8
"""Fewer recent windows than this: no verdict."""
MIN_REFERENCE = 12
N_CALIBRATION = 40
LEVEL_QUANTILE = 0.95
WARN_RATIO = 1.5
"""Warn when the distance is this many times the calibrated level. Measured on held-out speech of
the shared corpora (docs/BENCHMARKS.md): the same set-up 0.8-1.2x; equalised, noisy (10 dB SNR)
or telephone-band copies 1.9-5.5x."""
DIFFERENT_RATIO = 2.0
RIDGE = 1e-3

MESSAGES = {
    "same": "your current microphone and room sound like the ones used at enrollment",
    "slightly different": ("your current microphone or room sounds a little different from the one used at "
                           "enrollment; if recognition gets worse, add a few clips recorded here"),
    "different": ("your current microphone sounds different from the one used at enrollment; "
                  "re-enroll or add clips"),
    "not enough speech": "not enough recent speech to compare yet",
}


@dataclass(frozen=True)
class DriftReport:
    """Figures and verdict of one comparison (see the module docstring)."""

    frechet: float
    level: float
    ratio: float
    ndb: int
    n_bins: int
    jsd: float
    n_recent: int
    n_reference: int
    speakers: dict[str, int] = field(default_factory=dict)
    verdict: str = "same"
    message: str = ""

    @property
    def ndb_fraction(self) -> float:
        return self.ndb / self.n_bins if self.n_bins else float("nan")

    @property
    def warn(self) -> bool:
        return self.verdict in ("slightly different", "different")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ndb_fraction"] = self.ndb_fraction
        d["warn"] = self.warn
        return d

    def summary(self) -> str:
        if self.verdict == "not enough speech":
            return f"{self.message} ({self.n_recent} window(s), need {MIN_RECENT})"
        return (f"Fréchet distance {self.frechet:.2f} (calibrated level {self.level:.2f}: {self.ratio:.2f}x); "
                f"NDB {self.ndb}/{self.n_bins} bins; JSD {self.jsd:.3f} — {self.message}")


# -- statistics ---------------------------------------------------------------------------------

def _weighted_moments(x: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and Ledoit-Wolf shrunk covariance (shrinkage towards a scaled identity)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if w is None else np.asarray(w, dtype=np.float64)
    w = w / np.sum(w)
    mu = w @ x
    xc = x - mu
    emp = (xc * w[:, None]).T @ xc
    d = x.shape[1]
    target = np.trace(emp) / d
    # Ledoit-Wolf's optimal shrinkage, with the weighted sample's effective size
    n_eff = 1.0 / np.sum(w ** 2)
    sq = xc ** 2
    b2 = float(np.sum(w * np.sum(sq, axis=1) ** 2) - np.sum(emp ** 2)) / n_eff
    d2 = float(np.sum((emp - target * np.eye(d)) ** 2))
    shrink = 1.0 if d2 <= 0 else float(np.clip(b2 / d2, 0.0, 1.0))
    return mu, (1.0 - shrink) * emp + shrink * target * np.eye(d) + RIDGE * target * np.eye(d)


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((c + c.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein) distance between two Gaussians:
    ``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)``."""
    s1 = _sqrt_psd(cov1)
    m = s1 @ cov2 @ s1
    tr_cross = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None))))
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_cross)
    return max(0.0, d)


def frechet_between(a: np.ndarray, b: np.ndarray, *, wa=None, wb=None) -> float:
    """Fréchet distance of Gaussians fitted to two samples ``(n, d)`` (optionally weighted)."""
    return frechet_distance(*_weighted_moments(a, wa), *_weighted_moments(b, wb))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = same histogram, 1 = disjoint)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a, b):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


def ndb_test(ref_share: np.ndarray, n_ref: float, new_share: np.ndarray, n_new: float,
             *, z_crit: float = 1.96) -> int:
    """Number of bins whose shares differ significantly (two-proportion z-test)."""
    pooled = (ref_share * n_ref + new_share * n_new) / (n_ref + n_new)
    se = np.sqrt(np.maximum(pooled * (1 - pooled) * (1.0 / n_ref + 1.0 / n_new), 1e-12))
    return int(np.sum(np.abs(ref_share - new_share) / se > z_crit))


# -- reference and comparison -------------------------------------------------------------------

class DriftReference:
    """The enrollment distribution to compare against.

    Every window is described by its offset from its speaker's mean embedding, so the figures
    measure how the *sound* moved, not who is talking.

    Parameters
    ----------
    embeddings : (n, d)
        Embeddings of windows of enrollment clips.
    speakers : sequence of str
        Whose window each row is.
    groups : sequence of hashable, optional
        Which clip each row was cut from (windows of one clip are held out together when
        calibrating). Default: every row its own clip.
    n_bins : int, optional
        k-means bins for NDB/JSD (default: about one per 6 windows, 4..20).
    seed : int
    """

    def __init__(self, embeddings: np.ndarray, speakers: Sequence[str], groups: Sequence | None = None, *,
                 n_bins: int | None = None, seed: int = 0) -> None:
        x = unit_rows(embeddings)
        if len(x) < MIN_REFERENCE:
            raise ConfigError(f"the enrollment set has {len(x)} speech windows; drift needs at least "
                              f"{MIN_REFERENCE} (enroll more clips)")
        self.x = x
        self.speakers = np.asarray([str(s) for s in speakers])
        if len(self.speakers) != len(x):
            raise ConfigError(f"{len(x)} enrollment embeddings but {len(self.speakers)} speaker labels")
        self.groups = np.asarray([f"{s}/{g}" for s, g in zip(self.speakers, groups)]) if groups is not None \
            else np.asarray([str(i) for i in range(len(x))])
        self.names = sorted(set(self.speakers.tolist()))
        if any(len(np.unique(self.groups[self.speakers == s])) < 2 for s in self.names):
            raise ConfigError("drift needs at least 2 enrollment clips per speaker; add clips")
        self.seed = seed
        means = self._means(np.arange(len(x)))
        self.centroids = unit_rows(np.stack([means[s] for s in self.names]))
        self.offsets = x - np.stack([means[s] for s in self.speakers])
        from sklearn.cluster import KMeans

        k_bins = n_bins if n_bins is not None else int(np.clip(len(x) // 6, 4, 20))
        k_bins = int(min(k_bins, len(x)))
        self._bins = KMeans(n_clusters=k_bins, n_init=4, random_state=seed).fit(self.offsets)
        self.n_bins = k_bins
        self.ref_bins = self._bins.labels_

    @property
    def n(self) -> int:
        return len(self.x)

    def _means(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        spk = self.speakers[rows]
        return {s: self.x[rows[spk == s]].mean(axis=0) for s in self.names if np.any(spk == s)}

    def nearest_speaker(self, embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(self.names)[np.argmax(unit_rows(embeddings) @ self.centroids.T, axis=1)]

    def _weights(self, mix: dict[str, float], rows: np.ndarray) -> np.ndarray:
        """Weights of reference ``rows`` giving each speaker its share of ``mix``."""
        w = np.zeros(len(rows))
        spk = self.speakers[rows]
        for s, share in mix.items():
            sel = spk == s
            if sel.any():
                w[sel] = share / sel.sum()
        return w

    def _distance(self, y: np.ndarray, who: np.ndarray, rows: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Fréchet distance of windows ``y`` (of speakers ``who``) from reference ``rows``, with
        speaker means taken from those rows only. Returns (distance, offsets of y, weights of rows)."""
        means = self._means(rows)
        keep = np.array([s in means for s in who])
        y, who = y[keep], who[keep]
        mix = {s: float(np.mean(who == s)) for s in set(who.tolist())}
        oy = y - np.stack([means[s] for s in who])
        orr = self.x[rows] - np.stack([means[s] for s in self.speakers[rows]])
        w = self._weights(mix, rows)
        sel = w > 0
        return frechet_between(oy, orr[sel], wb=w[sel]), oy, w

    def _bin_share(self, bins: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        w = np.ones(len(bins)) if w is None else w
        h = np.bincount(bins, weights=w, minlength=self.n_bins).astype(np.float64)
        return h / max(h.sum(), 1e-12)

    def calibrated_level(self, mix: dict[str, float], n_recent: int) -> float:
        """95th percentile of the distance between held-out enrollment clips (``n_recent``
        windows in the speaker mix ``mix``, at most half of each speaker's clips) and the rest
        (whose own speaker means are used, as for live windows)."""
        rng = np.random.default_rng(self.seed)
        null = []
        for _ in range(N_CALIBRATION):
            held = np.zeros(self.n, dtype=bool)
            for s, share in mix.items():
                rows = np.flatnonzero(self.speakers == s)
                clips = np.unique(self.groups[rows])
                want = max(1, int(round(share * n_recent)))
                taken = 0
                for g in rng.permutation(clips)[:max(1, len(clips) // 2)]:
                    if taken >= want:
                        break
                    sel = rows[self.groups[rows] == g]
                    held[sel] = True
                    taken += sel.size
            hold, rest = np.flatnonzero(held), np.flatnonzero(~held)
            if hold.size < 2 or rest.size < 2:
                continue
            null.append(self._distance(self.x[hold], self.speakers[hold], rest)[0])
        if not null:
            raise ConfigError("the enrollment set is too small to calibrate the drift level; enroll more clips")
        return float(np.quantile(null, LEVEL_QUANTILE))

    def compare(self, recent: np.ndarray) -> DriftReport:
        """Compare recent window embeddings ``(m, d)`` with the enrollment set."""
        recent = np.asarray(recent)
        m = len(recent) if recent.size else 0
        if m < MIN_RECENT:
            return DriftReport(float("nan"), float("nan"), float("nan"), 0, self.n_bins, float("nan"), m, self.n,
                               verdict="not enough speech", message=MESSAGES["not enough speech"])
        y = unit_rows(recent)
        who = self.nearest_speaker(y)
        counts = {s: int(np.sum(who == s)) for s in self.names if np.any(who == s)}
        mix = {s: c / m for s, c in counts.items()}
        fd, oy, w = self._distance(y, who, np.arange(self.n))
        level = self.calibrated_level(mix, m)
        ratio = fd / level if level > 0 else float("inf")
        ref_share = self._bin_share(self.ref_bins, w)
        new_share = self._bin_share(self._bins.predict(oy))
        n_eff = float(w.sum() ** 2 / np.sum(w ** 2))
        ndb = ndb_test(ref_share, n_eff, new_share, m)
        jsd = jensen_shannon(ref_share + 1e-12, new_share + 1e-12)
        verdict = "same" if ratio < WARN_RATIO else ("slightly different" if ratio < DIFFERENT_RATIO else "different")
        return DriftReport(fd, level, ratio, ndb, self.n_bins, jsd, m, self.n, counts, verdict, MESSAGES[verdict])


def reference_from_clips(embedder, clips_by_speaker: dict[str, Sequence[np.ndarray]], *, seed: int = 0
                         ) -> DriftReference:
    """Embed the speech windows of every enrollment clip (short clips joined into live-sized
    chunks first, see :func:`voicelive.analysis.embeddings.joined`); a chunk is a calibration group."""
    from voicelive.analysis.embeddings import joined, speech_windows

    rows, spk, grp = [], [], []
    for s, clips in sorted(clips_by_speaker.items()):
        for ci, w in enumerate(joined(clips)):
            for x in speech_windows(w):
                rows.append(embedder.embed_wave(x))
                spk.append(s)
                grp.append(ci)
    if not rows:
        raise ConfigError("the enrollment clips contain no speech windows to compare with")
    return DriftReference(np.stack(rows), spk, grp, seed=seed)
