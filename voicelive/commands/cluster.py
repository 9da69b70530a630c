"""`voicelive cluster`: group recordings by voice (and turn kept unknown voices into new speakers)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from voicelive.commands._common import add_data_args, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="group recordings by voice; suggest new speakers from unknown voices",
                       description="Group recordings by voice using the engine's speaker embeddings. Writes a CSV "
                                   "of file -> cluster with a confidence. With a manifest (labels known) every "
                                   "method is run and scored side by side (NMI, ARI, accuracy after Hungarian "
                                   "matching). --unknown groups the unknown-voice segments the app kept during "
                                   "live use into 'new voice?' suggestions; add --enroll N --name NAME to enroll one.")
    p.add_argument("source", nargs="?", metavar="DIR_OR_MANIFEST",
                   help="a folder of audio files, or a manifest.csv (with a speaker column)")
    p.add_argument("--method", default="auto", choices=("kmeans", "agglomerative", "dbscan", "meanshift", "auto"),
                   help="clustering method for the CSV (default: auto)")
    p.add_argument("--n-speakers", type=int, default=None, help="number of speakers (default: estimated)")
    p.add_argument("--csv", default="clusters.csv", help="where to write file,cluster,confidence (default ./clusters.csv)")
    p.add_argument("--all-methods", action="store_true", help="run every method even without labels")
    p.add_argument("--max-per-speaker", type=int, default=None,
                   help="with a manifest: use at most N recordings per speaker (seeded choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="ge2e", help="embedding backend (default: ge2e)")
    p.add_argument("--json", action="store_true",
                   help='print {"n_clusters": {method: int}, "scores": {method: {"nmi", "ari", "acc"}}}')
    p.add_argument("--unknown", action="store_true", help="suggest new voices from the kept unknown segments")
    p.add_argument("--enroll", type=int, default=None, metavar="N", help="with --unknown: enroll suggestion N")
    p.add_argument("--name", default=None, help="with --enroll: the new speaker's name")
    p.add_argument("--forget", action="store_true", help="with --unknown: delete every kept unknown segment")
    add_data_args(p, model_dir=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import ConfigError

    if args.unknown:
        return _run_unknown(args)
    if args.enroll is not None or args.name is not None or args.forget:
        raise ConfigError("--enroll, --name and --forget go with --unknown (the kept unknown voices)")
    if not args.source:
        raise ConfigError("give a folder of recordings or a manifest.csv to cluster (or --unknown)")
    from voicelive.analysis.clustering import ALL_METHODS, cluster, cluster_all
    from voicelive.analysis.embeddings import Embedder, list_audio
    from voicelive.evaluation.metrics import clustering_scores

    items = list_audio(args.source, max_per_speaker=args.max_per_speaker, seed=args.seed)
    emb = Embedder(args.backend)

    def progress(done, total):
        if sys.stderr.isatty():
            sys.stderr.write(f"\rembedding {done}/{total}")
            sys.stderr.write("\n" if done == total else "")
            sys.stderr.flush()

    x, items, skipped = emb.embed_items(items, progress=progress)
    for it, why in skipped:
        print(f"skipped {it.path}: {why}", file=sys.stderr)
    if not items:
        raise ConfigError("none of the recordings could be used (see the messages above)")
    labelled = all(it.label is not None for it in items)
    if labelled or args.all_methods:
        results = cluster_all(x, n_speakers=args.n_speakers, seed=args.seed)
    else:
        results = {args.method: cluster(x, method=args.method, n_speakers=args.n_speakers, seed=args.seed)}
    chosen = results[args.method]
    out = Path(args.csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "cluster", "confidence"] + (["speaker"] if labelled else []))
        for it, lab, conf in zip(items, chosen.labels, chosen.confidence):
            w.writerow([str(it.path), int(lab), f"{conf:.3f}"] + ([it.label] if labelled else []))
    scores = {}
    if labelled:
        truth = [it.label for it in items]
        scores = {m: {k: round(v, 4) for k, v in clustering_scores(truth, r.labels).items()}
                  for m, r in results.items()}
    order = [m for m in ALL_METHODS if m in results]
    if args.json:
        print_json({"n_clusters": {m: int(results[m].n_clusters) for m in order},
                    "scores": {m: scores[m] for m in order} if scores else {}})
        return 0
    n_true = len({it.label for it in items}) if labelled else None
    print(f"{len(items)} recordings" + (f" of {n_true} speakers" if labelled else "") +
          f"; embeddings: {emb.name}")
    head = "method          clusters" + ("     NMI     ARI     ACC" if scores else "")
    print(head)
    for m in order:
        r = results[m]
        line = f"{m:<15} {r.n_clusters:>8}"
        if scores:
            s = scores[m]
            line += f"  {s['nmi']:6.3f}  {s['ari']:6.3f}  {s['acc']:6.3f}"
        print(line)
    print(f"wrote {out} ({args.method}: {chosen.n_clusters} clusters)")
    return 0


def _run_unknown(args: argparse.Namespace) -> int:
    from voicelive.analysis.unknown import enroll_suggestion, suggest_new_voices
    from voicelive.commands._common import open_store
    from voicelive.errors import ConfigError

    store = open_store(args)
    try:
        if args.forget:
            print(f"deleted {store.remove_unknown_segments()} kept unknown segment(s)")
            return 0
        sugg = suggest_new_voices(store)
        if args.enroll is None:
            if args.json:
                print_json({"suggestions": [{"number": s.number, "segments": list(s.segment_ids),
                                             "speech_s": round(s.speech_s, 2), "confidence": round(s.confidence, 3),
                                             "closest_speaker": s.closest_speaker} for s in sugg]})
                return 0
            n = store.count_unknown_segments()
            if not sugg:
                hint = "" if store.keep_unknown_segments else \
                    " (keeping unknown voices is off: turn on Speakers ▸ Keep unknown voices in the app)"
                print(f"no new-voice suggestions from {n} kept unknown segment(s){hint}")
                return 0
            for s in sugg:
                print(s.label())
            print("enroll one with: voicelive cluster --unknown --enroll N --name NAME")
            return 0
        if not args.name:
            raise ConfigError("--enroll needs --name NAME for the new speaker")
        match = [s for s in sugg if s.number == args.enroll]
        if not match:
            raise ConfigError(f"there is no suggestion {args.enroll} (there are {len(sugg)}); "
                              "run `voicelive cluster --unknown` to list them")
        info = enroll_suggestion(store, match[0], args.name)
        from voicelive.enrollment.model_update import sync_model

        res = sync_model(store)
        print(f"enrolled {info.name} from {info.n_clips} segment(s), {info.speech_s:.0f} s; model "
              f"v{res.version_id} with {len(res.recognizer.speakers) if res.recognizer else 0} speaker(s)")
        return 0
    finally:
        store.close()
