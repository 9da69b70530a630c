"""GE2E: torch-free weight conversion, the numpy encoder against Resemblyzer's own numbers, and the
cosine backend. Tests that need the pretrained weights use the shared models cache (the README's
set-up ran `voicelive setup-models`); they are skipped only when the weights cannot be had."""

from __future__ import annotations

import io
import pickle
import struct
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import importlib.util

from voicelive import cli
from voicelive.errors import ModelError, ModelMissingError, NotEnrolledError, UnknownSpeakerError
from voicelive.recognition import weights as W
from voicelive.recognition.ge2e import GE2EBackend
from voicelive.recognition.ge2e_encoder import RECURRENT_MODES, GE2EEncoder

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "ge2e_reference.npz"
SR = 16_000

# ---- the test signals: the very generator that made the reference numbers -----------------------
def _load_reference_script():
    spec = importlib.util.spec_from_file_location("make_ge2e_reference", REFERENCE.parent / "make_ge2e_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # numpy/scipy only at import time; torch is needed only by its main()
    return mod


_REF = _load_reference_script()
SIGNALS = _REF.SIGNALS
make_signal = _REF.make_signal
PARTIALS_OF = _REF.PARTIALS_OF


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder(ge2e_weights) -> GE2EEncoder:
    return GE2EEncoder(models_dir=ge2e_weights.parent)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as z:
        return {k: z[k] for k in z.files}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---- weights: download/convert, reader, errors -------------------------------------------------
def test_weights_parse(ge2e_weights):
    w = W.load_ge2e_weights(ge2e_weights.parent)
    for name, shape in W.EXPECTED_SHAPES.items():
        assert w[name].shape == shape and w[name].dtype == np.float32
        assert np.all(np.isfinite(w[name]))
    assert W.weights_sha256(w) == W.PRETRAINED_SHA256
    # the LSTM weights are not zeros/garbage: typical magnitudes of a trained network
    assert 0.01 < float(np.abs(w["lstm.weight_hh_l0"]).mean()) < 1.0


def test_setup_models_is_idempotent_and_offline_once_converted(ge2e_weights, monkeypatch):
    def no_pip(*a, **k):
        raise AssertionError("setup_models must not download when the weights are there")

    monkeypatch.setattr(W.subprocess, "run", no_pip)
    assert W.setup_models(ge2e_weights.parent, quiet=True) == ge2e_weights


def test_empty_models_dir_gives_clear_missing_error(tmp_path):
    with pytest.raises(ModelMissingError) as info:
        W.load_ge2e_weights(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg and "voicelive setup-models" in msg and "\n" not in msg
    with pytest.raises(ModelMissingError, match="setup-models"):
        GE2EEncoder(models_dir=tmp_path)
    with pytest.raises(ModelMissingError, match="setup-models"):
        GE2EBackend(models_dir=tmp_path)


def test_setup_models_offline_says_what_failed_and_how_to_fix(tmp_path, monkeypatch):
    def pip_fails(cmd, **kwargs):
        assert "download" in cmd and W.RESEMBLYZER_REQUIREMENT in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: Retrying ...\nERROR: No matching "
                                           "distribution found for resemblyzer==0.1.4\n")

    monkeypatch.setattr(W.subprocess, "run", pip_fails)
    with pytest.raises(ModelMissingError) as info:
        W.setup_models(tmp_path, quiet=True)
    msg = str(info.value)
    assert "could not download resemblyzer==0.1.4" in msg and "voicelive setup-models" in msg
    assert "No matching distribution" in msg and "\n" not in msg
    assert not list(tmp_path.iterdir())  # nothing half-written

    def pip_hangs(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout"))

    monkeypatch.setattr(W.subprocess, "run", pip_hangs)
    with pytest.raises(ModelMissingError, match="took more than"):
        W.setup_models(tmp_path, quiet=True, timeout_s=1)


def test_cli_setup_models_reports_one_line_error(tmp_path, capsys):
    rc = cli.main(["setup-models", "--models-dir", str(tmp_path), "--wheel", str(tmp_path / "nope.whl")])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("voicelive: error:") and "nope.whl" in err and len(err.splitlines()) == 1


def test_wrong_wheel_is_refused_by_checksum(tmp_path):
    wheel = tmp_path / "Resemblyzer-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(W.PRETRAINED_MEMBER, b"not the real weights")
    with pytest.raises(ModelError, match="sha256"):
        W.setup_models(tmp_path / "models", quiet=True, wheel=wheel)
    assert not (tmp_path / "models" / W.WEIGHTS_FILENAME).exists()


def test_corrupt_weights_file_is_a_model_error(tmp_path):
    (tmp_path / W.WEIGHTS_FILENAME).write_bytes(b"garbage")
    with pytest.raises(ModelError, match="setup-models") as info:
        W.load_ge2e_weights(tmp_path)
    assert not isinstance(info.value, ModelMissingError)


# A tiny torch.save stand-in (both layouts), so the reader is tested without torch.
class _StorageRef:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _TensorRef:
    def __init__(self, storage: _StorageRef, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, OrderedDict())


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of a ``torch`` module for pickle to name the globals a checkpoint names."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    storage_types = {}
    for name in ("FloatStorage", "DoubleStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
        storage_types[name] = cls

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only pickled by reference
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return storage_types


def _save_checkpoint(obj, storages: list[_StorageRef], storage_types, *, layout: str) -> bytes:
    def type_of(ref):
        return storage_types["DoubleStorage" if ref.data.dtype == np.float64 else "FloatStorage"]

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _StorageRef):
                pid = ("storage", type_of(o), o.key, "cpu", o.data.size)
                return pid + (None,) if layout == "legacy" else pid
            return None

    body = io.BytesIO()
    Pickler(body, protocol=2).dump(obj)
    if layout == "zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("archive/data.pkl", body.getvalue())
            zf.writestr("archive/byteorder", "little")
            for ref in storages:
                zf.writestr(f"archive/data/{ref.key}", ref.data.tobytes())
            zf.writestr("archive/version", "3\n")
        return out.getvalue()
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                   "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, out, protocol=2)
    out.write(body.getvalue())
    pickle.dump([ref.key for ref in storages], out, protocol=2)
    for ref in storages:
        out.write(struct.pack("<q", ref.data.size))
        out.write(ref.data.tobytes())
    return out.getvalue()


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_checkpoint_reader_both_layouts(fake_torch, layout):
    rng = np.random.default_rng(3)
    flat = rng.standard_normal(6 * 4 + 5).astype(np.float32)   # one storage shared by two tensors
    dbl = rng.standard_normal(3).astype(np.float64)
    s1, s2 = _StorageRef("140001", flat), _StorageRef("140002", dbl)
    obj = {"step": 7, "model_state": OrderedDict([
        ("a", _TensorRef(s1, 0, (6, 4), (4, 1))),          # plain
        ("a_t", _TensorRef(s1, 0, (4, 6), (1, 4))),        # transposed view of the same storage
        ("tail", _TensorRef(s1, 24, (5,), (1,))),          # storage offset
        ("d", _TensorRef(s2, 0, (3,), (1,))),              # another dtype
    ])}
    raw = _save_checkpoint(obj, [s1, s2], fake_torch, layout=layout)
    got = W.read_torch_checkpoint(raw)
    state = got["model_state"]
    assert got["step"] == 7 and isinstance(state, OrderedDict) and list(state) == ["a", "a_t", "tail", "d"]
    np.testing.assert_array_equal(state["a"], flat[:24].reshape(6, 4))
    np.testing.assert_array_equal(state["a_t"], flat[:24].reshape(6, 4).T)
    np.testing.assert_array_equal(state["tail"], flat[24:])
    assert state["d"].dtype == np.float64 and np.array_equal(state["d"], dbl)
    with pytest.raises(ModelError):
        W.read_torch_checkpoint(raw[: len(raw) - 7])  # truncated


def test_checkpoint_reader_refuses_other_globals():
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {}):
        pickle.dump(header, out, protocol=2)
    pickle.dump({"model_state": Evil()}, out, protocol=2)
    with pytest.raises(ModelError, match=r"print', which this torch-free reader does not allow"):
        W.read_torch_checkpoint(out.getvalue())


# ---- the encoder -----------------------------------------------------------------------------------
def test_embeddings_match_resemblyzer(encoder, reference):
    cosines = []
    for k, spec in enumerate(SIGNALS):
        emb, partials, slices = encoder.embed_utterance(make_signal(*spec), return_partials=True)
        assert emb.shape == (256,) and emb.dtype == np.float32
        assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5 and float(emb.min()) >= 0.0
        cosines.append(_cos(emb, reference["embeddings"][k]))
        if k == int(reference["partials_of"]):
            ref_p = reference["partials"]
            assert partials.shape == ref_p.shape
            for p, q in zip(partials, ref_p):
                assert _cos(p, q) >= 0.999
    assert min(cosines) >= 0.999, cosines
    # and the four references are different from each other (the test has teeth)
    e = reference["embeddings"]
    assert float(np.max(e @ e.T - 2 * np.eye(len(e)))) < 0.9


def test_partial_slices_follow_resemblyzer():
    wav, mel = GE2EEncoder.compute_partial_slices(32_000)           # 2.0 s
    assert mel == [slice(0, 160), slice(77, 237)]
    assert wav == [slice(0, 25_600), slice(12_320, 37_920)]
    assert len(GE2EEncoder.compute_partial_slices(25_600)[1]) == 1  # 1.6 s: last partial too short
    assert len(GE2EEncoder.compute_partial_slices(56_000)[1]) == 3  # 3.5 s
    assert GE2EEncoder.compute_partial_slices(100)[1] == [slice(0, 160)]


def test_mel_matches_librosa(encoder):
    import librosa

    wave = make_signal(*SIGNALS[2])
    ours = encoder.mel_spectrogram(wave)
    theirs = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=400, hop_length=160, n_mels=40).T
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6 * float(theirs.max()))


