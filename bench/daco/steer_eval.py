"""Steering evaluation of a DACO dictionary against the refusal-direction peer (issue 17 items 2-3).

Every method's setting (layers, k, strength and undesirable set for DACO; layer and α for the direction, added or
projected) is chosen on a validation split of harmful prompts, the over-refusal set and benign reference answers
(bench/daco/_steer_data.py), by the rule in bench/daco/_steer_score.py (highest DSR with over-refusal at most
+5 points over plain, degenerate at most 5% and benign NLL at most +2%). The chosen settings and plain are then
run once on the held-out split: harmful-prompts heldout (DSR), over-refusal heldout, benign-qa heldout (NLL),
with the three verdicts of the shipped judge, Wilson intervals, and paired tests (McNemar on refusals, paired
bootstrap on NLL) of DACO against the peer and of each against plain.

    .venv/bin/python -m bench.daco.steer_eval --dictionary runs/daco/dict-15k --work runs/daco/steer \\
        --estimate-only                  # measured seconds per generation batch and the run's estimate, then stop
    .venv/bin/python -m bench.daco.steer_eval --dictionary runs/daco/dict-15k --work runs/daco/steer

Outcomes are cached per arm and split under --work (a stopped run resumes). Writes WORK/steer_eval.json and the
keys steering (held-out rows {method, layer, setting, dsr, dsr_ci, or, or_ci, degenerate, nll_delta, n}),
steering_tests, steering_validation and steering_run of bench/results/daco.json (other keys are kept).
Budget flags: --val-harmful/--val-benign/--val-nll, --test-*, --max-settings, --max-new-tokens, the grids.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json
from bench.daco._steer_arms import (
    Arm,
    cap_grid,
    daco_arms,
    direction_arms,
    parse_floats,
    parse_layer_groups,
    plain_arm,
)
from bench.daco._steer_data import Split, SteerData, load_steer_data
from bench.daco._steer_score import GenerationOptions, Limits, evaluate_arm, paired_tests, select, summarise

__all__ = ["SteerEvalConfig", "run"]

METHODS = ("daco", "direction-add", "direction-project")
HELP = {
    "dictionary": "build-dictionary folder to steer with",
    "work": "folder of the cached directions and per-arm outcomes (a rerun resumes)",
    "results": "shared results file; keys steering* are replaced, the others kept",
    "model": "causal LM the dictionary was built on (registry name or folder)",
    "daco_layers": "DACO layer groups, ';' between groups, e.g. 15;20;10,15,20 (default: each dictionary layer)",
    "k": "OMP atoms per token, comma-separated grid",
    "strength": "DACO strengths s (s < 0 amplifies the undesirable part), grid",
    "sets": "undesirable sets: all, seed (WordNet seed trees), topN (highest harm score)",
    "direction_layers": "refusal-direction layers, each alone (default: the DACO layers)",
    "alpha": "refusal-direction multiples α added, grid",
    "modes": "refusal-direction modes: add, project or both",
    "max_settings": "at most this many settings per method, a seeded subset of its grid (time budget)",
    "fit_prompts": "harmful and harmless train prompts each for the difference of means",
    "val_harmful": "validation harmful prompts (harmful-prompts train, disjoint from the fit prompts)",
    "val_benign": "validation over-refusal prompts (over-refusal train)",
    "val_nll": "validation benign reference answers (benign-qa train)",
    "test_harmful": "held-out harmful prompts (default: all 318 of harmful-prompts heldout)",
    "test_benign": "held-out over-refusal prompts (default: all 211 of over-refusal heldout)",
    "test_nll": "held-out benign reference answers (benign-qa heldout)",
    "max_new_tokens": "greedy answer length",
    "batch_size": "prompts per generation / NLL batch",
    "max_length": "token budget of a prompt + reference answer for the NLL",
    "system": "system message of every prompt (default: the template's own)",
    "seed": "seed of the data draw and of --max-settings",
    "device": "auto, cpu, cuda or cuda:N",
}


@dataclass(frozen=True)
class SteerEvalConfig:
    dictionary: Path
    work: Path
    results: Path | None = RESULTS / "daco.json"
    model: str = "smollm2-135m"
    daco_layers: str | None = None  # layer groups "15;20;10,15,20"; default: each dictionary layer alone
    k: str = "8,16"
    strength: str = "-2,-1,1"
    sets: str = "all,top100"
    direction_layers: str | None = None  # "10,15,20" (each alone); default: the DACO layers
    alpha: str = "1,2,4"
    modes: str = "add,project"
    max_settings: int | None = None  # at most this many settings per method (a seeded subset of the grid)
    fit_prompts: int = 128
    val_harmful: int = 100
    val_benign: int = 100
    val_nll: int = 100
    test_harmful: int | None = None  # None: all 318 heldout harmful prompts
    test_benign: int | None = None  # None: all 211 heldout over-refusal prompts
    test_nll: int | None = 300
    max_new_tokens: int = 48
    batch_size: int = 16
    max_length: int = 256
    system: str | None = None
    seed: int = 0
    device: str = "auto"
    estimate_only: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        from curate.errors import ConfigError

        for name in ("fit_prompts", "val_harmful", "val_benign", "val_nll", "max_new_tokens", "batch_size",
                     "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        for name in ("test_harmful", "test_benign", "test_nll", "max_settings"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1 (or omit)")
        bad = sorted(set(self.modes.split(",")) - {"add", "project"})
        if bad:
            raise ConfigError(f"--modes {self.modes}: {bad} unknown; use add, project or add,project")
        parse_floats(self.k, "--k"), parse_floats(self.strength, "--strength"), parse_floats(self.alpha, "--alpha")

    @property
    def options(self) -> GenerationOptions:
        return GenerationOptions(self.max_new_tokens, self.batch_size, self.max_length, self.system, self.progress)


def _check_work(config: SteerEvalConfig, data: SteerData) -> None:
    """The cached outcomes in --work belong to one dictionary, model, data draw and answer length: a rerun with
    other inputs must not mix with them."""
    import hashlib

    from curate.errors import ConfigError
    from curate.io import atomic_write_text

    folder = Path(config.dictionary)
    atoms = folder / "dictionary.safetensors"
    key = {"dictionary": str(folder.resolve()), "atoms_bytes": atoms.stat().st_size if atoms.exists() else None,
           "labels": hashlib.sha256((folder / "concepts.parquet").read_bytes()).hexdigest()[:16],
           "model": config.model, "seed": config.seed, "max_new_tokens": config.max_new_tokens,
           "max_length": config.max_length, "system": config.system,
           "prompts": hashlib.sha256(json.dumps([data.fit_harmful, data.fit_harmless, data.val.harmful.ids,
                                                 data.val.benign.ids, data.val.nll.ids, data.test.harmful.ids,
                                                 data.test.benign.ids, data.test.nll.ids]).encode()).hexdigest()[:16]}
    path = config.work / "inputs.json"
    if path.is_file() and json.loads(path.read_text()) != key:
        raise ConfigError(f"--work {config.work}: holds outcomes of other inputs ({path}); give a fresh --work "
                          "or delete that folder")
    atomic_write_text(path, json.dumps(key, indent=2) + "\n")


def _directions(config: SteerEvalConfig, model, tokenizer, data: SteerData, layers: list[int]) -> dict:
    """{layer: r_L} from the fit prompts, cached in WORK/direction-L<layer>/."""
    from concepts.refusal_direction import difference_of_means, load_direction, save_direction

    out = {}
    for layer in layers:
        folder = config.work / f"direction-L{layer}"
        if not (folder / "direction.json").is_file():
            r = difference_of_means(model, tokenizer, data.fit_harmful, data.fit_harmless, layer, config.batch_size)
            save_direction(folder, r, layer, {"fit_harmful": len(data.fit_harmful),
                                              "fit_harmless": len(data.fit_harmless), "seed": config.seed})
        out[layer] = load_direction(folder).direction
    return out


def _arms(config: SteerEvalConfig, dictionary, directions: dict) -> list[Arm]:
    groups = (parse_layer_groups(config.daco_layers, "--daco-layers") if config.daco_layers
              else [[L] for L in dictionary.layers])
    daco = daco_arms(dictionary, groups, parse_floats(config.k, "--k"), parse_floats(config.strength, "--strength"),
                     [s.strip() for s in config.sets.split(",") if s.strip()])
    peer = direction_arms(directions, parse_floats(config.alpha, "--alpha"), config.modes.split(","))
    return [plain_arm()] + cap_grid(daco + peer, config.max_settings, config.seed)


def _direction_layers(config: SteerEvalConfig, dictionary) -> list[int]:
    if config.direction_layers:
        return [int(v) for v in config.direction_layers.split(",")]
    groups = parse_layer_groups(config.daco_layers, "--daco-layers") if config.daco_layers else [dictionary.layers]
    return sorted({L for g in groups for L in g})


def _batch_seconds(model, tokenizer, arm: Arm, split: Split, options: GenerationOptions) -> dict:
    """Seconds of one generation batch and one NLL batch of `arm` (the first batch of the validation sets)."""
    from curate.lm.generation import generate
    from curate.lm.likelihood import response_nll

    controller, n = arm.make(), options.batch_size
    started = time.perf_counter()
    generate(model, tokenizer, split.harmful.prompts[:n], controller=controller, system=options.system,
             max_new_tokens=options.max_new_tokens, batch_size=n, progress=False)
    middle = time.perf_counter()
    response_nll(model, tokenizer, split.nll.prompts[:n], split.nll.responses[:n], controller=controller,
                 batch_size=n, max_length=options.max_length, system=options.system)
    return {"generate": round(middle - started, 3), "nll": round(time.perf_counter() - middle, 3)}


def _arm_seconds(split: Split, batch: dict, size: int) -> float:
    batches = math.ceil(len(split.harmful) / size) + math.ceil(len(split.benign) / size)
    return batches * batch["generate"] + math.ceil(len(split.nll) / size) * batch["nll"]


def _estimate(config, model, tokenizer, arms: list[Arm], data: SteerData) -> dict:
    """Measured batch times of plain and of the first arm of each method, and the run's estimated seconds."""
    kinds = {"plain": arms[0], **{a.method: a for a in reversed(arms) if a.method != "plain"}}
    batch = {m: _batch_seconds(model, tokenizer, arm, data.val, config.options) for m, arm in kinds.items()}
    for method, seconds in batch.items():
        print(f"[steer-eval] {method}: {seconds['generate']:.2f} s per generation batch of {config.batch_size} "
              f"({config.max_new_tokens} new tokens), {seconds['nll']:.2f} s per NLL batch", flush=True)
    todo = [a for a in arms if not (config.work / "val" / f"{a.name}.json").is_file()]
    val = sum(_arm_seconds(data.val, batch[a.method], config.batch_size) for a in todo)
    test = sum(_arm_seconds(data.test, batch[m], config.batch_size) for m in batch)
    print(f"[steer-eval] estimate: validation {len(todo)} of {len(arms)} arms not cached ~{val / 60:.0f} min, "
          f"held-out {len(batch)} arms ~{test / 60:.0f} min, total ~{(val + test) / 3600:.2f} h", flush=True)
    return {"batch_seconds": batch, "estimate_seconds": {"validation": round(val), "test": round(test)}}


