"""SAE benchmark on real SmolLM2-135M-Instruct activations (DACO, SAE part).

    .venv/bin/python -m bench.sae.end_to_end --work runs/sae      # every stage; finished stages are skipped

1. data     per-token layer-15 activations of registry records (bench/sae/_data.py, `curate embed`)
2. dict     a concept dictionary at layer 15 (`curate build-dictionary`, concept list bench/sae/concepts.txt)
3. init     `curate train sae` with --init dictionary vs --init random, equal steps, k and width: held-out FVU
4. peer     tokens/s of our trainer vs EleutherAI sparsify on the same cached batches (bench/sae/_peer.py)
5. steer    `curate eval` without steering, with SAE steering and with the dictionary's sparse-coding
            steering: harmful compliance and benign NLL on held-out prompts
Results go to WORK/sae_bench.json; BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from bench.common import (
    curate_executable,
    machine_info,
    make_parser,
    run_command,
    write_json,
)
from bench.sae._data import build_activations

CONCEPTS = Path(__file__).with_name("concepts.txt")


def build_dictionary(work: Path, layer: int) -> Path:
    out = work / f"dict-l{layer}"
    if not (out / "manifest.json").exists():
        run_command([curate_executable(), "build-dictionary", "--out", str(out), "--concepts", str(CONCEPTS),
                     "--layers", str(layer), "--pool-limit", "5000", "--background", "512", "--positives", "8",
                     "--negatives", "8", "--seed", "0"])
    return out


def _train_command(out: Path, acts: Path, held: Path, dictionary: Path, args, init: str) -> list[str]:
    return [curate_executable(), "train", "sae", "--activations", str(acts), "--dictionary", str(dictionary),
            "--init", init, "--k", str(args.k), "--expansion", str(args.expansion), "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--eval-activations", str(held), "--eval-tokens", "20000",
            "--eta", str(args.eta), "--seed", "0", "--threads", str(args.threads), "--out", str(out)]


def compare_inits(work: Path, acts: Path, held: Path, dictionary: Path, args) -> dict:
    """Both initialisations trained side by side (one thread each), then their held-out figures."""
    jobs = []
    for init in ("dictionary", "random"):
        out = work / f"sae-{init}"
        if not (out / "metrics.json").exists():
            command = _train_command(out, acts, held, dictionary, args, init)
            print("$ " + " ".join(command), flush=True)
            log = open(work / f"train-{init}.log", "w")
            jobs.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
    for job, log in jobs:
        if job.wait() != 0:
            raise SystemExit(f"training failed; see {log.name}")
        log.close()
    runs = {init: json.loads((work / f"sae-{init}" / "metrics.json").read_text()) for init in ("dictionary", "random")}
    table = {init: {**m["held_out"], "train_fvu": m["final"]["fvu"], "dead_pct": m["final"]["dead_pct"],
                    "seconds": m["seconds"], "atoms_by_label": m.get("atoms_by_label")} for init, m in runs.items()}
    fve = {init: 1 - row["fvu"] for init, row in table.items()}
    table["fve_gain_points"] = 100 * (fve["dictionary"] - fve["random"])
    table["fve_gain_relative_pct"] = 100 * (fve["dictionary"] / fve["random"] - 1)
    return table


def compare_peer(acts: Path, held: Path, args) -> dict:
    import torch

    from bench.sae._peer import compare_throughput
    from train.sae import default_lr
    from train.sae.data import open_activations
    from train.sae.fit import FitOptions

    torch.set_num_threads(args.threads)
    source = open_activations(acts, skip_first_token=True)
    held_rows = open_activations(held, skip_first_token=True).sample(20000)
    width = args.expansion * source.dim
    opts = FitOptions(batch_size=args.batch_size, lr=default_lr(width), warmup_steps=50, seed=0, progress=False)
    result = compare_throughput(source, held_rows, opts, width, args.k, args.peer_steps,
                                {"sparsify": False, "sparsify+fused-adam": True})
    return {**result, "threads": args.threads, "steps": args.peer_steps, "batch_size": args.batch_size,
            "width": width, "k": args.k}


def _sae_with_gamma(sae_dir: Path, gamma: float) -> Path:
    """The SAE folder (γ = 0) or a copy whose steering.json sets γ, so `curate eval --steer` picks it up."""
    if gamma == 0:
        (sae_dir / "steering.json").write_text(json.dumps({"gamma": 0.0}) + "\n")
        return sae_dir
    copy = sae_dir.with_name(f"{sae_dir.name}-gamma{gamma:g}")
    copy.mkdir(exist_ok=True)
    for name in ("sae.safetensors", "sae.json", "annotations.parquet"):
        (copy / name).write_bytes((sae_dir / name).read_bytes())
    (copy / "steering.json").write_text(json.dumps({"gamma": gamma}) + "\n")
    return copy


def evaluate_steering(work: Path, sae_dir: Path, dictionary: Path, args) -> dict:
    """`curate eval` on the same held-out prompts: no steering, SAE steering (each γ), sparse-coding steering."""
    common = ["--prompts", "registry:harmful-prompts:heldout", "--nll-data", "registry:benign-qa:heldout",
              "--limit", str(args.eval_limit), "--max-new-tokens", str(args.max_new_tokens), "--batch-size", "16"]
    gammas = [float(g) for g in str(args.gamma).split(",")]
    variants = {"no steering": (0, []), "sparse-coding steering (dictionary)": (2, ["--steer", str(dictionary)])}
    for index, gamma in enumerate(gammas):
        variants[f"SAE steering (gamma {gamma:g})"] = (1 if index == 0 else 2 + index,
                                                       ["--steer", str(_sae_with_gamma(sae_dir, gamma))])
    results = {}
    for name, (index, extra) in variants.items():
        out = work / f"eval-{index}"
        if not (out / "summary.json").exists():
            run_command([curate_executable(), "eval", *common, *extra, "--out", str(out), "--overwrite"], args.threads)
        summary = json.loads((out / "summary.json").read_text())
        results[name] = {"harmful_refused": summary["harmful"]["rate"], "nll": summary["nll"],
                         "seconds": summary["seconds"], "summary": str(out / "summary.json")}
    return results


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--work", type=Path, default=Path("runs/sae"))
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--expansion", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--eta", type=float, default=0.2)
    parser.add_argument("--peer-steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-limit", type=int, default=100)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--gamma", default="0,2", help="comma-separated γ values for SAE steering")
    parser.add_argument("--stages", default="data,dict,init,peer,steer")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    work = args.work
    results_path = work / "sae_bench.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    started = time.perf_counter()
    acts, held = build_activations(work, args.layer) if "data" in stages else (
        work / f"acts-train-l{args.layer}", work / f"acts-heldout-l{args.layer}")
    dictionary = build_dictionary(work, args.layer) if "dict" in stages else work / f"dict-l{args.layer}"
    if "init" in stages:
        results["init"] = compare_inits(work, acts, held, dictionary, args)
        print(json.dumps(results["init"], indent=2), flush=True)
    if "peer" in stages:
        results["peer"] = compare_peer(acts, held, args)
        print(json.dumps(results["peer"], indent=2), flush=True)
    if "steer" in stages:
        results["steer"] = evaluate_steering(work, work / "sae-dictionary", dictionary, args)
        print(json.dumps(results["steer"], indent=2), flush=True)
    results["settings"] = vars(args) | {"work": str(work)}
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["machine"] = machine_info()
    write_json(results_path, results)
    print(f"wrote {results_path}")


if __name__ == "__main__":
    main()
