"""Candidate d, fast: the LM judge's few-shot prompt with its shared prefix encoded once (kind "lm-prefix").

Every judged pair renders as the same chat text up to "Request: {prompt}" (template, definitions, worked
examples), so that prefix runs through the model once and its keys / values are expanded over each batch; a
batch runs only its own tokens (request, answer, the closing instruction, the assistant header), left-padded with
positions continuing from the prefix. The score of a verdict is log P(word | prompt) summed over the word's tokens,
teacher-forced (the first token from the batch's last logits, later tokens by one more step on the batch's cache),
so it equals `LMJudge.word_logprobs` on the same prompt; nothing is generated.

The probabilities come from a head on those scores: `argmax` (the softmax of the three log-probabilities),
`logprobs` (a multinomial regression on them) or `logprobs+rules` (on them plus the rules judge's text statistics
and verdict, the rules fitted on the same rows). `fit` picks the head and its C by grouped cross-validation over
prompts on the training rows (the log-probabilities computed once), leaving out the rows shown as worked examples.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from curate.errors import ConfigError
from curate.evaluation.judge_lm import LMJudge
from curate.evaluation.judges.base import check_pairs
from curate.evaluation.judges.rules import RulesJudge
from curate.evaluation.judges.softmax import SoftmaxModel
from curate.evaluation.rules import text_statistics
from curate.evaluation.verdicts import VERDICTS, JudgeResult

__all__ = ["PrefixLMJudge", "HEADS", "C_GRID"]

Head = Literal["argmax", "logprobs", "logprobs+rules"]
HEADS: tuple[str, ...] = ("argmax", "logprobs", "logprobs+rules")
"""Heads on the verdict-word log-probabilities, simplest first (a cross-validation tie goes to the simpler)."""
C_GRID = (0.1, 1.0, 10.0)
"""Inverse regularisation strengths tried for the regression heads."""
_SENTINEL = "\ue000"  # a private-use character that no real request holds: marks where the pair begins


class PrefixLMJudge(LMJudge):
    kind = "lm-prefix"
    cost = 3

    def __init__(self, model_name: str = "smollm2-135m", device=None, batch_size: int = 16,
                 template: str | None = None, shots: int = 2, examples: list[dict] | None = None,
                 calibration: SoftmaxModel | None = None, seed: int = 0, head: Head | None = None,
                 c: float = 1.0, rules: RulesJudge | None = None, selection: dict | None = None):
        super().__init__(model_name, device, batch_size, template, shots, examples, calibration, seed)
        if head is not None and head not in HEADS:
            raise ConfigError(f"head '{head}': choose one of {', '.join(HEADS)} (or None to pick it by "
                              "cross-validation in fit)")
        self.head, self.c, self.rules, self.selection = head, float(c), rules, selection or {}
        self._prefix: tuple[str, list[int], list] | None = None

    # --- the cached forward ---------------------------------------------------------------------------------

    def _prefix_state(self, tokenizer, model) -> tuple[list[int], list]:
        """(prefix token ids, per-layer (keys, values) [1, heads, P, d]) for this judge's worked examples."""
        import torch

        from curate.lm.chat import format_prompt

        probe = format_prompt(tokenizer, self.render(_SENTINEL, ""))
        text = probe[: probe.index("Request: " + _SENTINEL)]
        if self._prefix is None or self._prefix[0] != text:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][:-1]  # the last may merge with the pair
            with torch.no_grad():
                out = model(input_ids=torch.tensor([ids], device=next(model.parameters()).device), use_cache=True)
            self._prefix = (text, ids, _cache_tensors(getattr(out, "cache", None) or out.past_key_values))
        return self._prefix[1], self._prefix[2]

    def word_logprobs(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        """[n, 3] log P(verdict word | judge prompt), summed over the word's tokens, in VERDICTS order."""
        import torch

        from curate.lm.chat import format_prompt

        tokenizer, model = self._load()
        prefix, layers = self._prefix_state(tokenizer, model)
        texts = [format_prompt(tokenizer, self.render(p, r)) for p, r in zip(prompts, responses)]
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        tails = [_tail(ids, prefix, tokenizer) for ids in encoded]
        words = [tokenizer(v, add_special_tokens=False)["input_ids"] for v in VERDICTS]
        order = np.argsort([len(t) for t in tails], kind="stable")  # similar lengths together: little padding
        out = np.zeros((len(tails), len(VERDICTS)))
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                rows = order[start: start + self.batch_size]
                out[rows] = _batch_scores(model, layers, len(prefix), [tails[i] for i in rows], words,
                                          _pad_id(tokenizer))
        return out

    # --- heads ----------------------------------------------------------------------------------------------

    def _features(self, head: str, rules: RulesJudge | None, logprobs, prompts, responses) -> np.ndarray:
        if head == "logprobs":
            return logprobs
        onehot = np.eye(len(VERDICTS))[rules.verdict_indices(prompts, responses)]
        return np.hstack([logprobs, text_statistics(prompts, responses), onehot])

    def _fit_head(self, head: str, c: float, logprobs, prompts, responses, verdicts,
                  rules: RulesJudge | None = None):
        """(rules judge or None, SoftmaxModel or None) fitted on these rows; `rules`, when given, is a rules judge
        fitted on them already (cross-validation fits it once per fold, not once per C)."""
        if head == "argmax":
            return None, None
        if head != "logprobs+rules":
            rules = None
        elif rules is None:
            rules = RulesJudge().fit(prompts, responses, verdicts)
        return rules, SoftmaxModel.fit(self._features(head, rules, logprobs, prompts, responses), verdicts, c=c)

    def _probabilities(self, head, rules, model, logprobs, prompts, responses) -> np.ndarray:
        if model is None:
            return np.exp(logprobs - logprobs.max(1, keepdims=True))
        return model.probabilities(self._features(head, rules, logprobs, prompts, responses))

    def _cross_validate(self, logprobs, prompts, responses, verdicts, folds: int = 5) -> dict:
        """Accuracy of every (head, C) over grouped folds (groups = prompts); the best, simplest first."""
        from sklearn.model_selection import GroupKFold

        groups = np.unique(prompts, return_inverse=True)[1]
        n_splits = min(folds, int(groups.max()) + 1 if len(groups) else 0)
        variants = [("argmax", 1.0)] + [(h, c) for h in HEADS[1:] for c in C_GRID]
        if n_splits < 2:
            return {"folds": 0, "note": "fewer than 2 prompts: no cross-validation, default head",
                    "chosen": {"head": self.head or "logprobs", "c": self.c}}
        right = np.zeros(len(variants), dtype=int)
        pick = lambda xs, idx: [xs[i] for i in idx]  # noqa: E731
        for train, test in GroupKFold(n_splits).split(logprobs, verdicts, groups):
            args = (pick(prompts, train), pick(responses, train))
            fold_rules = RulesJudge().fit(*args, verdicts[train])
            for j, (head, c) in enumerate(variants):
                rules, model = self._fit_head(head, c, logprobs[train], *args, verdicts[train], fold_rules)
                probs = self._probabilities(head, rules, model, logprobs[test], pick(prompts, test),
                                            pick(responses, test))
                right[j] += int((np.asarray(VERDICTS)[probs.argmax(1)] == verdicts[test]).sum())
        best = int(np.argmax(right))  # first maximum: the simplest head, then the smallest C
        return {"folds": n_splits, "n": len(verdicts), "chosen": {"head": variants[best][0], "c": variants[best][1]},
                "variants": [{"head": h, "c": c, "k": int(k), "accuracy": float(k / len(verdicts))}
                             for (h, c), k in zip(variants, right)]}

    def fit(self, prompts, responses, verdicts) -> PrefixLMJudge:
        prompts, responses, verdicts = check_pairs(prompts, responses, verdicts)
        shown = self.show_examples(prompts, responses, verdicts)
        keep = np.setdiff1d(np.arange(len(prompts)), shown)  # an example's own score would flatter the head
        logprobs = self.word_logprobs([prompts[i] for i in keep], [responses[i] for i in keep])
        return self.fit_logprobs([prompts[i] for i in keep], [responses[i] for i in keep], verdicts[keep], logprobs)

    def fit_logprobs(self, prompts, responses, verdicts, logprobs: np.ndarray) -> PrefixLMJudge:
        """`fit` after its model pass: the head (picked by cross-validation when none is set) on given [n, 3]
        `word_logprobs` of these rows under this judge's examples, which the rows should not include; for callers
        that cache the model pass (bench.eval.judge_choice)."""
        prompts, responses, verdicts = check_pairs(prompts, responses, verdicts)
        if self.head is None:
            self.selection = self._cross_validate(logprobs, prompts, responses, verdicts)
            self.head, self.c = self.selection["chosen"]["head"], float(self.selection["chosen"]["c"])
        self.rules, self.calibration = self._fit_head(self.head, self.c, logprobs, prompts, responses, verdicts)
        return self

    def predict_logprobs(self, prompts, responses, logprobs: np.ndarray) -> JudgeResult:
        """The head's verdicts from given [n, 3] `word_logprobs` (no model pass; empty answers are not special
        here, as they are in `predict`)."""
        self._require_head()
        return JudgeResult.from_scores(self._probabilities(self.head, self.rules, self.calibration, logprobs,
                                                           list(prompts), list(responses)))

    def _require_head(self) -> None:
        if self.head is None:
            raise RuntimeError("PrefixLMJudge.predict before fit: fit it on labels, load a saved judge, or give "
                               "head='argmax' for zero-shot")

    def _predict(self, prompts, responses) -> JudgeResult:
        self._require_head()  # before the model pass
        return self.predict_logprobs(prompts, responses, self.word_logprobs(prompts, responses))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "head": self.head, "c": self.c, "selection": self.selection,
                "rules": self.rules.to_dict() if self.rules is not None else None}

    @classmethod
    def from_dict(cls, parameters: dict[str, Any], tensors: dict[str, Any] | None = None) -> PrefixLMJudge:
        calibration, rules = parameters.get("calibration"), parameters.get("rules")
        if parameters["head"] not in HEADS:
            raise ValueError(f"head {parameters['head']!r} is not one of {', '.join(HEADS)}")
        return cls(parameters["model"], batch_size=parameters["batch_size"], template=parameters["template"],
                   shots=parameters["shots"], examples=parameters["examples"], seed=parameters["seed"],
                   calibration=SoftmaxModel.from_dict(calibration) if calibration else None,
                   head=parameters["head"], c=parameters["c"], selection=parameters.get("selection"),
                   rules=RulesJudge.from_dict(rules) if rules else None)