def _validate(config, model, tokenizer, judge, arms: list[Arm], data: SteerData) -> tuple[list[dict], dict]:
    """Rows of every arm on validation, and {method: (arm, row, rule)} of the chosen settings."""
    outcomes = {a.name: evaluate_arm(model, tokenizer, judge, a, data.val, config.options,
                                     config.work / "val" / f"{a.name}.json") for a in arms}
    plain = summarise(arms[0], outcomes[arms[0].name], outcomes[arms[0].name], "val")
    rows, chosen = [plain], {}
    for method in METHODS:
        candidates = [(a, summarise(a, outcomes[a.name], outcomes[arms[0].name], "val"))
                      for a in arms if a.method == method]
        if not candidates:
            continue
        row, rule = select([r for _, r in candidates], plain, Limits())
        arm = next(a for a, r in candidates if r is row)
        for a, r in candidates:
            rows.append({**r, "chosen": a is arm})
        chosen[method] = (arm, rule)
    return rows, chosen


def _test(config, model, tokenizer, judge, arms: list[Arm], chosen: dict, data: SteerData) -> tuple[list, list]:
    """Held-out rows of plain and each chosen setting, and the paired tests between them."""
    picked = [arms[0]] + [arm for arm, _ in chosen.values()]
    outcomes = {a.method: evaluate_arm(model, tokenizer, judge, a, data.test, config.options,
                                       config.work / "test" / f"{a.name}.json") for a in picked}
    rows = [{**summarise(a, outcomes[a.method], outcomes["plain"], "test"),
             "chosen_on_validation": chosen[a.method][1] if a.method in chosen else None} for a in picked]
    pairs = [("direction-add", "daco"), ("direction-project", "daco")] + [("plain", m) for m in chosen]
    tests = [paired_tests(a, outcomes[a], b, outcomes[b]) for a, b in pairs if a in outcomes and b in outcomes]
    return rows, tests


