"""A tiny Llama + character tokenizer saved as a model folder, usable wherever a model name is accepted."""

import pytest


@pytest.fixture
def tiny_lm_folder(tmp_path, tiny_llama, char_tokenizer):
    folder = tmp_path / "tiny-lm"
    tiny_llama.save_pretrained(folder)
    char_tokenizer.save_pretrained(folder)
    return folder
