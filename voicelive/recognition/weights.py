"""Pretrained GE2E speaker-encoder weights (Resemblyzer 0.1.4), converted once to a plain ``.npz``.

Resemblyzer ships its weights as ``resemblyzer/pretrained.pt`` inside its wheel, a PyTorch
checkpoint. VoiceLive does not depend on torch: :func:`setup_models` downloads the wheel with pip
(``pip download --no-deps``, nothing is installed), reads the checkpoint with the small torch-free
reader in this module, and writes the LSTM and linear tensors as float32 arrays to
``<models_dir>/ge2e_resemblyzer_0.1.4.npz`` (temp file + ``os.replace``). Later runs only load that
file (:func:`load_ge2e_weights`).

The reader understands both PyTorch checkpoint layouts:

* the *legacy* stream (torch < 1.6, and Resemblyzer's file): four pickles in a row (magic number,
  protocol version, system info, the object itself), a pickled list of storage keys, then each
  storage as ``int64 element count`` + raw little-endian bytes;
* the *zip* archive (torch >= 1.6): ``<name>/data.pkl`` plus one raw entry ``<name>/data/<key>``
  per storage.

Both pickles refer to storages by "persistent id" and rebuild tensors through
``torch._utils._rebuild_tensor_v2``; the unpickler here maps exactly those names (and
``collections.OrderedDict``) to numpy equivalents and refuses every other global, so a checkpoint
cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from voicelive.errors import ModelError, ModelMissingError
from voicelive.paths import models_dir as default_models_dir

log = logging.getLogger(__name__)

RESEMBLYZER_VERSION = "0.1.4"
RESEMBLYZER_REQUIREMENT = f"resemblyzer=={RESEMBLYZER_VERSION}"
WEIGHTS_FILENAME = f"ge2e_resemblyzer_{RESEMBLYZER_VERSION}.npz"
PRETRAINED_MEMBER = "resemblyzer/pretrained.pt"
PRETRAINED_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
"""sha256 of ``resemblyzer/pretrained.pt`` in the 0.1.4 wheel on PyPI; a different file is refused."""

SHA256_KEY = "pretrained_sha256"
SOURCE_KEY = "source"
DOWNLOAD_TIMEOUT_S = 600.0

HIDDEN = 256
N_MELS = 40
N_LAYERS = 3
EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {
    **{f"lstm.weight_ih_l{k}": (4 * HIDDEN, N_MELS if k == 0 else HIDDEN) for k in range(N_LAYERS)},
    **{f"lstm.weight_hh_l{k}": (4 * HIDDEN, HIDDEN) for k in range(N_LAYERS)},
    **{f"lstm.bias_ih_l{k}": (4 * HIDDEN,) for k in range(N_LAYERS)},
    **{f"lstm.bias_hh_l{k}": (4 * HIDDEN,) for k in range(N_LAYERS)},
    "linear.weight": (HIDDEN, HIDDEN),
    "linear.bias": (HIDDEN,),
}
"""Every tensor the encoder needs, in PyTorch's naming and layout (gate order i, f, g, o)."""

_FIX = "run `voicelive setup-models`"


# ================================================================================================
# torch-free checkpoint reader
# ================================================================================================

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.FloatStorage`` & co. while unpickling."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return _STORAGE_DTYPES[self.name]


class _Storage:
    """A storage whose bytes may arrive after the pickle (legacy layout) — filled in later."""

    __slots__ = ("key", "dtype", "numel", "data")

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.data: np.ndarray | None = None