def _print_rows(rows: list[dict]) -> None:
    print(f"{'method':18s} {'layer':9s} {'setting':34s} {'DSR':>6s} {'OR':>6s} {'degen':>6s} {'NLL%':>7s}")
    for r in rows:
        print(f"{r['method']:18s} {r['layer']:9s} {json.dumps(r['setting']):34s} {r['dsr']:6.3f} {r['or']:6.3f} "
              f"{r['degenerate']:6.3f} {r['nll_delta']:+7.2f}")


def run(config: SteerEvalConfig, *, model=None, tokenizer=None, judge=None, data: SteerData | None = None) -> dict:
    """The whole evaluation; the keyword arguments replace the registry model, judge and data (tests)."""
    from concepts import load_dictionary

    started = time.perf_counter()
    dictionary = load_dictionary(config.dictionary)
    config.work.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = load_steer_data(config.fit_prompts, config.val_harmful, config.val_benign, config.val_nll,
                               config.test_harmful, config.test_benign, config.test_nll, config.seed)
    _check_work(config, data)
    if model is None:
        from curate.device import resolve_device
        from curate.models import load_causal_lm

        tokenizer, model = load_causal_lm(config.model, device=resolve_device(config.device))
    print(f"[steer-eval] data and model ready ({time.perf_counter() - started:.0f} s)", flush=True)
    directions = _directions(config, model, tokenizer, data, _direction_layers(config, dictionary))
    arms = _arms(config, dictionary, directions)
    print(f"[steer-eval] refusal directions at layers {sorted(directions)} ready, {len(arms)} arms "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    report = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), **machine_info(),
              "config": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()},
              "sizes": {"fit": [len(data.fit_harmful), len(data.fit_harmless)],
                        **{s: {k: len(getattr(getattr(data, s), k)) for k in ("harmful", "benign", "nll")}
                           for s in ("val", "test")}}, "arms": len(arms)}
    report.update(_estimate(config, model, tokenizer, arms, data))
    if config.estimate_only:
        return report
    if judge is None:
        from curate.evaluation.judges.artefact import default_judge

        judge = default_judge()
    report["validation"], chosen = _validate(config, model, tokenizer, judge, arms, data)
    report["test"], report["tests"] = _test(config, model, tokenizer, judge, arms, chosen, data)
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json(config.work / "steer_eval.json", report)
    if config.results is not None:
        from bench.daco._results import update_results

        update_results(config.results, {"steering": report["test"], "steering_tests": report["tests"],
                                        "steering_validation": report["validation"],
                                        "steering_run": {k: report[k] for k in ("started", "machine", "config", "sizes",
                                                                                 "batch_seconds", "seconds")}})
    _print_rows(report["test"])
    return report


def _parser():
    parser = make_parser(__doc__)
    for f in dataclasses.fields(SteerEvalConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool",):
            continue
        kind = {"int": int, "int | None": int, "Path": Path, "Path | None": Path}.get(f.type, str)
        default = f.default
        shown = "required" if default is dataclasses.MISSING else f"default: {default}"
        parser.add_argument(flag, type=kind, default=default, required=default is dataclasses.MISSING,
                            help=f"{HELP[f.name]} ({shown})")
    parser.add_argument("--estimate-only", action="store_true", help="print batch times and the estimate, stop")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("--no-results", action="store_true", help="leave bench/results/daco.json alone")
    return parser


def main() -> None:
    args = vars(_parser().parse_args())
    if args.pop("no_results"):
        args["results"] = None
    run(SteerEvalConfig(**args))


if __name__ == "__main__":
    main()
