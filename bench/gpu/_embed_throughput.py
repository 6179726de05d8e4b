"""Embedding throughput on the GPU: our TextEncoder (the encoder `curate embed` runs) against sentence-transformers,
on a random-weight model of all-MiniLM-L6-v2's shape (BERT, 6 layers, hidden 384, 12 heads, vocabulary 30522)
built from its config, with a WordPiece tokenizer trained here on synthetic text. Part of bench/gpu/check.sh.

Both encode the same texts with the same batch size, sorted by length; ours runs in float16 as `curate embed`
does on CUDA, sentence-transformers in its default float32 and, for the like-for-like figure, in float16.
When scipy / scikit-learn are absent (the check carries neither), stand-in modules satisfy sentence-transformers'
imports of them: encoding uses neither.

    python -m bench.gpu._embed_throughput --out embed_throughput.json [--texts 50000] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
             max_position_embeddings=512)


class _StandIn(types.ModuleType):
    """A module whose every attribute is a function that refuses to run (satisfies `from x import y`)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def absent(*args, **kwargs):
            raise RuntimeError(f"{self.__name__}.{name} is a stand-in in the GPU check")

        return absent


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: set[str]):
        self.roots = roots

    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self, is_package=True) if name.split(".")[0] in self.roots else None

    def create_module(self, spec):
        module = _StandIn(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module) -> None:
        pass


def _stand_in_for_missing(names: tuple[str, ...] = ("scipy", "sklearn")) -> list[str]:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        sys.meta_path.append(_StandInFinder(set(missing)))
    return missing


def _text_encoder_class():
    """embed.encoders.text.TextEncoder; without pyarrow the embed package's __init__ cannot run, so the encoder
    modules (numpy and torch only) are loaded under empty parent packages."""
    try:
        from embed.encoders.text import TextEncoder
    except ImportError:
        for name, folder in (("embed", ROOT / "embed"), ("embed.encoders", ROOT / "embed" / "encoders")):
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
        from embed.encoders.text import TextEncoder
    return TextEncoder


def synthetic_texts(count: int, seed: int = 0) -> list[str]:
    """Zipf-distributed pseudo-words, 8–120 words a text (prompt + response lengths of SFT corpora)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lexicon = ["".join(rng.choice(letters, rng.integers(2, 10))) for _ in range(20_000)]
    ranks = np.minimum(rng.zipf(1.2, size=count * 64), len(lexicon)) - 1
    lengths, texts, at = rng.integers(8, 121, size=count), [], 0
    for length in lengths:
        texts.append(" ".join(lexicon[r] for r in ranks[at : at + length]) + ".")
        at = (at + length) % (len(ranks) - 121)
    return texts


def build_model(folder: Path, texts: list[str]) -> None:
    """A random-weight BERT of MiniLM-L6's shape and a 30522-piece WordPiece tokenizer, saved to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=SHAPE["vocab_size"],
                                                                    special_tokens=special))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                             special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(**{**SHAPE, "vocab_size": max(SHAPE["vocab_size"], tokenizer.get_vocab_size())})
    BertModel(config).save_pretrained(folder)


def _timed(fn) -> tuple[float, object]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu._embed_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--device", default="cuda", help="cpu only to try the script without a GPU")
    parser.add_argument("--out", default="embed_throughput.json")
    args = parser.parse_args()
    stand_ins = _stand_in_for_missing()
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    texts = synthetic_texts(args.texts)
    report = {"texts": len(texts), "batch_size": args.batch_size, "max_length": args.max_length,
              "device": torch.cuda.get_device_name() if args.device == "cuda" else args.device,
              "torch": torch.__version__, "stand_ins": stand_ins, "runs": {}}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "minilm-shaped"
        build_model(folder, texts[:20_000])
        ours = _text_encoder_class()(AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder),
                                     batch_size=args.batch_size, max_length=args.max_length, device=args.device,
                                     dtype=torch.float16 if args.device == "cuda" else torch.float32)
        st = SentenceTransformer(str(folder), device=args.device)
        st.max_seq_length = args.max_length
        encode_st = lambda: st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)  # noqa: E731
        ours.encode(texts[:2000]), st.encode(texts[:2000], batch_size=args.batch_size)  # warm-up
        seconds, ours_vectors = _timed(lambda: ours.encode(texts).vectors)
        report["runs"]["ours_float16"] = round(len(texts) / seconds, 1)
        seconds, st_vectors = _timed(encode_st)
        report["runs"]["sentence_transformers_float32"] = round(len(texts) / seconds, 1)
        if args.device == "cuda":
            st.half()
            st.encode(texts[:2000], batch_size=args.batch_size)
        seconds, _ = _timed(encode_st)
        report["runs"]["sentence_transformers_float16"] = round(len(texts) / seconds, 1)
    runs = report["runs"]
    report["ours_vs_st_float16"] = round(runs["ours_float16"] / runs["sentence_transformers_float16"], 3)
    report["ours_vs_st_default"] = round(runs["ours_float16"] / runs["sentence_transformers_float32"], 3)
    cosine = np.sum(ours_vectors * np.asarray(st_vectors, dtype=np.float32), axis=1)
    report["cosine_ours_vs_st_float32"] = {"min": round(float(cosine.min()), 5), "mean": round(float(cosine.mean()), 5)}
    print(json.dumps(report), flush=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
