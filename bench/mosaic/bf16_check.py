"""MOSAIC bf16 check: token gradient of a bf16 backbone against fp32, and the step time of both.

    .venv/bin/python -m bench.mosaic.bf16_check --threads 1 --repeats 3
    .venv/bin/python -m bench.mosaic.bf16_check --batch-size 16 --max-length 64 --out bench/results/mosaic_bf16.json

One batch of the categories configuration's train rows (half positives with the refusal, half negatives with their
gloss answers), 3 active categories x 5 tokens, teacher states precomputed as in training. For each dtype: the
loss, the gradient of the control tokens, and the seconds of a full step (forward, backward, Adam) over --repeats.
Prints the cosine and relative norm of the bf16 gradient to the fp32 one, the loss difference and seconds/step of
both (the figure to size `--max-steps` by: minutes per run = steps x s/step / 60). The metrics after a short run of
each are what bench.mosaic.end_to_end --dtype fp32 / bf16 gives.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from bench.common import machine_info, make_parser, write_json

__all__ = ["compare_dtypes"]


def _batch(tokenizer, rows: list[dict], size: int, max_length: int):
    from curate.lm.chat import tokenize_pairs
    from train.mosaic import DEFAULT_REFUSAL

    positives = [r for r in rows if r["category"]][:size // 2]
    negatives = [r for r in rows if not r["category"]][:size - len(positives)]
    prompts = [r["prompt"] for r in positives + negatives]
    answers = [DEFAULT_REFUSAL] * len(positives) + [r["response"] for r in negatives]
    return prompts, answers, tokenize_pairs(tokenizer, prompts, answers, max_length), len(positives)


def _step(model, tokens, batch, n_pos: int, cache, repeats: int) -> tuple[float, object, float]:
    """(loss, token gradient, median seconds of one step) with a fresh Adam per repeat on a copy of the tokens."""
    import torch

    from train.mosaic.loss import mosaic_batch_loss

    (ids, mask, labels), seconds = batch, []
    negative = torch.tensor([False] * n_pos + [True] * (len(ids) - n_pos))
    for _ in range(repeats):
        trial = copy.deepcopy(tokens)
        optimizer = torch.optim.Adam(trial.parameters(), lr=0.01)
        start = time.perf_counter()
        prefix = trial.compose(trial.categories).unsqueeze(0).expand(len(ids), -1, -1)
        loss, _ = mosaic_batch_loss(model, prefix, ids, mask, labels, negative, 1.0, teacher=cache)
        optimizer.zero_grad()
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in trial.parameters()])
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return float(loss.detach()), grad, sorted(seconds)[len(seconds) // 2]


def compare_dtypes(model, tokenizer, rows: list[dict], batch_size: int = 8, max_length: int = 64,
                   tokens_per_category: int = 5, repeats: int = 3) -> dict:
    """{cosine, relative_norm, loss_fp32, loss_bf16, seconds_per_step_fp32, _bf16, speedup}; model is fp32."""
    import torch

    from train.mosaic.teacher import teacher_states
    from train.mosaic.tokens import ControlTokens

    torch.manual_seed(0)
    model.requires_grad_(False)
    prompts, answers, batch, n_pos = _batch(tokenizer, rows, batch_size, max_length)
    embeddings = model.get_input_embeddings().weight
    tokens = ControlTokens(["a", "b", "c"], tokens_per_category, embeddings.shape[1], init=embeddings)
    negatives = list(range(n_pos, len(prompts)))
    out, grads = {}, {}
    for name, backbone in (("fp32", model), ("bf16", copy.deepcopy(model).to(torch.bfloat16))):
        cache = teacher_states(backbone, tokenizer, prompts, answers, negatives, max_length, batch_size)
        loss, grads[name], seconds = _step(backbone, tokens, batch, n_pos, cache.batch(negatives), repeats)
        out[f"loss_{name}"], out[f"seconds_per_step_{name}"] = loss, round(seconds, 4)
    a, b = grads["fp32"].double(), grads["bf16"].double()
    out["cosine"] = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    out["relative_norm"] = float(b.norm() / a.norm())
    out["speedup"] = round(out["seconds_per_step_fp32"] / max(out["seconds_per_step_bf16"], 1e-9), 3)
    out["batch"] = {"rows": len(prompts), "positives": n_pos, "width": int(batch[0].shape[1])}
    return out


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    import torch

    from bench.mosaic._data import load_config
    from curate.models import load_causal_lm

    torch.set_num_threads(args.threads)
    tokenizer, model = load_causal_lm(args.model, device="cpu", dtype=torch.float32)
    result = compare_dtypes(model, tokenizer, load_config("categories").train, args.batch_size, args.max_length,
                            repeats=args.repeats)
    result.update({"model": args.model, "threads": args.threads, "machine": machine_info()})
    print(f"token-gradient cosine bf16 vs fp32 {result['cosine']:.4f} (norm ratio {result['relative_norm']:.3f}); "
          f"loss fp32 {result['loss_fp32']:.4f} bf16 {result['loss_bf16']:.4f}; seconds/step fp32 "
          f"{result['seconds_per_step_fp32']:.3f} bf16 {result['seconds_per_step_bf16']:.3f} "
          f"(x{result['speedup']:.2f}); batch {result['batch']}")
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
