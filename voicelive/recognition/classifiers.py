"""Closed-set classifiers on utterance vectors: the reference study's SVM and CatBoost.

Both must retrain on the whole roster whenever a speaker is added or removed (``incremental =
False``); their score is the class probability.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Callable, Mapping

import numpy as np

from voicelive.dsp import features as F
from voicelive.errors import ConfigError, ModelError
from voicelive.recognition.base import Backend

FEATURE_SETS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "seed": (F.seed_features, F.SEED_HASH),
    "seed_mfcc": (F.seed_mfcc_features, F.SEED_MFCC_HASH),
    "fast": (F.fast_features, F.FastFeatureConfig().hash()),
}


class _VectorClassifier(Backend):
    """Shared plumbing: vector features, retrain-all on roster change, pickled estimator state."""

    incremental = False
    min_speakers = 2

    def __init__(self, features: str) -> None:
        super().__init__()
        if features not in FEATURE_SETS:
            raise ConfigError(f"unknown feature set '{features}'; choose one of {', '.join(FEATURE_SETS)}")
        self.features = features
        self._extract, self._fhash = FEATURE_SETS[features]
        self._model: Any = None
        self._train: dict[str, list[np.ndarray]] = {}

    @property
    def feature_hash(self) -> str:
        return self._fhash

    def extract(self, wave: np.ndarray) -> np.ndarray:
        return self._extract(wave)

    def _reset(self) -> None:
        super()._reset()
        self._model = None
        self._train = {}

    def _fit(self, feats_by_speaker: dict[str, list[np.ndarray]]) -> None:
        self._train = {k: [np.asarray(x, dtype=np.float64) for x in v] for k, v in feats_by_speaker.items()}
        self._speakers = sorted(self._train)
        X = np.vstack([x for s in self._speakers for x in self._train[s]])
        y = np.concatenate([[i] * len(self._train[s]) for i, s in enumerate(self._speakers)])
        self._model = self._make_estimator(int(min(np.bincount(y))))
        self._model.fit(X, y)

    def _add(self, name: str, feats: list[np.ndarray]) -> None:
        train = dict(self._train)
        train[name] = feats
        self.enroll_features(train)

    def _remove(self, name: str) -> None:
        train = {k: v for k, v in self._train.items() if k != name}
        if len(train) < self.min_speakers:
            raise ConfigError(f"backend '{self.name}' cannot keep fewer than {self.min_speakers} speakers")
        self.enroll_features(train)

    def score_features(self, feats: np.ndarray) -> np.ndarray:
        self._require_enrolled()
        proba = self._model.predict_proba(np.asarray(feats, dtype=np.float64)[None, :])[0]
        out = np.zeros(len(self._speakers))
        out[np.asarray(self._model.classes_, dtype=int)] = proba
        return out

    def score_features_batch(self, feats: list[np.ndarray]) -> np.ndarray:
        self._require_enrolled()
        proba = self._model.predict_proba(np.vstack(feats))
        out = np.zeros((len(feats), len(self._speakers)))
        out[:, np.asarray(self._model.classes_, dtype=int)] = proba
        return out

    def _make_estimator(self, min_clips: int) -> Any:
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {f"train/{i}": np.vstack(self._train[s]) for i, s in enumerate(self._speakers)}
        buf = io.BytesIO()
        pickle.dump(self._model, buf, protocol=pickle.HIGHEST_PROTOCOL)
        arrays["estimator"] = np.frombuffer(buf.getvalue(), dtype=np.uint8)
        return arrays, {"speakers": self._speakers, "features": self.features}

    def set_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
        if params.get("features") != self.features:
            raise ModelError(f"model was trained on '{params.get('features')}' features, "
                             f"this backend uses '{self.features}'; retrain with `voicelive train`")
        self._speakers = list(params["speakers"])
        self._train = {s: list(arrays[f"train/{i}"]) for i, s in enumerate(self._speakers)}
        # The estimator was written by this program into a file it owns (mode 0600).
        self._model = pickle.loads(np.asarray(arrays["estimator"], dtype=np.uint8).tobytes())


class SVMBackend(_VectorClassifier):
    """StandardScaler + SVC(rbf, C=5) in CalibratedClassifierCV(isotonic, cv=min(5, k)) — the
    reference study's classifier (on its 60 MFCC numbers by default)."""

    name = "seed-svm"

    def __init__(self, features: str = "seed_mfcc", *, C: float = 5.0) -> None:
        super().__init__(features)
        self.C = C

    def _make_estimator(self, min_clips: int) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        cv = max(2, min(5, min_clips))
        return make_pipeline(StandardScaler(),
                             CalibratedClassifierCV(SVC(kernel="rbf", C=self.C), method="isotonic", cv=cv))


class CatBoostBackend(_VectorClassifier):
    """CatBoostClassifier on the study's 498 numbers, default parameters except an iteration cap
    (the default 1,000 iterations take minutes per training at a few dozen speakers)."""

    name = "seed-catboost"
    DEFAULT_ITERATIONS = 300

    def __init__(self, features: str = "seed", *, iterations: int = DEFAULT_ITERATIONS, thread_count: int = 1) -> None:
        super().__init__(features)
        self.iterations = iterations
        self.thread_count = thread_count

    def _make_estimator(self, min_clips: int) -> Any:
        from catboost import CatBoostClassifier

        return CatBoostClassifier(iterations=self.iterations, verbose=False, random_seed=0,
                                  thread_count=self.thread_count, allow_writing_files=False)

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, params = super().get_state()
        params["iterations"] = self.iterations
        return arrays, params


