"""Backend names -> constructors. The product's default is ``fusion``."""

from __future__ import annotations

import logging
from typing import Callable

from voicelive.errors import ConfigError, ModelMissingError
from voicelive.recognition.base import Backend

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "fusion"
FUSION_MEMBERS = ("ge2e", "gmm-ubm")


def _ge2e() -> Backend:
    from voicelive.recognition.ge2e import GE2EBackend

    return GE2EBackend()


def _gmm() -> Backend:
    from voicelive.recognition.gmm_ubm import GMMUBMBackend

    return GMMUBMBackend()


def _gmm_nb() -> Backend:  # channel robustness
    from voicelive.recognition.narrowband import NarrowbandGMMUBMBackend

    return NarrowbandGMMUBMBackend()


def _seed_svm() -> Backend:
    from voicelive.recognition.classifiers import SVMBackend

    return SVMBackend("seed_mfcc")


def _fast_svm() -> Backend:
    from voicelive.recognition.classifiers import SVMBackend

    b = SVMBackend("fast")
    b.name = "fast-svm"
    return b


def _seed_catboost() -> Backend:
    from voicelive.recognition.classifiers import CatBoostBackend

    return CatBoostBackend("seed")


SINGLE_BACKENDS: dict[str, Callable[[], Backend]] = {
    "ge2e": _ge2e,
    "gmm-ubm": _gmm,
    "gmm-ubm-nb": _gmm_nb,  # channel robustness
    "seed-svm": _seed_svm,
    "seed-catboost": _seed_catboost,
    "fast-svm": _fast_svm,
}
FUSIONS = {"fusion": FUSION_MEMBERS,
           "fusion-robust": ("ge2e", "gmm-ubm", "gmm-ubm-nb")}  # channel robustness (docs/BENCHMARKS.md)
BACKEND_NAMES = (*SINGLE_BACKENDS, *FUSIONS)


def make_backends(name: str = DEFAULT_BACKEND) -> list[Backend]:
    """The backend(s) behind a product backend name. ``fusion`` uses every member whose resources
    are available (GE2E needs its weights: ``voicelive setup-models``) and says which it skipped."""
    if name in FUSIONS:
        out = []
        for member in FUSIONS[name]:
            try:
                out.append(SINGLE_BACKENDS[member]())
            except ModelMissingError as exc:
                log.warning("fusion without %s: %s", member, exc)
        if not out:
            raise ConfigError("no backend of the fusion is available; run `voicelive setup-models`")
        return out
    if name not in SINGLE_BACKENDS:
        raise ConfigError(f"unknown backend '{name}'; choose one of: {', '.join(BACKEND_NAMES)}")
    return [SINGLE_BACKENDS[name]()]