class _PendingTensor:
    """A tensor waiting for its storage bytes: ``(storage, offset, size, stride)`` in elements."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ModelError(f"checkpoint storage {self.storage.key} has no data; the file is truncated")
        if any(s < 0 for s in self.size) or any(s < 0 for s in self.stride):
            raise ModelError("checkpoint holds a tensor with negative size or stride; the file is corrupt")
        if 0 in self.size:
            return np.zeros(self.size, dtype=data.dtype)
        last = self.offset + sum((n - 1) * st for n, st in zip(self.size, self.stride))
        if self.offset < 0 or last >= data.size:
            raise ModelError(f"checkpoint tensor of shape {self.size} reaches past its storage "
                             f"({data.size} elements); the file is corrupt")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=tuple(st * item for st in self.stride),
                                               writeable=False)
        return np.array(view, copy=True)


def _rebuild_tensor_v2(storage: _Storage, storage_offset: int, size: tuple, stride: tuple,
                       requires_grad: bool = False, backward_hooks: Any = None,
                       metadata: Any = None) -> _PendingTensor:
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage: _Storage, storage_offset: int, size: tuple, stride: tuple) -> _PendingTensor:
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None) -> Any:
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickler that knows just enough of torch to rebuild tensors as numpy arrays."""

    def __init__(self, file: io.BufferedIOBase, storages: dict[str, _Storage],
                 load_storage: Callable[[str, np.dtype, int], np.ndarray] | None = None) -> None:
        super().__init__(file, encoding="utf-8")
        self._storages = storages
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ModelError(f"checkpoint needs '{module}.{name}', which this torch-free reader "
                             "does not allow; only plain tensor checkpoints are supported") from None

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise ModelError(f"checkpoint has an unknown persistent id {pid!r}; the file is corrupt")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module":  # legacy: a pickled nn.Module class reference -> never needed for weights
            raise ModelError("checkpoint pickles a whole torch module; save a state_dict instead")
        if kind != "storage" or len(pid) < 5:
            raise ModelError(f"checkpoint has an unknown persistent id {pid[0]!r}; the file is corrupt")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise ModelError(f"checkpoint storage type {storage_type!r} is not supported")
        view = pid[5] if len(pid) > 5 else None
        storage = self._storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type.dtype, numel)
            if self._load_storage is not None:
                storage.data = self._load_storage(key, storage_type.dtype, numel)
            self._storages[key] = storage
        if view is not None:  # legacy storage view: (view_key, offset, size) into the root storage
            raise ModelError("checkpoint uses legacy storage views, which are not supported")
        return storage


def _materialise(obj: Any) -> Any:
    """Replace every pending tensor in a nested dict/list/tuple by its numpy array."""
    if isinstance(obj, _PendingTensor):
        return obj.materialise()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialise(v)
        return out
    if isinstance(obj, list):
        return [_materialise(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v) for v in obj)
    return obj


def _read_legacy(raw: bytes) -> Any:
    f = io.BytesIO(raw)

    def plain() -> Any:  # the small header pickles, with the same restricted globals
        return _CheckpointUnpickler(f, {}).load()

    magic = plain()
    if magic != _LEGACY_MAGIC:
        raise ModelError("not a PyTorch checkpoint (bad magic number)")
    protocol = plain()
    if protocol != _LEGACY_PROTOCOL:
        raise ModelError(f"unsupported legacy PyTorch protocol version {protocol!r}")
    sys_info = plain()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ModelError("big-endian PyTorch checkpoints are not supported")
    storages: dict[str, _Storage] = {}
    result = _CheckpointUnpickler(f, storages).load()
    keys = plain()
    if not isinstance(keys, list):
        raise ModelError("checkpoint storage list is malformed; the file is corrupt")
    for key in keys:
        key = str(key)
        storage = storages.get(key)
        if storage is None:
            raise ModelError(f"checkpoint lists storage {key} that its pickle never uses; the file is corrupt")
        header = f.read(8)
        if len(header) != 8:
            raise ModelError("checkpoint ends early (missing storage data); download it again")
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * storage.dtype.itemsize
        blob = f.read(nbytes)
        if numel < 0 or len(blob) != nbytes:
            raise ModelError("checkpoint ends early (storage data cut short); download it again")
        storage.data = np.frombuffer(blob, dtype=storage.dtype)
    return _materialise(result)


