"""The real offline models: MiniLM through `curate embed` equals sentence-transformers; SmolLM2 hidden states."""

from __future__ import annotations

import numpy as np
import pytest

from embed import EmbedConfig, open_input, render_texts, run

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def real_texts(tmp_path_factory):
    """160 real benign Q/A rows and 40 real harmful prompts (prompt-only), as one JSONL file."""
    import pyarrow as pa
    import pyarrow.json  # noqa: F401

    from curate.datasets import load_dataset_table

    benign = load_dataset_table("benign-qa").slice(0, 160).select(["id", "prompt", "response"])
    harmful = load_dataset_table("harmful-prompts").slice(0, 40).select(["id", "prompt", "response"])
    table = pa.concat_tables([benign, harmful])
    path = tmp_path_factory.mktemp("real") / "real.jsonl"
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    return str(path)


def test_minilm_equals_sentence_transformers(tmp_path, real_texts):
    from sentence_transformers import SentenceTransformer

    from curate.models import resolve_model_path

    ours = run(EmbedConfig(inputs=(real_texts,), out=tmp_path / "minilm", batch_size=32, shard_size=64,
                           progress=False))
    texts = render_texts(open_input(real_texts), "{prompt}\n{response}")
    reference = SentenceTransformer(str(resolve_model_path("minilm")), device="cpu")
    expected = reference.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    assert reference.max_seq_length == 256 and ours.vectors.shape == (200, 384)
    np.testing.assert_allclose(ours.vectors, expected, atol=1e-5)


def test_smollm2_hidden_states(tmp_path):
    import json

    import torch

    from curate.models import load_causal_lm

    texts = ["How do I bake bread?", "Explain what the tar command does, in one short sentence please."]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts))
    result = run(EmbedConfig(inputs=(str(path),), out=tmp_path / "lm", encoder="lm", layer=12, pooling="last",
                             template="{prompt}", progress=False))
    assert result.manifest["model"] == "smollm2-135m" and result.manifest["dim"] == 576
    tokenizer, model = load_causal_lm("smollm2-135m")
    with torch.no_grad():
        expected = [model(**tokenizer(t, return_tensors="pt"), output_hidden_states=True).hidden_states[12][0, -1]
                    for t in texts]
    np.testing.assert_allclose(result.vectors, torch.stack(expected).numpy(), atol=1e-4)