def _tail(ids: list[int], prefix: list[int], tokenizer) -> list[int]:
    """The pair's own tokens after the shared prefix (the full text's tokens, so scores equal a plain forward)."""
    if ids[: len(prefix)] != prefix:
        raise RuntimeError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} tokenises the judge prompt's "
                           "shared prefix differently per pair; use judge kind 'lm' (no prefix cache) with it")
    return ids[len(prefix):]


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _cache_tensors(cache) -> list:
    """Per-layer (keys, values) of a model's past_key_values (a Cache object or the legacy tuple of tuples)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k, v) for k, v in cache]


def _cache_argument(model) -> str:
    """The forward's name for the cache: `cache` (transformers >= 5.2x) or `past_key_values` (earlier)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _expanded_cache(layers: list, batch: int):
    """A fresh DynamicCache holding the prefix for `batch` rows (views: the prefix tensors are never written)."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                        for k, v in layers])


def _batch_scores(model, layers: list, prefix_len: int, tails: list[list[int]], words: list[list[int]],
                  pad: int) -> np.ndarray:
    """[b, len(words)] summed token log-probs of each word after prefix + tail, one pass over the tails."""
    import torch

    device = layers[0][0].device
    width = max(len(t) for t in tails)
    ids = torch.full((len(tails), width), pad, dtype=torch.long)
    mask = torch.zeros((len(tails), width), dtype=torch.long)
    for i, tail in enumerate(tails):  # left padding: every row ends in the last column
        ids[i, width - len(tail):], mask[i, width - len(tail):] = torch.tensor(tail), 1
    ids, mask = ids.to(device), mask.to(device)
    full_mask = torch.cat([torch.ones(len(tails), prefix_len, dtype=torch.long, device=device), mask], 1)
    positions = prefix_len + (mask.cumsum(-1) - 1).clamp(min=-1)
    cache = _expanded_cache(layers, len(tails))
    name = _cache_argument(model)
    out = model(input_ids=ids, attention_mask=full_mask, position_ids=positions, **{name: cache}, use_cache=True,
                logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), -1)
    scores = torch.zeros(len(tails), len(words))
    for j, word in enumerate(words):
        scores[:, j] = first[:, word[0]]
        if len(word) > 1:  # later tokens: one short step on this batch's cache, then back to its length
            step = torch.tensor(word[:-1], device=device).expand(len(tails), -1)
            more = model(input_ids=step, **{name: cache}, use_cache=True,
                         attention_mask=torch.cat([full_mask, torch.ones_like(step)], 1),
                         position_ids=positions[:, -1:] + 1 + torch.arange(len(word) - 1, device=device)).logits
            logp = torch.log_softmax(more.float(), -1)
            scores[:, j] += sum(logp[:, t, token] for t, token in enumerate(word[1:]))
            cache.crop(-(len(word) - 1))  # drop the step again (a negative count works across versions)
    return scores.cpu().numpy()
