"""Dictionary vs random SAE initialisation at equal width, k, steps and data (DACO, issue 17 item 4).

    python -m bench.sae.init_compare --dictionary DICT --estimate-only          # time per step and the plan only
    python -m bench.sae.init_compare --dictionary DICT --steps 2000 --seeds 0,1,2 --expansion 4 --k 32

1. time    a few steps of the full-size SAE on real batches (batch reading included): seconds per step, printed
           with the estimate for the whole plan before anything is trained
2. train   `curate train sae` (in process) for every seed x init: random, and dictionary at each --fills share
           of the latents (1.0 = the whole decoder, as the paper). Width, k, steps, batch size, learning rate,
           batch order and the decoder-bias start are equal across inits for a seed; a finished run is reused
3. score   FVU and dead-latent share on the held-out activations (dead = fired on no held-out token). Per run:
           95% cluster bootstrap over held-out records (a record's tokens are resampled together). Per init:
           Student-t 95% interval over seeds. Dictionary - random: paired per seed (same resamples) and over seeds
Writes WORK/init_compare.json and the key "sae_init" of bench/results/daco.json (its other keys are kept).
Activations come from `python -m bench.sae.end_to_end --work runs/sae --stages data` (layer 15).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

RESULTS_KEY = "sae_init"


def parse_args(argv: list[str] | None = None):
    parser = make_parser(__doc__)
    parser.add_argument("--dictionary", type=Path, required=True, help="concept dictionary at the activations' layer")
    parser.add_argument("--acts", type=Path, default=Path("runs/sae/acts-train-l15"))
    parser.add_argument("--held", type=Path, default=Path("runs/sae/acts-heldout-l15"))
    parser.add_argument("--work", type=Path, default=Path("runs/sae-init"))
    parser.add_argument("--results", type=Path, default=RESULTS / "daco.json")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--fills", default="1.0", help="comma-separated --init-fill shares for the dictionary init")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--expansion", type=int, default=4, help="width = expansion x activation dimension")
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--buffer-rows", type=int, default=65_536)
    parser.add_argument("--lr", type=float, default=None, help="default: 2e-4 / sqrt(width / 16384)")
    parser.add_argument("--eval-tokens", type=int, default=50_000, help="held-out tokens scored (whole records)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of held-out records")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--time-steps", type=int, default=30, help="steps timed before training (after 3 warm-up)")
    parser.add_argument("--estimate-only", action="store_true", help="print the timing and the plan, train nothing")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in str(args.seeds).split(",")]
    args.fills = [float(f) for f in str(args.fills).split(",")]
    return args


def variants(fills: list[float]) -> list[tuple[str, str, float | None]]:
    """(folder name, --init, --init-fill) of every initialisation compared."""
    return [("random", "random", None)] + [(f"dictionary-fill{fill:g}", "dictionary", fill) for fill in fills]


def _config(args, init: str, fill: float | None, seed: int, out: Path):
    from train.sae import SAEConfig

    return SAEConfig(activations=args.acts, out=out, dictionary=args.dictionary, init=init, init_fill=fill,
                     k=args.k, expansion=args.expansion, steps=args.steps, batch_size=args.batch_size,
                     buffer_rows=args.buffer_rows, lr=args.lr, eval_activations=args.held,
                     eval_tokens=args.eval_tokens, device=args.device, threads=args.threads, seed=seed,
                     progress=not args.no_progress)


def seconds_per_step(args) -> dict:
    """Mean wall time of `--time-steps` training steps of a full-size SAE (after 3 warm-up steps)."""
    import torch

    from curate.device import apply_threads, resolve_device
    from train.sae.data import open_activations
    from train.sae.fit import make_adam, train_step
    from train.sae.metrics import DeadLatents
    from train.sae.run import _build, _options

    config = _config(args, "random", None, args.seeds[0], args.work / "timing")
    apply_threads(config)
    device = resolve_device(args.device)
    source = open_activations(args.acts, skip_first_token=True)
    sae = _build(config, source, source.layer, None, device)
    opts = _options(config, sae.width)
    optimizer = make_adam(sae.parameters(), opts.lr)
    dead = DeadLatents(sae.width, opts.dead_after_tokens, device)
    batches = source.batches(opts.batch_size, opts.seed, opts.buffer_rows)
    began = 0.0
    for step in range(3 + args.time_steps):
        if step == 3:
            _synchronise(device)
            began = time.perf_counter()
        train_step(sae, optimizer, torch.as_tensor(next(batches), device=device), dead, opts)
    _synchronise(device)
    per_step = (time.perf_counter() - began) / args.time_steps
    return {"seconds_per_step": per_step, "device": str(device), "width": sae.width, "dim": source.dim,
            "timed_steps": args.time_steps}


def _synchronise(device) -> None:
    """Wait for queued CUDA kernels, so the clock measures the work and not its launch."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def print_plan(timing: dict, args) -> float:
    runs = len(args.seeds) * len(variants(args.fills))
    total = runs * args.steps * timing["seconds_per_step"]
    print(f"measured {timing['seconds_per_step']:.4f} s/step on {timing['device']} (width {timing['width']}, k "
          f"{args.k}, batch {args.batch_size}, mean of {timing['timed_steps']} steps)", flush=True)
    print(f"plan: {runs} runs ({len(args.seeds)} seeds x {len(variants(args.fills))} inits) x {args.steps} steps "
          f"~ {total / 60:.1f} min of training, plus seconds of held-out scoring per run (8 s per 50k tokens on "
          "one CPU thread at width 2304)", flush=True)
    return total


def train_all(args) -> dict[tuple[str, int], Path]:
    """Every (variant, seed) trained once; finished folders (metrics.json present) are kept as they are."""
    from train.sae import run

    folders = {}
    for seed in args.seeds:
        for name, init, fill in variants(args.fills):
            out = args.work / f"sae-{name}-s{seed}"
            if not (out / "metrics.json").exists():
                print(f"training {name} seed {seed} -> {out}", flush=True)
                run(_config(args, init, fill, seed, out))
            folders[(name, seed)] = out
    return folders


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)  # before the imports below, which load torch: --help stays fast
    from bench.daco._results import update_results
    from bench.sae._compare import score_runs, summarise

    started = time.perf_counter()
    timing = seconds_per_step(args)
    estimate = print_plan(timing, args)
    if args.estimate_only:
        return None
    folders = train_all(args)
    rows, paired, held = score_runs(folders, args)
    part = {"rows": rows + summarise(rows), "paired": paired, "held_out": held, "timing": timing,
            "estimate_seconds": round(estimate, 1), "settings": _settings(args),
            "seconds": round(time.perf_counter() - started, 1), "machine": machine_info()}
    write_json(args.work / "init_compare.json", part)
    update_results(args.results, {RESULTS_KEY: part})
    for row in part["rows"]:
        print(json.dumps(row), flush=True)
    print(f"wrote {args.work / 'init_compare.json'} and key {RESULTS_KEY!r} of {args.results}")
    return part


def _settings(args) -> dict:
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}


if __name__ == "__main__":
    main()
