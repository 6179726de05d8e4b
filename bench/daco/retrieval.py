"""Retrieval timing at the default scale: 15,000 concepts over a 264,000-stimulus pool (384-d unit vectors).

Random vectors stand in for MiniLM embeddings (retrieval cost depends on the shapes, not the content; real
embeddings cluster, so fewer distinct candidates need a normaliser and the real run is faster, not slower).

    .venv/bin/python -m bench.daco.retrieval --concepts 15000 --pool 264000
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.common import machine_info, make_parser


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--concepts", type=int, default=15_000)
    parser.add_argument("--pool", type=int, default=264_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--index", default="auto")
    args = parser.parse_args()
    from concepts.retrieve import retrieve

    rng = np.random.default_rng(0)

    def unit(n):
        x = rng.standard_normal((n, args.dim), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    concepts, pool = unit(args.concepts), unit(args.pool)
    started = time.perf_counter()
    found = retrieve(concepts, pool, positives=8, negatives=8, candidates=32, background=2048, index=args.index)
    seconds = time.perf_counter() - started
    print(json.dumps({"concepts": args.concepts, "pool": args.pool, "dim": args.dim, "index": found.index_kind,
                      "seconds": round(seconds, 1), "positives_found": int(found.n_pos.sum()), **machine_info()}))


if __name__ == "__main__":
    main()