def _read_zip(raw: bytes) -> Any:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ModelError("zip checkpoint has no single data.pkl; it is not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and zf.read(byteorder).strip() not in (b"little", b""):
            raise ModelError("big-endian PyTorch checkpoints are not supported")

        def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            try:
                blob = zf.read(f"{prefix}data/{key}")
            except KeyError:
                raise ModelError(f"zip checkpoint lacks storage {key}; the file is corrupt") from None
            if len(blob) < numel * dtype.itemsize:
                raise ModelError(f"zip checkpoint storage {key} is cut short; the file is corrupt")
            return np.frombuffer(blob, dtype=dtype, count=numel)

        with zf.open(pkl[0]) as fp:
            result = _CheckpointUnpickler(io.BytesIO(fp.read()), {}, load_storage).load()
    return _materialise(result)


def read_torch_checkpoint(raw: bytes) -> Any:
    """Parse a PyTorch checkpoint (zip or legacy layout) without torch.

    Returns the pickled object with every tensor replaced by a numpy array (its own copy, in the
    checkpoint's dtype). Only tensors, storages and ``OrderedDict`` are allowed inside.

    Raises
    ------
    ModelError
        The bytes are not a supported checkpoint, or they are corrupt or truncated.
    """
    try:
        if raw[:4] == b"PK\x03\x04":
            return _read_zip(raw)
        return _read_legacy(raw)
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot parse the PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


# ================================================================================================
# download, convert, store, load
# ================================================================================================

def weights_path(models_dir: str | os.PathLike | None = None) -> Path:
    """Where the converted weights live: ``<models_dir>/ge2e_resemblyzer_0.1.4.npz``."""
    return default_models_dir(models_dir) / WEIGHTS_FILENAME


def extract_ge2e_tensors(checkpoint: Any) -> dict[str, np.ndarray]:
    """The LSTM and linear tensors of a parsed Resemblyzer checkpoint, as float32 arrays."""
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelError("the checkpoint holds no model state dict; it is not Resemblyzer's encoder")
    out = {}
    for name, shape in EXPECTED_SHAPES.items():
        arr = state.get(name)
        if not isinstance(arr, np.ndarray):
            raise ModelError(f"the checkpoint lacks tensor '{name}'; it is not Resemblyzer's encoder")
        if arr.shape != shape:
            raise ModelError(f"tensor '{name}' has shape {arr.shape}, expected {shape}")
        out[name] = np.ascontiguousarray(arr, dtype=np.float32)
    return out


def _check_weights(arrays: Mapping[str, np.ndarray], where: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, shape in EXPECTED_SHAPES.items():
        if name not in arrays:
            raise ModelError(f"GE2E weights in {where} lack '{name}'; delete the file and {_FIX}")
        a = np.asarray(arrays[name])
        if a.shape != shape or a.dtype != np.float32 or not np.all(np.isfinite(a)):
            raise ModelError(f"GE2E weights in {where} have a bad '{name}' ({a.dtype}{a.shape}); "
                             f"delete the file and {_FIX}")
        out[name] = a
    for key in (SHA256_KEY, SOURCE_KEY):
        if key in arrays:
            out[key] = np.asarray(arrays[key])
    return out


def load_ge2e_weights(models_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Load the converted GE2E weights.

    Returns a dict of float32 arrays named as in PyTorch (``lstm.weight_ih_l0`` ... ``linear.bias``,
    see :data:`EXPECTED_SHAPES`) plus ``pretrained_sha256`` (0-d string array: sha256 of the source
    ``pretrained.pt``) and ``source``.

    Raises
    ------
    ModelMissingError
        No weights file yet (run ``voicelive setup-models``).
    ModelError
        The file exists but is corrupt or incomplete.
    """
    directory = default_models_dir(models_dir)
    path = directory / WEIGHTS_FILENAME
    if not path.is_file():
        raise ModelMissingError(f"GE2E weights not found in {directory}; {_FIX}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"GE2E weights file {path} is unreadable ({exc}); delete it and {_FIX}") from exc
    return _check_weights(arrays, path)


def weights_sha256(weights: Mapping[str, np.ndarray]) -> str:
    """The source checkpoint's sha256 recorded in a weights dict ("" when unknown)."""
    v = weights.get(SHA256_KEY)
    return str(v[()]) if v is not None else ""


def _say(msg: str, quiet: bool) -> None:
    log.info(msg)
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def _download_wheel(dest: Path, timeout_s: float) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "-q", RESEMBLYZER_REQUIREMENT, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ModelMissingError(f"downloading {RESEMBLYZER_REQUIREMENT} took more than {timeout_s:.0f} s "
                                f"(slow or no network?); retry `voicelive setup-models`, or download the "
                                "wheel elsewhere and pass it with --wheel") from None
    except OSError as exc:
        raise ModelMissingError(f"could not run pip to download {RESEMBLYZER_REQUIREMENT} ({exc}); "
                                "install pip, or pass a downloaded wheel with --wheel") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"pip exit status {proc.returncode}"
        if "No module named pip" in (proc.stderr or ""):
            raise ModelMissingError(f"pip is not available in {sys.executable}; install pip, or pass a "
                                    "downloaded resemblyzer wheel with --wheel")
        raise ModelMissingError(f"could not download {RESEMBLYZER_REQUIREMENT} (offline? pip said: {detail}); "
                                "connect to the network and run `voicelive setup-models`, or pass a "
                                "downloaded wheel with --wheel")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelMissingError(f"pip downloaded no wheel for {RESEMBLYZER_REQUIREMENT}; "
                                "pass a downloaded wheel with --wheel")
    return wheels[0]


def _read_pretrained(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(PRETRAINED_MEMBER)
    except FileNotFoundError:
        raise ModelMissingError(f"wheel {wheel} does not exist; pass the path of "
                                f"Resemblyzer-{RESEMBLYZER_VERSION}-py3-none-any.whl") from None
    except KeyError:
        raise ModelError(f"{wheel} has no {PRETRAINED_MEMBER}; it is not the resemblyzer "
                         f"{RESEMBLYZER_VERSION} wheel") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"cannot open {wheel} as a wheel ({exc}); download it again") from exc


def _write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fp:
            np.savez(fp, **arrays)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def setup_models(models_dir: str | os.PathLike | None = None, *, quiet: bool = False,
                 wheel: str | os.PathLike | None = None, force: bool = False,
                 timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Make sure the GE2E weights are on disk and return the path of the ``.npz``. Idempotent.

    Parameters
    ----------
    models_dir
        Target folder; default :func:`voicelive.paths.models_dir` (``VOICELIVE_MODELS_DIR``).
    quiet
        Do not print progress to stderr.
    wheel
        Use this already-downloaded ``Resemblyzer-0.1.4-py3-none-any.whl`` instead of pip.
    force
        Convert again even if a valid weights file exists.
    timeout_s
        Limit for the pip download.

    Raises
    ------
    ModelMissingError
        The wheel cannot be downloaded (offline, no pip) or the given wheel does not exist.
    ModelError
        The download is not the expected file, or it cannot be parsed.
    """
    directory = default_models_dir(models_dir)
    path = directory / WEIGHTS_FILENAME
    if path.is_file() and not force:
        try:
            load_ge2e_weights(directory)
            _say(f"GE2E weights already present: {path}", quiet)
            return path
        except ModelError as exc:
            _say(f"existing GE2E weights are unusable ({exc}); converting them again", quiet)

    with tempfile.TemporaryDirectory(prefix="voicelive-ge2e-") as tmp:
        if wheel is None:
            _say(f"downloading {RESEMBLYZER_REQUIREMENT} (about 16 MB) with pip ...", quiet)
            wheel_path = _download_wheel(Path(tmp), timeout_s)
        else:
            wheel_path = Path(wheel).expanduser()
        raw = _read_pretrained(wheel_path)

    digest = hashlib.sha256(raw).hexdigest()
    if digest != PRETRAINED_SHA256:
        raise ModelError(f"{PRETRAINED_MEMBER} in {wheel_path.name} has sha256 {digest}, expected "
                         f"{PRETRAINED_SHA256}; the download is corrupt or not resemblyzer {RESEMBLYZER_VERSION}")
    tensors = extract_ge2e_tensors(read_torch_checkpoint(raw))
    arrays: dict[str, np.ndarray] = dict(tensors)
    arrays[SHA256_KEY] = np.array(digest)
    arrays[SOURCE_KEY] = np.array(f"{RESEMBLYZER_REQUIREMENT}:{PRETRAINED_MEMBER}")
    _write_npz_atomic(path, arrays)
    _check_weights(arrays, path)
    _say(f"GE2E weights written to {path}", quiet)
    return path
