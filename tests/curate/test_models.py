import pytest

from curate.errors import InputError
from curate.models import describe_models, resolve_model_path


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(InputError, match="unknown model 'no-such-model'.*curate models"):
        resolve_model_path("no-such-model")


def test_local_path_and_hub_id_pass_through(tmp_path):
    assert resolve_model_path(str(tmp_path)) == tmp_path
    assert resolve_model_path("org/model") == "org/model"


def test_registry_lists_both_models():
    names = {row["name"] for row in describe_models()}
    assert names == {"minilm", "smollm2-135m"}


@pytest.mark.real_model
def test_smollm2_loads_from_cache_fast():
    import time

    from curate.models import load_causal_lm

    load_causal_lm("smollm2-135m")  # converts once if needed
    started = time.perf_counter()
    tokenizer, model = load_causal_lm("smollm2-135m")
    assert time.perf_counter() - started < 5.0
    assert model.config.num_hidden_layers == 30 and model.config.num_key_value_heads == 3
    assert tokenizer.padding_side == "left" and tokenizer.chat_template
