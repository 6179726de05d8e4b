"""Arms of the SOT end-to-end experiment: their settings, their result files (the resume points), one arm's run.

An arm is (rate, method, seed). Its result, written atomically once it is trained and judged, is
<results-dir>/rate{rate}-{method}-seed{seed}.json: the settings it was made with and their hash, the per-prompt
verdicts and per-answer NLL with ids, the rates, its weights' summary and the training trace; no model weights.
A rerun skips an arm whose file holds the same settings and stops with an error naming the changed flags when
they differ, so arms can be spread over sessions on machines that keep nothing but the repository.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Arm", "arm_list", "settings_hash", "result_path", "finished", "describe_change", "train_arm",
           "file_digest"]

DESCRIBED = {
    "judge": "the shipped judge file (curate/evaluation/data)",
    "eval_sets": "the evaluation sets (the registry build, or --eval-harmful / --eval-benign / --nll-rows / "
                 "--nll-general-rows / --data-seed)",
    "train_rows": "the fine-tuning rows (the registry build of sot-test-{rate}, or --ft-rows / --data-seed)",
    "choice": "the setting --family-results chose for this method on validation (bench/results/sot_family.json)",
}
"""Settings that are not a flag of their own, as the error message names them."""


@dataclass(frozen=True, order=True)
class Arm:
    rate: int
    method: str
    seed: int

    @property
    def key(self) -> str:
        return f"rate{self.rate}-{self.method}-seed{self.seed}"


def arm_list(rates: list[int], methods: list[str], seeds: list[int]) -> list[Arm]:
    """Every (rate, seed, method), uniform and oracle first in each (rate, seed): the gap they bound is what the
    other arms are measured in."""
    first = {"uniform": 0, "oracle": 1}
    return [Arm(r, m, s) for r in rates for s in seeds for m in sorted(methods, key=lambda m: first.get(m, 2))]


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def result_path(folder: Path, arm: Arm) -> Path:
    return folder / f"{arm.key}.json"


def describe_change(held: dict, wanted: dict) -> str:
    """`--flag old -> new` for each changed setting (the described name for those that are not flags)."""
    parts = []
    for key in sorted(set(held) | set(wanted)):
        if held.get(key) != wanted.get(key):
            name = DESCRIBED.get(key, "--" + key.replace("_", "-"))
            old, new = (json.dumps(d.get(key), default=str) for d in (held, wanted))
            parts.append(f"{name}: {old} -> {new}")
    return "; ".join(parts)


def finished(folder: Path, arm: Arm, settings: dict) -> dict | None:
    """The arm's stored result when its file exists with these settings, None when there is no file; a ConfigError
    naming the changed flags when the file was made with other settings."""
    from curate.errors import ConfigError

    path = result_path(folder, arm)
    if not path.exists():
        return None
    held = json.loads(path.read_text())
    if held.get("settings_hash") != settings_hash(settings):
        change = describe_change(held.get("settings", {}), settings)
        raise ConfigError(f"{path}: this arm was finished with other settings ({change}); rerun with the old "
                          f"settings, or pass another --results-dir (or move the file away) to train it again")
    return held


def train_arm(start_model: str, rows: list[dict], weights, settings: dict, seed: int, device, steps: int | None = None):
    """(model, tokenizer, training metrics): `start_model` fine-tuned on `rows` with per-row loss `weights` by the
    loop of `curate train sft` (train.sft.fit). Zero-weight rows stay in the batch schedule, which depends only on
    the row count, batch size and seed, so every arm of a (rate, seed) sees the same batches."""
    import torch

    from curate.lm.chat import ensure_chat_template
    from curate.models import load_causal_lm
    from train.sft import SFTConfig, fit
    from train.sft.run import last_blocks

    tokenizer, model = load_causal_lm(start_model, device=device, dtype=torch.float32, progress=False)
    ensure_chat_template(tokenizer, None, start_model)
    config = SFTConfig(data="(rows in memory)", out=Path("(not written)"), model=start_model,
                       max_steps=steps or settings["ft_steps"], lr=settings["ft_lr"],
                       batch_size=settings["batch_size"], max_length=settings["max_length"],
                       train_last=settings["train_last"], system=settings["system"], seed=seed, progress=True)
    torch.manual_seed(seed)
    trainable = last_blocks(model, config.train_last) if config.train_last else None
    metrics = fit(model, tokenizer, rows, config, weights=weights, trainable=trainable)
    return model, tokenizer, metrics