def test_mel_filterbank_is_librosas():
    import librosa

    from voicelive.recognition.ge2e_encoder import _mel_filterbank

    np.testing.assert_allclose(_mel_filterbank(), librosa.filters.mel(sr=SR, n_fft=400, n_mels=40).T,
                               rtol=1e-5, atol=1e-9)


def test_recurrent_modes_agree(ge2e_weights, encoder):
    wave = make_signal(*SIGNALS[3])
    base = encoder.embed_utterance(wave)
    for mode in RECURRENT_MODES:
        other = GE2EEncoder(models_dir=ge2e_weights.parent, recurrent_mode=mode)
        np.testing.assert_allclose(other.embed_utterance(wave), base, atol=2e-6)


def test_batch_equals_one_by_one(encoder):
    mel = encoder.mel_spectrogram(make_signal(*SIGNALS[3]))
    mels = np.stack([mel[i:i + 160] for i in range(0, 190, 10)])     # 19 partials
    together = encoder.embed_frames_batch(mels)
    alone = np.concatenate([encoder.embed_frames_batch(m[None]) for m in mels])
    np.testing.assert_allclose(together, alone, atol=2e-6)


def test_no_state_leaks_between_calls_or_threads(encoder):
    from concurrent.futures import ThreadPoolExecutor

    waves = [make_signal(*spec) for spec in SIGNALS]
    first = [encoder.embed_utterance(w) for w in waves]
    again = [encoder.embed_utterance(w) for w in reversed(waves)][::-1]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    with ThreadPoolExecutor(max_workers=3) as pool:
        par = list(pool.map(encoder.embed_utterance, waves * 3))
    np.testing.assert_allclose(np.stack(par), np.stack(first * 3), atol=1e-6)


