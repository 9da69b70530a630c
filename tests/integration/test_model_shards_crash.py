"""Crash safety of the sharded model save: a process that keeps adding speakers to a model and
saving it (a new shard + a new model file per save, through the store) is killed with SIGKILL at
random moments. After every kill the active model must verify (file and shard checksums), load
and score; pruning afterwards must keep exactly the shards the kept versions need."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from voicelive.enrollment.model_update import active_recognizer
from voicelive.store import Store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

ROUNDS = 6
SEED = 20261130

CHILD = textwrap.dedent('''
    import sys
    import numpy as np
    import sklearn.linear_model  # the calibration's import: not inside the timed window
    from voicelive.enrollment.model_update import active_recognizer, save_active
    from voicelive.recognition.recognizer import Recognizer
    from voicelive.store import Store

    store = Store.open(sys.argv[1])
    rec = active_recognizer(store)

    def feats(k):
        # a speaker of 150 "clips": embeddings near a speaker-specific direction (~150 kB a shard)
        rng = np.random.default_rng([k, 7])
        centre = np.abs(rng.normal(size=256))
        return [np.abs(centre + 0.3 * rng.normal(size=256)).astype(np.float32) for _ in range(150)]

    k = 0 if rec is None else len(rec.speakers)
    if rec is None:
        rec = Recognizer.create("ge2e")
        rec.enroll_features([{f"spk{j:03d}": feats(j) for j in range(3)}])
        save_active(store, rec)
        k = 3
    print("ready", flush=True)
    while True:
        rec.add_speaker_features(f"spk{k:03d}", [feats(k)])
        save_active(store, rec)
        k += 1
''')


def probe() -> np.ndarray:
    rng = np.random.default_rng([1, 7])
    return np.abs(np.abs(rng.normal(size=256)) + 0.3 * rng.normal(size=256)).astype(np.float32)


def check(data_dir: Path) -> list[str]:
    with Store.open(data_dir) as store:
        store.verify_model()
        rec = active_recognizer(store)
        used = set(store.active_model().card["files"])
    assert rec.speakers[:3] == ["spk000", "spk001", "spk002"]
    assert used == {f"shards/{n}" for n in set(rec._shard_of.values())}
    logits = rec.logits_features([probe()])
    assert np.all(np.isfinite(logits)) and rec.speakers[int(np.argmax(logits))] == "spk001"
    return rec.speakers


def test_sigkill_while_saving_sharded_models_never_breaks_the_active_model(tmp_path, ge2e_weights):
    data_dir = tmp_path / "data"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rng = np.random.default_rng(SEED)
    sizes = []
    for _ in range(ROUNDS):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        line = proc.stdout.readline()
        assert line.startswith("ready"), proc.stderr.read()[-2000:]
        time.sleep(float(rng.uniform(0.05, 0.5)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        sizes.append(len(check(data_dir)))
    print("speakers after each kill:", sizes)
    assert sizes == sorted(sizes) and sizes[-1] > 3, f"the saves made no progress: {sizes}"
    # left-overs of killed saves (temporary files, orphan shards) go with a prune; the model stays
    with Store.open(data_dir) as store:
        store.prune_models(keep=1)
        kept = {f for v in store.list_models() for f in v.card.get("files", [])}
        assert {f"shards/{p.name}" for p in (store.models_dir / "shards").iterdir()
                if not p.name.startswith(".tmp-")} == kept
    check(data_dir)
