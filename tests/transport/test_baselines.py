"""Baselines through --method: the classifier, score → weight temperatures, and --encoder lm features."""

import numpy as np
import pytest
import torch

from curate.errors import ConfigError, InputError
from tests.transport.test_solve import _data
from transport._solve import solve_weights
from transport.baselines import DEFAULT_TEMPERATURE, classifier_scores, heuristic_scores, scores_to_weights
from transport.config import SOTConfig


def _cfg(tmp_path, **kw):
    return SOTConfig(out=tmp_path / "w.parquet", progress=False, **kw)


def _ess_fraction(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / (len(w) * (w ** 2).sum()))


def test_classifier_ranks_harmful_rows_low(tmp_path):
    from sklearn.metrics import roc_auc_score

    x, s, h, harmful = _data()
    res, info = solve_weights(x, s, h, _cfg(tmp_path, method="classifier"), torch.device("cpu"))
    assert res.weights.mean() == pytest.approx(1.0, rel=1e-9)
    assert roc_auc_score(harmful, -res.weights) > 0.9  # a linear boundary on these clusters: 0.93 (sign flip: 0.07)
    assert info == {"solver": "none", "temperature": DEFAULT_TEMPERATURE["classifier"]}
    # the columns are P(harmful) and its complement
    assert np.all((res.pull_potential >= 0) & (res.pull_potential <= 1))
    assert np.allclose(res.pull_potential + res.push_potential, 1.0)


def test_classifier_is_symmetric_in_its_anchor_sets():
    x, s, h, _ = _data(1)
    p = classifier_scores(x, s, h)
    # swapping the classes negates the fitted logit: P(harmful) becomes 1 − P(harmful)
    assert np.allclose(classifier_scores(x, h, s), 1.0 - p, atol=1e-4)


def test_classifier_bad_anchors():
    x, s, h, _ = _data()
    with pytest.raises(InputError, match="needs both anchor sets"):
        classifier_scores(x, s[:0], h)
    with pytest.raises(InputError, match="feature widths differ"):
        classifier_scores(x, s[:, :8], h)


def test_temperature_changes_spread_not_ranking():
    risk = np.random.default_rng(0).normal(size=500)
    cold, warm = scores_to_weights(risk, 0.05), scores_to_weights(risk, 3.0)
    assert cold.mean() == pytest.approx(1.0) and warm.mean() == pytest.approx(1.0)
    assert np.array_equal(np.argsort(cold, kind="stable"), np.argsort(warm, kind="stable"))
    assert _ess_fraction(cold) < 0.2 < 0.5 < _ess_fraction(warm)
    assert np.all(np.diff(cold[np.argsort(risk)]) <= 0)  # higher risk, lower weight


def test_heuristic_temperature_option(tmp_path):
    x, s, h, _ = _data(2)
    near_s, near_h = heuristic_scores(x, s, h)
    default, info = solve_weights(x, s, h, _cfg(tmp_path, method="heuristic"), torch.device("cpu"))
    # unchanged behaviour: without --temperature the heuristic uses --heuristic-temperature (0.05)
    assert np.allclose(default.weights, scores_to_weights(near_h - near_s, 0.05)) and info["temperature"] == 0.05
    tuned, info = solve_weights(x, s, h, _cfg(tmp_path, method="heuristic", temperature=0.3), torch.device("cpu"))
    assert np.allclose(tuned.weights, scores_to_weights(near_h - near_s, 0.3)) and info["temperature"] == 0.3
    assert _ess_fraction(tuned.weights) > _ess_fraction(default.weights)


@pytest.mark.parametrize("kw, match", [
    ({"temperature": 0.1}, "--temperature 0.1 applies to --method heuristic or classifier, not sot"),
    ({"method": "push-only", "temperature": 0.1}, "not push-only"),
    ({"method": "classifier", "temperature": 0.0}, "--temperature must be > 0"),
])
def test_bad_temperature(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path, **kw)


def test_method_choices_include_every_baseline(tmp_path):
    for method in ("sot", "uniform", "heuristic", "classifier", "pull-only", "push-only"):
        assert _cfg(tmp_path, method=method).method == method


# ---------------------------------------------------------------- --encoder lm


def _pairs(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "prompt": ["hi there", "how do I sort", "name a fruit"],
                             "response": ["hello", "use sort", "an apple"]}), path)
    return str(path)


def test_lm_encoder_defaults_to_the_model_to_be_fine_tuned(tmp_path):
    from embed.config import EmbedSettings
    from transport._features import embed_settings

    lm = _cfg(tmp_path, embed=EmbedSettings(encoder="lm"))
    assert embed_settings(lm).model == "smollm2-135m"
    assert embed_settings(_cfg(tmp_path, embed=EmbedSettings(encoder="lm", model="my/lm"))).model == "my/lm"
    assert embed_settings(_cfg(tmp_path)).model == "minilm"


def test_lm_features_are_last_token_hidden_states(tmp_path, tiny_lm_model):
    """--encoder lm embeds through the lm encoder with last-token pooling, at the requested layer."""
    from curate.models import load_causal_lm
    from embed.config import EmbedSettings
    from embed.encoders.lm import CausalLMEncoder
    from transport._features import load_features

    spec = _pairs(tmp_path)
    config = _cfg(tmp_path, features="response", embeddings_cache=tmp_path / "cache",
                  embed=EmbedSettings(model=str(tiny_lm_model), encoder="lm", layer=1, batch_size=2))
    features = load_features(spec, config)
    assert features.vectors.shape == (3, 32)
    assert features.manifests[0]["pooling"] == "last" and features.manifests[0]["layer"] == 1
    tokenizer, model = load_causal_lm(str(tiny_lm_model))
    expected = CausalLMEncoder(tokenizer, model, layer=1, pooling="last").encode(["hello", "use sort", "an apple"])
    unit = expected.vectors / np.linalg.norm(expected.vectors, axis=1, keepdims=True)  # features are unit rows
    assert np.allclose(features.vectors, unit, atol=1e-5)
    # another layer is another cache entry, not the first one read back
    other = _cfg(tmp_path, features="response", embeddings_cache=tmp_path / "cache",
                 embed=EmbedSettings(model=str(tiny_lm_model), encoder="lm", layer=2))
    assert load_features(spec, other).manifests[0]["layer"] == 2
