"""`curate embed` vs sentence-transformers `encode` on the same real texts, plus peak RSS at two corpus sizes.

    .venv/bin/python -m bench.embed.throughput                      # 20k texts, batch 64, max length 256
    .venv/bin/python -m bench.embed.throughput --rows 2000 --skip-rss

Throughput: both sides read the same JSONL (benign-qa Q/A from the dataset registry, repeated with new ids to
reach --rows), render "{prompt}\\n{response}", embed with MiniLM (same batch size and max length, CPU) and end
with the vectors; ours also writes the Parquet shards and manifest. The two run alternately, --repeats times,
and the ratio of median wall times is printed (> 1 = ours faster).

Memory: `curate embed` runs in a subprocess on --rss-rows small and large corpora; the child's peak RSS is read
with wait4. To keep 2 shared cores usable the memory runs use a 2-layer, 32-wide BERT with MiniLM's real
tokenizer (the pipeline — reader, tokenizer, shards, writer — is what grows with corpus size, not the model).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine_info, make_parser


def write_corpus(path: Path, rows: int) -> Path:
    """`rows` benign-qa records (cycled; repeats get an id suffix), streamed to JSONL."""
    from curate.datasets import load_dataset_table

    records = load_dataset_table("benign-qa").select(["id", "prompt", "response"]).to_pylist()
    with open(path, "w") as fh:
        for k in range(rows):
            record = records[k % len(records)]
            lap = k // len(records)
            fh.write(json.dumps({**record, "id": f"{record['id']}#{lap}" if lap else record["id"]}) + "\n")
    return path


def time_sentence_transformers(corpus: Path, batch_size: int, max_length: int) -> tuple[float, np.ndarray]:
    from sentence_transformers import SentenceTransformer

    from curate.models import resolve_model_path

    started = time.perf_counter()
    model = SentenceTransformer(str(resolve_model_path("minilm")), device="cpu")
    model.max_seq_length = max_length
    texts = []
    with open(corpus) as fh:
        for line in fh:
            r = json.loads(line)
            texts.append(f"{r['prompt'] or ''}\n{r['response'] or ''}")
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    return time.perf_counter() - started, vectors


def time_ours(corpus: Path, out: Path, batch_size: int, max_length: int) -> tuple[float, np.ndarray, dict]:
    from embed import EmbedConfig, read_embeddings, run

    started = time.perf_counter()
    result = run(EmbedConfig(inputs=(str(corpus),), out=out, batch_size=batch_size, max_length=max_length,
                             overwrite=True, progress=False))
    seconds = time.perf_counter() - started
    return seconds, read_embeddings(out).vectors, result.manifest


def throughput(args, work: Path) -> None:
    corpus = write_corpus(work / "corpus.jsonl", args.rows)
    warm = write_corpus(work / "warm.jsonl", 256)  # imports, model files in the page cache: not timed
    time_ours(warm, work / "warm", args.batch_size, args.max_length)
    time_sentence_transformers(warm, args.batch_size, args.max_length)
    ours_s, theirs_s = [], []
    for repeat in range(args.repeats):
        for name in ("ours", "st") if repeat % 2 == 0 else ("st", "ours"):
            if name == "ours":
                seconds, ours_vectors, manifest = time_ours(corpus, work / f"out{repeat}", args.batch_size,
                                                            args.max_length)
                ours_s.append(seconds)
            else:
                seconds, st_vectors = time_sentence_transformers(corpus, args.batch_size, args.max_length)
                theirs_s.append(seconds)
            print(f"  repeat {repeat}: {name:4s} {seconds:8.2f} s  {args.rows / seconds:8.1f} rows/s", flush=True)
    diff = float(np.abs(ours_vectors - st_vectors).max())
    stages = {k: round(sum(s["timings"][k] for s in manifest["shards"]), 2) for k in ("read_s", "encode_s", "write_s")}
    ours, theirs = statistics.median(ours_s), statistics.median(theirs_s)
    print(f"throughput, {args.rows} texts, batch {args.batch_size}, max length {args.max_length}, "
          f"{os.cpu_count()} CPU cores, torch threads {__import__('torch').get_num_threads()}")
    print(f"  sentence-transformers encode: {theirs:.2f} s ({args.rows / theirs:.1f} rows/s)")
    print(f"  curate embed (incl. Parquet):  {ours:.2f} s ({args.rows / ours:.1f} rows/s); stages {stages}")
    print(f"  ratio ours/theirs throughput: {theirs / ours:.3f}   (max |difference| of vectors {diff:.2e})")
    print(f"  machine: {json.dumps(machine_info())}")


def tiny_model(folder: Path) -> Path:
    """2-layer, 32-wide BERT (random weights) with MiniLM's real tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from curate.models import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=512)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def peak_rss(args, work: Path) -> None:
    model = tiny_model(work / "tiny-bert")
    peaks = {}
    for rows in args.rss_rows:
        corpus = write_corpus(work / f"rss-{rows}.jsonl", rows)
        command = [sys.executable, "-m", "curate.cli", "embed", str(corpus), "--out", str(work / f"rss-out-{rows}"),
                   "--model", str(model), "--batch-size", str(args.batch_size), "--no-progress"]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        output = child.stdout.read().decode()
        if status != 0:
            raise SystemExit(f"curate embed failed:\n{output}")
        peaks[rows] = usage.ru_maxrss / 1024
        print(f"  {rows:>7d} rows: peak RSS {peaks[rows]:7.1f} MiB, {time.perf_counter() - started:6.1f} s", flush=True)
        corpus.unlink()
    small, large = min(peaks), max(peaks)
    print(f"peak RSS ratio {large} rows / {small} rows: {peaks[large] / peaks[small]:.3f} (goal <= 1.10)")


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rss-rows", type=int, nargs=2, default=[20_000, 200_000])
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="embed-bench-") as tmp:
        if not args.skip_throughput:
            throughput(args, Path(tmp))
        if not args.skip_rss:
            peak_rss(args, Path(tmp))


if __name__ == "__main__":
    main()
