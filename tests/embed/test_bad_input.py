"""Every bad input gets an InputError that names the file, line or field, and the fix."""

from __future__ import annotations

import json

import pytest

from curate.errors import ConfigError, InputError
from embed import EmbedConfig, read_embeddings, run
from tests.embed.conftest import sample_records, write_jsonl
from tests.embed.fakes import FakeBuilder


def embed(tmp_path, *inputs, builder=None, **options):
    options.setdefault("out", tmp_path / "out")
    return run(EmbedConfig(inputs=tuple(map(str, inputs)), progress=False, **options), builder=builder or FakeBuilder())


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"input '.*nope.jsonl' does not exist; give a file"):
        embed(tmp_path, tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="matches no files"):
        embed(tmp_path, tmp_path / "*.parquet")


def test_missing_field_names_option_and_columns(tmp_path, corpus):
    with pytest.raises(InputError, match=r"has no field 'text' \(named by --prompt-field\); "
                                         r"its fields are prompt, response, id; set --prompt-field"):
        embed(tmp_path, corpus, prompt_field="text")
    with pytest.raises(InputError, match=r"--id-field uid: the input has no such column"):
        embed(tmp_path, corpus, id_field="uid")


def test_null_prompt_in_one_record(tmp_path):
    rows = sample_records(6)
    rows[3]["prompt"] = None
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(InputError, match=r"c.jsonl line 4: field 'prompt' is missing or null"):
        embed(tmp_path, path)
    assert embed(tmp_path, path, on_error="skip", overwrite=True).manifest["skipped"]["count"] == 1


def test_empty_input(tmp_path, corpus):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match=r"input .*empty.jsonl is empty \(no records\)"):
        embed(tmp_path, corpus, empty)


def test_malformed_json_line_fails_with_line_number_or_is_skipped_and_counted(tmp_path):
    rows = [json.dumps(r) for r in sample_records(8)]
    rows[2] = rows[2][:-5]
    rows[5] = "[1, 2]"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl line 3: malformed JSON .*--on-error skip"):
        embed(tmp_path, path)
    result = embed(tmp_path, path, on_error="skip", overwrite=True)
    assert result.manifest["skipped"]["count"] == 2
    assert "line 6: is a JSON list" in result.manifest["skipped"]["examples"][1]
    assert len(read_embeddings(tmp_path / "out").ids) == 6


def test_non_utf8_bytes(tmp_path):
    good = json.dumps(sample_records(1)[0]).encode()
    path = tmp_path / "latin.jsonl"
    path.write_bytes(good + b"\n" + b'{"prompt": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"latin.jsonl line 2: bytes are not valid UTF-8 .*iconv"):
        embed(tmp_path, path)
    csv = tmp_path / "latin.csv"
    csv.write_bytes(b"prompt,response\nhello,world\ncaf\xe9,ok\n")
    with pytest.raises(InputError, match=r"latin.csv line 3: bytes are not valid UTF-8"):
        embed(tmp_path, csv)


def test_duplicate_ids(tmp_path):
    rows = sample_records(5)
    rows[4]["id"] = rows[1]["id"]
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(InputError, match=r"dup.jsonl line 5: duplicate id 'r0001'.*make ids unique"):
        embed(tmp_path, path)
    assert embed(tmp_path, path, on_error="skip", overwrite=True).manifest["skipped"]["count"] == 1
    same_content = write_jsonl(tmp_path / "same.jsonl", [{"prompt": "a"}, {"prompt": "a"}])
    with pytest.raises(InputError, match="line 2: duplicate id .*identical prompt and response hash alike"):
        embed(tmp_path, same_content, overwrite=True)


def test_unknown_model_name(tmp_path, corpus):
    with pytest.raises(InputError, match=r"unknown model 'no-such-model'.*curate models"):
        run(EmbedConfig(inputs=(corpus,), out=tmp_path / "o", model="no-such-model", progress=False))


def test_rerun_with_other_model_or_input_is_refused(tmp_path, corpus, tiny_text_model):
    embed(tmp_path, corpus)
    with pytest.raises(InputError, match=r"already holds embeddings made differently: model 'minilm' .*--overwrite"):
        embed(tmp_path, corpus, model=str(tiny_text_model))
    other = write_jsonl(tmp_path / "other.jsonl", sample_records(4))
    with pytest.raises(InputError, match=r"input_fingerprint .*Use another --out, or --overwrite"):
        embed(tmp_path, other)
    assert len(embed(tmp_path, other, overwrite=True).ids) == 4


def test_dimension_mismatch_with_existing_folder(tmp_path, corpus):
    with pytest.raises(RuntimeError, match="simulated crash"):
        embed(tmp_path, corpus, shard_size=10, builder=FakeBuilder(dim=8, fail_after=2, name="dim8"))
    with pytest.raises(InputError, match=r"holds 8-d embeddings but this run makes 16-d"):
        embed(tmp_path, corpus, shard_size=10, builder=FakeBuilder(dim=16, name="dim16"))


@pytest.mark.parametrize("options, match", [
    ({"pooling": "last"}, r"--pooling last needs --encoder lm"),
    ({"layer": 3}, r"--layer 3 needs --encoder lm"),
    ({"batch_size": 0}, r"--batch-size 0 must be at least 1"),
    ({"template": "{prompt"}, r"--template '\{prompt' is not a valid format string"),
    ({"dask": "local"}, r"--dask 'local': use local:N"),
    ({"inputs": ()}, r"needs at least one INPUT"),
])
def test_bad_options(tmp_path, options, match):
    kwargs = {"inputs": ("x.jsonl",), "out": tmp_path, **options}
    with pytest.raises(ConfigError, match=match):
        EmbedConfig(**kwargs)


def test_cli_prints_the_message_and_exits_2(tmp_path, capsys):
    from curate.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["embed", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"), "--no-progress"])
    assert exit_info.value.code == 2
    assert "missing.jsonl' does not exist" in capsys.readouterr().err