def test_short_and_odd_inputs(encoder):
    tiny = encoder.embed_utterance(make_signal(*SIGNALS[0])[:1600])   # 0.1 s: padded to one partial
    assert tiny.shape == (256,) and np.isfinite(tiny).all()
    assert np.isfinite(encoder.embed_utterance(np.zeros(400, np.float32))).all()
    with pytest.raises(ValueError):
        encoder.embed_utterance(np.zeros((2, 400), np.float32))


# ---- the backend ---------------------------------------------------------------------------------
VOICES = {  # synthetic "speakers": a voice = f0 + formants; clips differ by seed (jitter, noise, phase)
    "ann": (118.0, ((700, 90), (1220, 110), (2600, 160))),
    "bob": (205.0, ((310, 60), (2250, 120), (3000, 200))),
    "cid": (150.0, ((520, 80), (1850, 100), (2550, 150), (3500, 250))),
}


def _clips(name: str, n: int, seed0: int = 100, dur: float = 1.8) -> list[np.ndarray]:
    f0, formants = VOICES[name]
    return [make_signal(seed0 + i, dur, f0, formants) for i in range(n)]


def test_backend_enroll_score_add_remove_state(encoder):
    be = GE2EBackend(encoder)
    assert be.name == "ge2e" and be.incremental and be.has_embedding
    with pytest.raises(NotEnrolledError):
        be.score(_clips("ann", 1)[0])
    be.enroll({"ann": _clips("ann", 3), "bob": _clips("bob", 3)})
    assert be.speakers == ["ann", "bob"] and be.clip_counts == {"ann": 3, "bob": 3}

    for name in ("ann", "bob"):
        s = be.score(_clips(name, 1, seed0=900)[0])
        assert max(s, key=s.get) == name
        assert all(-1.0 <= v <= 1.0 for v in s.values())
    short = be.score(_clips("bob", 1, seed0=901, dur=0.4)[0])          # shorter than one partial
    assert set(short) == {"ann", "bob"} and np.isfinite(list(short.values())).all()

    # the centroid is the normalised mean of the clip embeddings
    embs = np.stack([be.extract(c) for c in _clips("ann", 3)])
    want = embs.mean(0) / np.linalg.norm(embs.mean(0))
    np.testing.assert_allclose(be._centroids[0], want, atol=1e-6)

    before = be._centroids.copy()
    be.add_speaker("cid", _clips("cid", 2))
    assert be.speakers == ["ann", "bob", "cid"]
    np.testing.assert_array_equal(be._centroids[:2], before)          # nobody else touched
    s = be.score(_clips("cid", 1, seed0=902)[0])
    assert max(s, key=s.get) == "cid"

    arrays, params = be.get_state()
    assert arrays["centroids"].shape == (3, 256) and arrays["centroids"].dtype == np.float32
    assert list(arrays["counts"]) == [3, 3, 2] and params["weights_sha256"] == W.PRETRAINED_SHA256
    restored = GE2EBackend(encoder)
    restored.set_state(arrays, params)
    probe = _clips("ann", 1, seed0=903)[0]
    assert restored.score(probe) == be.score(probe) and restored.speakers == be.speakers
    assert restored.feature_hash == be.feature_hash

    be.remove_speaker("bob")
    assert be.speakers == ["ann", "cid"]
    np.testing.assert_array_equal(be._centroids, restored._centroids[[0, 2]])
    with pytest.raises(UnknownSpeakerError):
        be.remove_speaker("bob")

    other = dict(params, weights_sha256="0" * 64)
    with pytest.raises(ModelError, match="other encoder weights"):
        GE2EBackend(encoder).set_state(arrays, other)
    with pytest.raises(ModelError, match="damaged"):
        GE2EBackend(encoder).set_state({"centroids": arrays["centroids"][:2], "counts": arrays["counts"]}, params)


