"""Chat formatting shared by every trainer and by eval: one place decides what the model sees."""

from __future__ import annotations

from pathlib import Path

import torch

from curate.errors import InputError

__all__ = ["CHATML_TEMPLATE", "ensure_chat_template", "format_prompt", "tokenize_pairs"]

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def ensure_chat_template(tokenizer, template: str | None = None, model_name: str = "the model") -> None:
    """Install `template` ("chatml", a Jinja file path or a Jinja string) or check the tokenizer already has one."""
    if template:
        if template == "chatml":
            tokenizer.chat_template = CHATML_TEMPLATE
        elif Path(template).is_file():
            tokenizer.chat_template = Path(template).read_text()
        else:
            tokenizer.chat_template = template
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            f"model '{model_name}' has no chat template; pass --template chatml, --template FILE.jinja "
            "or a Jinja template string so prompts can be formatted as a conversation"
        )


def _messages(prompt: str, system: str | None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": prompt}]


def format_prompt(tokenizer, prompt: str, system: str | None = None) -> str:
    """The prompt as the model's chat template renders it, ending where the assistant's answer begins."""
    ensure_chat_template(tokenizer, None, getattr(tokenizer, "name_or_path", "the model"))
    return tokenizer.apply_chat_template(_messages(prompt, system), tokenize=False, add_generation_prompt=True)


def _response_text(tokenizer, prompt: str, response: str, system: str | None, prompt_text: str) -> str:
    """The text after the prompt in the full rendered conversation (includes the template's end-of-turn)."""
    messages = _messages(prompt, system) + [{"role": "assistant", "content": response}]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if full.startswith(prompt_text):
        return full[len(prompt_text):]
    # templates that render the last turn differently: fall back to the answer plus end-of-sequence
    return response + (tokenizer.eos_token or "")


def tokenize_pairs(
    tokenizer,
    prompts: list[str],
    responses: list[str],
    max_length: int,
    *,
    system: str | None = None,
    min_response_tokens: int = 16,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask, labels), each [B, T]; labels are -100 outside the response.

    Long rows keep the end of the prompt (left-truncated) and at least `min_response_tokens` of the response.
    """
    if len(prompts) != len(responses):
        raise InputError(f"{len(prompts)} prompts but {len(responses)} responses")
    rows: list[tuple[list[int], int]] = []
    for prompt, response in zip(prompts, responses):
        prompt_text = format_prompt(tokenizer, prompt, system)
        answer = _response_text(tokenizer, prompt, response or "", system, prompt_text)
        p_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        keep_prompt = max(1, min(len(p_ids), max_length - min(len(r_ids), min_response_tokens)))
        p_ids = p_ids[len(p_ids) - keep_prompt:]
        r_ids = r_ids[: max_length - len(p_ids)]
        rows.append((p_ids + r_ids, len(p_ids)))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention[i, : len(ids)] = 1
        labels[i, n_prompt: len(ids)] = torch.tensor(ids[n_prompt:], dtype=torch.long)
    return input_ids, attention, labels
