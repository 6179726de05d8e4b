"""Candidate c: a MiniLM cross-encoder over "prompt [SEP] answer", its top layer(s) fine-tuned on CPU.

Only the top `tune_layers` encoder blocks and a linear head over the masked mean of the last hidden states are
trained; the blocks below stay as shipped. Training therefore runs the frozen blocks once (no gradient) and
caches their output, then trains the top blocks for a few epochs on the cache: for ~500 pairs at 128 tokens
that is one MiniLM pass plus ~130 steps through one block, meant to stay under three minutes on two cores (to be
confirmed by the first `bench.eval.judge_choice` run, which records fit_seconds). The artefact stores only what
changed — the tuned blocks and the head (~7 MB in float32 for one MiniLM block, vs ~90 MB for the whole
encoder) — in safetensors, and names the base encoder with its fingerprint, so loading on other base weights is
an error instead of a silent mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.errors import InputError
from curate.evaluation.judges.base import Judge, check_pairs
from curate.evaluation.verdicts import VERDICTS, JudgeResult

__all__ = ["CrossEncoderJudge", "additive_mask", "masked_mean"]


def additive_mask(attention_mask, dtype):
    """[b, 1, 1, s] additive mask (0 keep, dtype's min drop) that every BERT attention implementation accepts."""
    import torch

    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def masked_mean(hidden, attention_mask):
    """[b, h] mean of `hidden` [b, s, h] over the positions where `attention_mask` [b, s] is 1."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def _run_blocks(blocks, hidden, attention_mask):
    mask = additive_mask(attention_mask, hidden.dtype)
    for block in blocks:
        out = block(hidden, attention_mask=mask)
        hidden = out[0] if isinstance(out, tuple) else out  # transformers 4 returns a tuple, 5 a tensor
    return hidden


class CrossEncoderJudge(Judge):
    kind = "cross-encoder"
    cost = 2

    def __init__(self, encoder: str = "minilm", tune_layers: int = 1, max_length: int = 128, epochs: int = 4,
                 lr: float = 5e-5, head_lr: float = 2e-3, batch_size: int = 16, seed: int = 0,
                 fingerprint: str | None = None):
        self.encoder, self.tune_layers, self.max_length = encoder, int(tune_layers), int(max_length)
        self.epochs, self.lr, self.head_lr, self.batch_size, self.seed = int(epochs), lr, head_lr, batch_size, seed
        self.fingerprint = fingerprint
        self._tokenizer = self._model = self._head = None
        self._state: dict[str, Any] | None = None

    def _load_base(self):
        from curate.models import load_text_encoder, model_fingerprint

        if self._model is None:
            self._tokenizer, self._model = load_text_encoder(self.encoder)
            found = model_fingerprint(self.encoder)
            if self.fingerprint not in (None, found):
                raise InputError(f"cross-encoder judge: its tuned layers were trained on encoder '{self.encoder}' "
                                 f"with fingerprint {self.fingerprint}, but that name now loads {found}; install the "
                                 "same encoder weights or rebuild the judge with python -m bench.eval.judge_choice")
            self.fingerprint = found
        return self._tokenizer, self._model

    def _encode(self, prompts: list[str], responses: list[str]):
        tokenizer, _ = self._load_base()
        return tokenizer(prompts, responses, truncation="longest_first", max_length=self.max_length,
                         padding=True, return_tensors="pt")

    def _split(self):
        blocks = self._model.encoder.layer
        if not 1 <= self.tune_layers <= len(blocks):
            raise InputError(f"cross-encoder judge: tune_layers {self.tune_layers} must lie in 1..{len(blocks)}")
        return len(blocks) - self.tune_layers

    def fit(self, prompts, responses, verdicts) -> CrossEncoderJudge:
        import copy

        import torch

        prompts, responses, verdicts = check_pairs(prompts, responses, verdicts)
        torch.manual_seed(self.seed)
        batch = self._encode(prompts, responses)
        first = self._split()
        cached = self._frozen_output(batch, first)
        top = copy.deepcopy(self._model.encoder.layer[first:]).train()
        head = torch.nn.Linear(self._model.config.hidden_size, len(VERDICTS))
        labels = torch.tensor([VERDICTS.index(v) for v in verdicts])
        self._train(top, head, cached, batch["attention_mask"], labels)
        self._install(top, head)
        return self

    def _frozen_output(self, batch, first: int):
        """[n, s, h] output of the frozen blocks below `first`, computed once in chunks without gradients."""
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, len(batch["input_ids"]), 64):
                chunk = {k: v[start:start + 64] for k, v in batch.items()}
                parts.append(self._model(**chunk, output_hidden_states=True).hidden_states[first])
        return torch.cat(parts)

    def _train(self, top, head, cached, attention_mask, labels) -> None:
        import torch

        optimiser = torch.optim.AdamW([{"params": top.parameters(), "lr": self.lr},
                                       {"params": head.parameters(), "lr": self.head_lr}], weight_decay=0.01)
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epochs):
            for idx in torch.randperm(len(labels), generator=generator).split(self.batch_size):
                pooled = masked_mean(_run_blocks(top, cached[idx], attention_mask[idx]), attention_mask[idx])
                loss = torch.nn.functional.cross_entropy(head(pooled), labels[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()

    def _install(self, top, head) -> None:
        """Put the tuned blocks into the base encoder and keep their tensors for saving."""
        first = self._split()
        state = {f"layer.{first + i}.{k}": v.detach().clone()
                 for i, block in enumerate(top) for k, v in block.state_dict().items()}
        state.update({f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()})
        self._apply_state(state)

    def _apply_state(self, state: dict[str, Any]) -> None:
        import torch

        _, model = self._load_base()
        first = self._split()
        for i in range(first, len(model.encoder.layer)):
            prefix = f"layer.{i}."
            block = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            model.encoder.layer[i].load_state_dict(block)
        self._head = torch.nn.Linear(model.config.hidden_size, len(VERDICTS))
        self._head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})
        model.eval()
        self._state = state

    def _predict(self, prompts, responses) -> JudgeResult:
        import torch

        if self._state is None:
            raise RuntimeError("CrossEncoderJudge.predict before fit: fit it on labels or load a saved judge")
        probabilities = []
        with torch.no_grad():
            for start in range(0, len(prompts), 32):
                batch = self._encode(prompts[start:start + 32], responses[start:start + 32])
                hidden = self._model(**batch).last_hidden_state
                logits = self._head(masked_mean(hidden, batch["attention_mask"]))
                probabilities.append(torch.softmax(logits.float(), -1).numpy())
        return JudgeResult.from_scores(np.concatenate(probabilities) if probabilities else np.zeros((0, 3)))

    def to_dict(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "fingerprint": self.fingerprint, "tune_layers": self.tune_layers,
                "max_length": self.max_length, "epochs": self.epochs, "lr": self.lr, "head_lr": self.head_lr,
                "batch_size": self.batch_size, "seed": self.seed}

    def tensors(self) -> dict[str, Any]:
        return {k: v.contiguous() for k, v in (self._state or {}).items()}

    @classmethod
    def from_dict(cls, parameters: dict[str, Any], tensors: dict[str, Any] | None = None) -> CrossEncoderJudge:
        if not tensors or "head.weight" not in tensors:
            raise KeyError("tensors (the tuned layers and head, in the .safetensors file beside the JSON)")
        judge = cls(**{k: parameters[k] for k in ("encoder", "tune_layers", "max_length", "epochs", "lr", "head_lr",
                                                   "batch_size", "seed", "fingerprint")})
        judge._apply_state(dict(tensors))
        return judge
