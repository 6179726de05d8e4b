"""DACO benchmark: build a dictionary on real data, steer SmolLM2-135M with it, and time sparse coding.

Stages (each skipped when its output exists, so a stopped run resumes):
  pool    the benchmark pool (bench/daco/_pool.py)
  build   `curate build-dictionary` on it (WordNet vocabulary of --num-concepts, SmolLM2 layers --layers)
  plain   `curate eval` of the plain model: --limit heldout harmful prompts + benign-qa heldout prompts, benign NLL
  steered the same evaluation with `--steer DICT` (OMP k, strength in DICT/steering.json)
  speed   our batched OMP vs scikit-learn sparse_encode(omp) on the build's activations and atoms

    .venv/bin/python -m bench.daco.end_to_end --work runs/daco/bench --num-concepts 1000 --limit 60
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import machine_info, make_parser, write_json


def _build(args, pool: Path) -> Path:
    from concepts.build import run
    from concepts.config import BuildConfig

    out = args.work / "dict"
    if not (out / "manifest.json").is_file():
        run(BuildConfig(out=out, num_concepts=args.num_concepts, pool=str(pool), layers=args.layers,
                        positives=args.positives, negatives=args.negatives, max_length=48))
    return out


def _eval(args, name: str, steer: Path | None) -> dict:
    from curate.evaluation.config import EvalConfig
    from curate.evaluation.run import run

    out = args.work / name
    if not (out / "summary.json").is_file():
        run(EvalConfig(out=out, model="smollm2-135m", prompts="registry:harmful-prompts:heldout",
                       benign_prompts="registry:benign-qa:heldout", nll_data="registry:benign-qa:heldout",
                       limit=args.limit, max_new_tokens=args.max_new_tokens, steer=steer))
    return json.loads((out / "summary.json").read_text())


def _speed(args, folder: Path) -> dict:
    import numpy as np

    from bench.daco.omp_speed import omp_speed
    from concepts import load_dictionary
    from embed import read_embeddings

    dictionary = load_dictionary(folder)
    layer = dictionary.layers[len(dictionary.layers) // 2]
    acts_dir = next((folder / "work").glob("acts-*"))
    acts = read_embeddings(acts_dir).vectors
    width = acts.shape[1] // len(dictionary.layers)
    k = dictionary.layers.index(layer)
    x = acts[:args.speed_rows, k * width:(k + 1) * width]
    return omp_speed(np.ascontiguousarray(x), dictionary.atoms[layer].numpy(), args.omp_k)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--work", type=Path, default=Path("runs/daco/bench"))
    parser.add_argument("--num-concepts", type=int, default=1000)
    parser.add_argument("--extra-pool", type=int, default=12_000, help="random default-pool sentences added")
    parser.add_argument("--layers", default="15")
    parser.add_argument("--positives", type=int, default=4)
    parser.add_argument("--negatives", type=int, default=4)
    parser.add_argument("--limit", type=int, default=60, help="prompts per eval set")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--steer-k", type=int, default=8)
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--omp-k", type=int, default=16)
    parser.add_argument("--speed-rows", type=int, default=2000)
    parser.add_argument("--stages", default="pool,build,plain,steered,speed")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    from bench.daco._pool import write_bench_pool

    saved = args.work / "results.json"
    results: dict = json.loads(saved.read_text()) if saved.is_file() else {}  # stages run earlier are kept
    results.update({"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "args": vars(args),
                    **machine_info()})
    pool = write_bench_pool(args.work / "pool.parquet", args.num_concepts, args.extra_pool)
    folder = _build(args, pool) if "build" in stages or "steered" in stages else args.work / "dict"
    manifest = folder / "manifest.json"
    results["build"] = json.loads(manifest.read_text()) if manifest.is_file() else None
    if "plain" in stages:
        results["plain"] = _eval(args, "eval-plain", None)
    if "steered" in stages:
        (folder / "steering.json").write_text(json.dumps({"k": args.steer_k, "strength": args.strength}))
        results["steered"] = _eval(args, f"eval-steered-k{args.steer_k}-s{args.strength:g}", folder)
    if "speed" in stages:
        results["speed"] = _speed(args, folder)
    write_json(saved, results)
    for stage in ("plain", "steered"):
        if stage in results:
            s = results[stage]
            print(f"{stage:8s} harmful refused {s['harmful']['rate']:.3f}  benign refused {s['benign']['rate']:.3f}  "
                  f"benign NLL {s['nll']['mean']:.4f}  ({s['seconds']} s)")
    if "speed" in results:
        print("speed", json.dumps(results["speed"]))


if __name__ == "__main__":
    main()
