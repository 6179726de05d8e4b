"""MOSAIC training step on the GPU against the CPU: seconds per step of `curate train mosaic` on a random-weight
model of SmolLM2-135M's shape (Llama, 30 layers, hidden 576, 9 heads / 3 KV, vocabulary 49152), so a full run on
either can be sized (minutes = --steps x s/step / 60). Part of bench/gpu/check.sh.

    python -m bench.gpu._mosaic_step --out mosaic_step.json [--repeats 3] [--threads 1] [--steps 600]
    python -m bench.gpu._mosaic_step --layers 2 --hidden 64 --repeats 1      # a quick try of the script

The model is built from the config of the local smollm2-135m when that is converted (curate.models), else from the
copy written below (the GPU machine has no weights: they do not fit what travels there). The batch is synthetic
token ids of bench.mosaic's default shape, 16 rows x 64, right-padded as tokenize_pairs pads them: half positives
answered by one fixed refusal, half negatives with random responses. Per (device, dtype), as training does: 3 active
categories x 5 control tokens (train.mosaic.tokens), the negatives' teacher states precomputed (train.mosaic.teacher),
then steps of mosaic_batch_loss + backward + Adam on the tokens only (train.mosaic.fit.train_step without the
tokenizer); one warm-up step, then the median of --repeats. bf16 is `--dtype bf16`: the frozen backbone in bf16,
tokens, logits and loss in fp32. Compute depends on the shape only, so random weights time what the real ones would;
bench/results/mosaic_bf16.json (real weights and rows, this project's 2-core CPU) is set beside the CUDA figures.
Without CUDA only the CPU is timed, and the report says so.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

__all__ = ["SMOLLM2_135M", "model_config", "synthetic_batch", "time_step", "main"]

# SmolLM2-135M-Instruct's config.json (the shape fields; tests check them against the local model's file)
SMOLLM2_135M = {
    "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
    "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "hidden_act": "silu",
    "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_parameters": {"rope_theta": 100000.0,
                                                                                  "rope_type": "default"},
    "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": True,
    "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
}
CATEGORIES, TOKENS_PER_CATEGORY, KL_WEIGHT, LR = ("a", "b", "c"), 5, 1.0, 0.01
REFUSAL_TOKENS = 14  # DEFAULT_REFUSAL plus the end-of-turn token in SmolLM2's tokenizer
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def local_config_path() -> Path | None:
    """config.json of the converted smollm2-135m, without converting it (None where it is absent)."""
    from curate.models import cache_dir

    path = cache_dir() / "models" / "smollm2-135m-fp32" / "config.json"
    return path if path.is_file() else None


def model_config(layers: int | None = None, hidden: int | None = None, path: Path | None = None) -> tuple[dict, str]:
    """(LlamaConfig keywords, where they came from); `layers` / `hidden` shrink the model for quick runs."""
    path = path or local_config_path()
    if path is None:
        config, source = dict(SMOLLM2_135M), "SMOLLM2_135M in bench/gpu/_mosaic_step.py"
    else:
        loaded = json.loads(Path(path).read_text())
        config, source = {k: loaded[k] for k in SMOLLM2_135M if k in loaded}, str(path)
    if layers is not None:
        config["num_hidden_layers"] = layers
    if hidden is not None:  # keep 64-wide heads (narrower for a tiny width) and SmolLM2's 3:1 query:KV heads
        head_dim = min(64, hidden)
        heads = max(1, hidden // head_dim)
        config.update(hidden_size=heads * head_dim, head_dim=head_dim, num_attention_heads=heads,
                      num_key_value_heads=max(1, heads // 3) if heads % 3 == 0 else heads,
                      intermediate_size=8 * (heads * head_dim * 8 // 3 // 8))
    return config, source


def synthetic_batch(vocab_size: int, pad_id: int, batch_size: int = 16, max_length: int = 64, seed: int = 0):
    """(input_ids, attention_mask, labels, negative) as tokenize_pairs + train_step build them: right-padded rows
    of 3/4 to all of `max_length` tokens (the first is full), labels -100 outside the response; the first half are
    positives answered by one fixed refusal, the rest negatives answering about half their row."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    draw = lambda n: torch.randint(3, vocab_size, (n,), generator=generator)  # noqa: E731 (ids past the specials)
    refusal, n_pos = draw(min(REFUSAL_TOKENS, max_length // 2)), batch_size // 2
    ids = torch.full((batch_size, max_length), pad_id, dtype=torch.long)
    mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
    for row in range(batch_size):
        length = max_length if row == 0 else int(torch.randint(max_length * 3 // 4, max_length + 1, (1,),
                                                              generator=generator))
        response = refusal if row < n_pos else draw(length - length // 2)
        tokens = torch.cat([draw(length - len(response)), response])
        ids[row, :length], mask[row, :length] = tokens, 1
        labels[row, length - len(response):length] = response
    return ids, mask, labels, torch.arange(batch_size) >= n_pos


def _teacher(model, ids, mask, labels, negative):
    """The negatives' teacher (hidden, index) as fit_tokens precomputes it: train.mosaic.teacher's pass on the
    synthetic ids (already tokenised), batched for this batch's negative rows."""
    from train.mosaic.teacher import teacher_states_on_ids

    rows = negative.nonzero()[:, 0].tolist()
    return teacher_states_on_ids(model, ids[negative], mask[negative], labels[negative], rows).batch(rows)


def _train_step(model, tokens, optimizer, batch, teacher) -> dict:
    """train.mosaic.fit.train_step after its tokenisation (its step_on_ids): loss, backward, one Adam step."""
    from train.mosaic.fit import step_on_ids

    ids, mask, labels, negative = batch
    prefix = tokens.compose(list(CATEGORIES)).unsqueeze(0).expand(len(ids), -1, -1)
    return step_on_ids(model, prefix, ids, mask, labels, negative, KL_WEIGHT, optimizer, teacher)


def _timed(fn, device: str):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def time_step(model, tokens, batch, device: str, dtype: str, repeats: int, budget_s: float) -> dict:
    """{seconds_per_step (median), repeats, warmup_seconds, loss (warm-up step), ...} of one (device, dtype);
    repeats shrink (to at least 1) where the warm-up step says they would not fit `budget_s`."""
    import torch

    torch_dtype = getattr(torch, DTYPES[dtype])
    same = device == "cpu" and torch_dtype == torch.float32  # Module.to works in place: copy for the others
    backbone = model if same else copy.deepcopy(model).to(device=device, dtype=torch_dtype)
    tokens = copy.deepcopy(tokens).to(device)
    batch = tuple(t.to(device) for t in batch)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    teacher_s, teacher = _timed(lambda: _teacher(backbone, *batch), device)
    optimizer = torch.optim.Adam(tokens.parameters(), lr=LR)
    step = lambda: _train_step(backbone, tokens, optimizer, batch, teacher)  # noqa: E731
    warmup_s, stats = _timed(step, device)
    repeats = max(1, min(repeats, int(budget_s / max(warmup_s, 1e-6))))
    seconds = sorted(_timed(step, device)[0] for _ in range(repeats))
    out = {"device": device, "dtype": dtype, "seconds_per_step": round(seconds[len(seconds) // 2], 5),
           "repeats": repeats, "warmup_seconds": round(warmup_s, 4), "teacher_seconds": round(teacher_s, 4),
           "loss": stats["loss"], "kl": stats["kl"]}
    if device == "cuda":
        out["peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _reference_cpu() -> dict | None:
    """This project's CPU figures with the real weights and rows (bench.mosaic.bf16_check, batch 16 x 64)."""
    path = RESULTS / "mosaic_bf16.json"
    if not path.is_file():
        return None
    found = json.loads(path.read_text())
    return {"source": "bench/results/mosaic_bf16.json", "threads": found.get("threads"),
            "batch": found.get("batch"), "machine": found.get("machine"),
            "seconds_per_step": {d: found[f"seconds_per_step_{d}"] for d in DTYPES if f"seconds_per_step_{d}" in found}}


def _summary(report: dict, steps: int) -> None:
    """Minutes for --steps steps per run, and the speed-ups of CUDA over the CPUs, per dtype and best to best."""
    runs = report["runs"]
    for run in runs:
        run["minutes_for_steps"] = round(steps * run["seconds_per_step"] / 60, 2)
    per = {(r["device"], r["dtype"]): r["seconds_per_step"] for r in runs}
    best = {d: min((s for (dev, _), s in per.items() if dev == d), default=None) for d in ("cpu", "cuda")}
    speedup = {dt: round(per[("cpu", dt)] / per[("cuda", dt)], 2) for dt in DTYPES
               if ("cpu", dt) in per and ("cuda", dt) in per}
    if best["cpu"] and best["cuda"]:
        speedup["best_vs_best"] = round(best["cpu"] / best["cuda"], 2)
    report["speedup_cuda_over_cpu"] = speedup or None
    reference = report.get("reference_cpu")
    if reference and best["cuda"]:
        ref = reference["seconds_per_step"]
        reference["speedup_cuda_best_over"] = {d: round(s / best["cuda"], 2) for d, s in ref.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per (device, dtype), after one warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (bench.mosaic's figures use 1)")
    parser.add_argument("--steps", type=int, default=600, help="steps of the run to size (~3 epochs at batch 16)")
    parser.add_argument("--devices", nargs="+", choices=["cuda", "cpu"], default=["cuda", "cpu"])
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=list(DTYPES))
    parser.add_argument("--layers", type=int, help="decoder layers (default SmolLM2's 30): shrink for a quick try")
    parser.add_argument("--hidden", type=int, help="hidden width (default 576): shrink for a quick try")
    parser.add_argument("--config", type=Path, help="a config.json to take the shape from instead")
    parser.add_argument("--max-seconds", type=float, default=240.0,
                        help="the timed steps' total budget: repeats shrink (to 1) to fit it")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "/tmp") / "mosaic_step.json")
    args = parser.parse_args(argv)
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    from train.mosaic.tokens import ControlTokens

    torch.set_num_threads(args.threads)
    config, source = model_config(args.layers, args.hidden, args.config)
    has_cuda = torch.cuda.is_available()
    devices = [d for d in args.devices if d != "cuda" or has_cuda]
    report = {"model": "SmolLM2-135M shape, random weights", "config_source": source,
              "shape": {k: config[k] for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                               "num_key_value_heads", "vocab_size")},
              "batch": {"rows": args.batch_size, "width": args.max_length, "positives": args.batch_size // 2,
                        "control_tokens": len(CATEGORIES) * TOKENS_PER_CATEGORY},
              "threads": args.threads, "steps": args.steps, "torch": torch.__version__,
              "transformers": transformers.__version__, "cuda": torch.version.cuda if has_cuda else None,
              "gpu": torch.cuda.get_device_name() if has_cuda else None, "machine": machine_info(),
              "note": None if has_cuda or "cuda" not in args.devices else "CUDA is absent here: CPU only",
              "reference_cpu": _reference_cpu(), "runs": []}
    if report["note"]:
        print(report["note"], flush=True)
    torch.manual_seed(0)
    started = time.perf_counter()
    model = LlamaForCausalLM(LlamaConfig(**config)).eval().requires_grad_(False)
    report["build_seconds"] = round(time.perf_counter() - started, 2)
    embeddings = model.get_input_embeddings().weight
    tokens = ControlTokens(list(CATEGORIES), TOKENS_PER_CATEGORY, embeddings.shape[1], init=embeddings)
    batch = synthetic_batch(config["vocab_size"], config["pad_token_id"], args.batch_size, args.max_length)
    runs = [(d, dt) for d in devices for dt in args.dtypes]
    for i, (device, dtype) in enumerate(runs):
        budget = max(0.0, args.max_seconds - (time.perf_counter() - started)) / (len(runs) - i)
        run = time_step(model, tokens, batch, device, dtype, args.repeats, budget)
        report["runs"].append(run)
        _summary(report, args.steps)
        print(f"{device} {dtype}: {run['seconds_per_step']:.4f} s/step (median of {run['repeats']}), loss "
              f"{run['loss']:.4f}, {run['minutes_for_steps']} min for {args.steps} steps", flush=True)
        write_json(args.out, report)  # after each run, so a stopped check keeps what it measured
        if device == "cuda":
            torch.cuda.empty_cache()
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("speedup_cuda_over_cpu", "cuda", "torch", "seconds_total")}), flush=True)
    return report


if __name__ == "__main__":
    main()
