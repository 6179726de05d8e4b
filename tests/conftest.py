"""Shared fixtures: tiny models built from configs (never downloaded), isolated caches, skips."""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def has_package(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


requires_cuda = pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")


@pytest.fixture
def tiny_llama():
    """A 2-layer Llama-like causal LM (hidden 32, 4 heads, 2 KV heads: grouped-query attention)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def tiny_bert():
    """A 2-layer BERT-like encoder (hidden 32)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=128)
    return BertModel(config).eval()


@pytest.fixture
def tiny_text_model(tmp_path, tiny_bert, char_tokenizer):
    """The tiny BERT and the byte-level tokenizer saved as a folder: usable as --model PATH."""
    return _save_folder(tmp_path / "tiny-bert", tiny_bert, char_tokenizer)


@pytest.fixture
def tiny_lm_model(tmp_path, tiny_llama, char_tokenizer):
    """The tiny Llama and the byte-level tokenizer saved as a folder: usable wherever a model name is taken."""
    return _save_folder(tmp_path / "tiny-llama", tiny_llama, char_tokenizer)


def _save_folder(folder, model, tokenizer):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: on a shared 2-core machine tiny tensor ops stall in thread-pool wake-ups."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def char_tokenizer():
    """A tiny byte-level tokenizer (ids 3..127) with a ChatML-like chat template; no download."""
    from tests.helpers import make_char_tokenizer

    return make_char_tokenizer()


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Dataset/embedding caches go to a per-session temp dir; converted model weights stay shared."""
    from pathlib import Path

    real = Path(os.environ.get("SAFECURATE_CACHE", Path.home() / ".cache" / "safecurate"))
    (real / "models").mkdir(parents=True, exist_ok=True)
    cache = tmp_path_factory.mktemp("safecurate-cache")
    (cache / "models").symlink_to(real / "models", target_is_directory=True)
    previous = os.environ.get("SAFECURATE_CACHE")
    os.environ["SAFECURATE_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("SAFECURATE_CACHE", None)
    else:
        os.environ["SAFECURATE_CACHE"] = previous
