"""Time one MOSAIC training step on SmolLM2-135M: torch threads, and teacher per step vs precomputed.

    .venv/bin/python -m bench.mosaic.step_time --threads 1 2 --repeats 3

A batch of 8 real registry prompts (4 harmful positives with the refusal, 4 benign negatives with their answers),
3 active categories x 5 tokens, max length 80. Prints forward / backward seconds per step and the loss, which must
be the same with the teacher run per step and with its states precomputed.
"""

from __future__ import annotations

import time

from bench.common import make_parser


def _batch(tokenizer):
    from curate.datasets import load_dataset_table
    from curate.lm.chat import tokenize_pairs
    from train.mosaic import DEFAULT_REFUSAL

    harmful = load_dataset_table("harmful-prompts", "train").to_pylist()[:4]
    benign = load_dataset_table("benign-qa", "train").to_pylist()[:4]
    prompts = [r["prompt"] for r in harmful + benign]
    answers = [DEFAULT_REFUSAL] * 4 + [r["response"] for r in benign]
    return prompts, answers, tokenize_pairs(tokenizer, prompts, answers, 80)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    from curate.models import load_causal_lm
    from train.mosaic.loss import mosaic_batch_loss
    from train.mosaic.teacher import teacher_states
    from train.mosaic.tokens import ControlTokens

    torch.manual_seed(0)
    tokenizer, model = load_causal_lm("smollm2-135m", device="cpu", dtype=torch.float32)
    model.requires_grad_(False)
    prompts, answers, (ids, mask, labels) = _batch(tokenizer)
    print(f"batch {tuple(ids.shape)}, scored positions {int((labels != -100).sum())}", flush=True)
    tokens = ControlTokens(["a", "b", "c"], 5, model.config.hidden_size, init=model.get_input_embeddings().weight)
    negative = torch.tensor([False] * 4 + [True] * 4)
    for threads in args.threads:
        torch.set_num_threads(threads)
        cache = teacher_states(model, tokenizer, prompts, answers, [4, 5, 6, 7], 80, batch_size=4)
        for name, teacher in (("teacher per step", None), ("teacher precomputed", cache.batch([4, 5, 6, 7]))):
            for _ in range(args.repeats):
                tokens.zero_grad()
                prefix = tokens.compose(["a", "b", "c"]).unsqueeze(0).expand(8, -1, -1)
                start = time.perf_counter()
                loss, _ = mosaic_batch_loss(model, prefix, ids, mask, labels, negative, 1.0, teacher=teacher)
                middle = time.perf_counter()
                loss.backward()
                end = time.perf_counter()
                print(f"threads={threads} {name}: forward {middle - start:.2f} s, backward {end - middle:.2f} s, "
                      f"step {end - start:.2f} s, loss {float(loss):.5f}", flush=True)


if __name__ == "__main__":
    main()
