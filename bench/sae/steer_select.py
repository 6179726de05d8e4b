"""SAE steering with the annotation threshold eta and desirable weight gamma chosen on validation, then reported on
held-out prompts (DACO, issue 17 item 4, second half).

    python -m bench.sae.steer_select --sae runs/sae-init/sae-dictionary-fill1-s0 --dictionary DICT \
        --etas 0.1,0.2,0.3 --gammas 0,1,2 --val-limit 150

1. variants  one folder per (eta, gamma): the SAE's weights, its atoms re-labelled at eta (train.sae.annotate, the
             SAE loaded once and annotated once per eta), steering.json with gamma and the device; a variant with
             no undesirable and no desirable atom is skipped
2. val       `curate eval` of the plain model, then of every variant, on the validation split: harmful-prompts:train,
             over-refusal:train, benign-qa:train NLL (--val-limit rows each, seeded). The time of the first
             evaluation is printed with the estimate for the rest
3. choose    DACO's rule, in its units (bench.daco._steer_score.select and Limits, so both methods' settings are
             chosen alike): the highest validation DSR among settings with over-refusal <= plain + 5 points,
             degenerate <= 5% of all answers (harmful and benign pooled) and benign NLL <= plain + 2%; if none
             qualifies, the setting closest to the limits (ties: higher DSR), marked "feasible": false
4. held-out  the plain model and the chosen setting on harmful-prompts:heldout (318 prompts), over-refusal:heldout
             (211) and benign-qa:heldout NLL; Wilson 95% intervals, NLL t interval, exact McNemar paired tests
Rows {method, layer, setting, dsr, dsr_ci, or, or_ci, degenerate, nll_delta (%), n} go to WORK/steer_select.json and
key "sae_steering" of bench/results/daco.json. Every evaluation folder is reused when its summary.json exists.
Note: bench.sae's training activations include harmful-prompts:train prompts, so validation prompts are not
unseen by the SAE; held-out prompts are never trained on or used for the choice.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

RESULTS_KEY = "sae_steering"


@dataclass(frozen=True)
class Split:
    """The three inputs of one `curate eval` and the row limit applied to each."""

    name: str
    harmful: str
    benign: str
    nll: str
    limit: int | None


VALIDATION = ("registry:harmful-prompts:train", "registry:over-refusal:train", "registry:benign-qa:train")
HELD_OUT = ("registry:harmful-prompts:heldout", "registry:over-refusal:heldout", "registry:benign-qa:heldout")


def parse_args(argv: list[str] | None = None):
    parser = make_parser(__doc__)
    parser.add_argument("--sae", type=Path, required=True, help="a dictionary-initialised `curate train sae` folder")
    parser.add_argument("--dictionary", type=Path, required=True, help="the dictionary the SAE was annotated with")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--work", type=Path, default=Path("runs/sae-steer"))
    parser.add_argument("--results", type=Path, default=RESULTS / "daco.json")
    parser.add_argument("--etas", default="0.1,0.2,0.3", help="comma-separated annotation thresholds")
    parser.add_argument("--gammas", default="0,1,2", help="comma-separated desirable-atom weights")
    parser.add_argument("--val-limit", type=int, default=150, help="validation rows per input (seeded subset)")
    parser.add_argument("--held-limit", type=int, default=None, help="held-out rows per input (default: all)")
    parser.add_argument("--validation", default=",".join(VALIDATION), help="harmful,benign,nll input specs")
    parser.add_argument("--held-out", default=",".join(HELD_OUT), help="harmful,benign,nll input specs")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--judge", type=Path, default=None, help="a judge file (default: the shipped judge)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.etas = [float(v) for v in str(args.etas).split(",")]
    args.gammas = [float(v) for v in str(args.gammas).split(",")]
    args.validation = Split("validation", *_specs(args.validation, "--validation"), args.val_limit)
    args.held_out = Split("heldout", *_specs(args.held_out, "--held-out"), args.held_limit)
    return args


def _specs(text: str, option: str) -> list[str]:
    specs = [s.strip() for s in text.split(",")]
    if len(specs) != 3 or not all(specs):
        raise SystemExit(f"{option} {text!r}: give three input specs, harmful,benign,nll")
    return specs


def setting_name(eta: float, gamma: float) -> str:
    return f"eta{eta:g}-gamma{gamma:g}"


def label_counts(table) -> dict[str, int]:
    """{undesirable_atoms, desirable_atoms} of an annotation table."""
    counts = dict(table.group_by("label").len().iter_rows())
    return {"undesirable_atoms": int(counts.get("undesirable", 0)), "desirable_atoms": int(counts.get("desirable", 0))}


def write_variant(sae_dir: Path, annotations, gamma: float, out: Path, device: str = "cpu") -> None:
    """A steerable SAE folder: the weights of `sae_dir`, `annotations` (its atoms labelled at one eta), gamma and
    the device the SAE runs on (the model's, so hidden states stay where they are)."""
    from curate.io import atomic_write_text, write_parquet

    out.mkdir(parents=True, exist_ok=True)
    for name in ("sae.safetensors", "sae.json"):
        shutil.copyfile(sae_dir / name, out / name)
    write_parquet(annotations, out / "annotations.parquet")
    atomic_write_text(out / "steering.json", json.dumps({"gamma": gamma, "device": device}) + "\n")


def write_variants(args) -> dict[str, dict]:
    """Every (eta, gamma) folder under WORK/variants that can steer (some atom labelled), mildest first. The SAE
    is loaded once and its atoms annotated once per eta; gamma only changes steering.json."""
    from concepts.dictionary_io import load_dictionary
    from curate.device import resolve_device
    from train.sae.annotate import annotate_atoms
    from train.sae.model import load_sae

    dictionary = load_dictionary(args.dictionary)
    device = str(resolve_device(args.device))
    sae = load_sae(args.sae)
    settings = {}
    for eta in sorted(args.etas, reverse=True):  # higher eta labels fewer atoms: milder
        table = annotate_atoms(sae.W_dec, dictionary, sae.shape.layer, eta, sae.shape.num_concepts)
        counts = label_counts(table)
        for gamma in sorted(args.gammas):
            name = setting_name(eta, gamma)
            if not (counts["undesirable_atoms"] or (gamma and counts["desirable_atoms"])):
                unused = " (gamma 0 leaves its desirable atoms unused)" if counts["desirable_atoms"] else ""
                print(f"skipping {name}: no undesirable atom is labelled at eta {eta:g}{unused}", flush=True)
                continue
            write_variant(args.sae, table, gamma, args.work / "variants" / name, device)
            settings[name] = {"eta": eta, "gamma": gamma, **counts, "layer": sae.shape.layer}
    return settings


def evaluate(args, split: Split, name: str, steer: Path | None) -> dict:
    """`curate eval` of the plain model (steer None) or a variant on one split; reused when already done."""
    from curate.evaluation.config import EvalConfig
    from curate.evaluation.run import run

    out = args.work / f"{split.name}-{name}"
    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    return run(EvalConfig(out=out, model=args.model, prompts=split.harmful, benign_prompts=split.benign,
                          nll_data=split.nll, limit=split.limit, steer=steer, max_new_tokens=args.max_new_tokens,
                          batch_size=args.batch_size, judge_path=args.judge, device=args.device,
                          threads=args.threads, progress=not args.no_progress, overwrite=True))


def validate(args, settings: dict[str, dict]) -> tuple[dict, dict[str, dict]]:
    began = time.perf_counter()
    plain = evaluate(args, args.validation, "plain", None)
    seconds = time.perf_counter() - began
    print(f"validation evaluation of the plain model: {seconds:.0f} s; {len(settings)} settings to go "
          f"~ {len(settings) * seconds / 60:.0f} min (less where finished), then 2 held-out evaluations", flush=True)
    return plain, {name: evaluate(args, args.validation, name, args.work / "variants" / name) for name in settings}


def _flags(args, split: Split, name: str) -> dict[str, list[bool]]:
    """Per set, the refused flags in results.parquet order (the same seeded prompts for every run of a split)."""
    import pyarrow.parquet as pq

    columns = pq.read_table(args.work / f"{split.name}-{name}" / "results.parquet").to_pydict()
    out: dict[str, list[bool]] = {}
    for kind, refused in zip(columns["set"], columns["refused"]):
        out.setdefault(kind, []).append(bool(refused))
    return out


def held_out_rows(args, chosen: str, settings: dict, plain: dict, steered: dict) -> tuple[list[dict], dict]:
    from bench.sae._steer_rows import figures, mcnemar

    layer = settings[chosen]["layer"]
    rows = [{"method": "none", "layer": None, "setting": None, **figures(plain, plain), "split": "heldout"},
            {"method": "sae-steering", "layer": layer, "setting": settings[chosen], **figures(steered, plain),
             "split": "heldout"}]
    before, after = _flags(args, args.held_out, "plain"), _flags(args, args.held_out, chosen)
    tests = {kind: mcnemar(before[kind], after[kind]) for kind in before if kind in after}
    return rows, tests


def main(argv: list[str] | None = None) -> dict:
    from bench.daco._results import update_results
    from bench.daco._steer_score import Limits
    from bench.sae._steer_rows import choose, figures

    args = parse_args(argv)
    started = time.perf_counter()
    settings = write_variants(args)
    if not settings:
        raise SystemExit(f"no (eta, gamma) labels any atom of {args.sae}; lower --etas")
    plain_val, candidates = validate(args, settings)
    chosen, feasible, table = choose(plain_val, candidates, Limits())
    print(f"chosen on validation: {chosen} (within limits: {feasible})", flush=True)
    plain = evaluate(args, args.held_out, "plain", None)
    steered = evaluate(args, args.held_out, chosen, args.work / "variants" / chosen)
    rows, tests = held_out_rows(args, chosen, settings, plain, steered)
    part = {"rows": rows, "chosen": chosen, "feasible": feasible, "limits": vars(Limits()),
            "validation": {"plain": figures(plain_val, plain_val),
                           **{name: {**settings[name], **row} for name, row in table.items()}},
            "paired_tests": tests, "sae": str(args.sae), "dictionary": str(args.dictionary),
            "settings": {k: str(v) if isinstance(v, Path | Split) else v for k, v in vars(args).items()},
            "seconds": round(time.perf_counter() - started, 1), "machine": machine_info()}
    write_json(args.work / "steer_select.json", part)
    update_results(args.results, {RESULTS_KEY: part})
    for row in rows:
        print(json.dumps(row, default=str), flush=True)
    print(f"wrote {args.work / 'steer_select.json'} and key {RESULTS_KEY!r} of {args.results}")
    return part


if __name__ == "__main__":
    main()
