"""`voicelive drift`: does the microphone / room still sound like the one used at enrollment?"""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_data_args, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drift", help="compare recent audio with the enrollment recordings (changed microphone?)",
                       description="Compares speaker embeddings of recent speech with those of the enrolled "
                                   "speakers' own enrollment clips (Fréchet distance, and NDB/JSD over k-means "
                                   "bins of the enrollment set) and says in plain words whether the microphone or "
                                   "room sounds different. Recent speech = the given files, else the windows the "
                                   "app recorded during live use.")
    p.add_argument("files", nargs="*", metavar="FILE", help="recent recordings of enrolled speakers")
    p.add_argument("--recent", type=int, default=300, help="newest live windows to use (default 300)")
    p.add_argument("--json", action="store_true", help="the figures as JSON")
    add_data_args(p, model_dir=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.analysis.drift import reference_from_clips
    from voicelive.analysis.embeddings import Embedder
    from voicelive.audio.io import load_audio
    from voicelive.commands._common import open_store
    from voicelive.errors import NotEnrolledError

    emb = Embedder()
    store = open_store(args)
    try:
        clips = store.clips_by_speaker()
        if not clips:
            raise NotEnrolledError("nobody is enrolled yet; drift compares with the enrollment clips "
                                   "(`voicelive enroll NAME FILE...`)")
        if args.files:
            recent = emb.embed_windows([load_audio(f) for f in args.files])
            source = f"{len(args.files)} file(s)"
        else:
            recent = store.live_embeddings(embedding_hash=emb.feature_hash, limit=args.recent).embeddings
            source = "recent live speech"
    finally:
        store.close()
    ref = reference_from_clips(emb, clips)
    rep = ref.compare(recent)
    if args.json:
        out = rep.to_dict()
        out["source"] = source
        print_json({k: (None if isinstance(v, float) and v != v else v) for k, v in out.items()})
        return 0
    print(f"{source}: {rep.n_recent} speech window(s) vs {rep.n_reference} enrollment window(s)")
    if rep.speakers:
        print("closest enrolled speakers: " + ", ".join(f"{s} {n}" for s, n in rep.speakers.items()))
    print(rep.summary())
    return 0