def test_backend_embed_and_held_out_fold_scores(encoder):
    be = GE2EBackend(encoder)
    e = be.embed(_clips("ann", 1)[0])
    assert e.shape == (256,) and abs(float(np.linalg.norm(e)) - 1) < 1e-5
    feats = {"ann": [be.extract(c) for c in _clips("ann", 3)], "bob": [be.extract(c) for c in _clips("bob", 1)]}
    folds = {"ann": [0, 1, 2], "bob": [0]}  # leave-one-out for ann
    trials = [("ann", 0, feats["ann"][0]), ("ann", 1, feats["ann"][1]), ("ann", 2, feats["ann"][2]),
              ("bob", 0, feats["bob"][0])]
    scores, speakers = be.cross_val_scores(feats, folds, trials)
    assert speakers == ["ann", "bob"] and scores.shape == (4, 2)
    # exact held-out fold: first ann clip vs the centroid of the other two ann clips
    rest = np.mean(feats["ann"][1:], axis=0)
    assert scores[0, 0] == pytest.approx(_cos(feats["ann"][0], rest), abs=1e-9)
    assert np.isnan(scores[3, 1])                                     # bob's only clip: no held-out model
    assert scores[0, 0] > scores[0, 1]


def test_backend_shares_one_encoder(encoder):
    a, b = GE2EBackend(encoder), GE2EBackend(encoder)
    assert a.encoder is b.encoder and a.fresh().encoder is encoder
