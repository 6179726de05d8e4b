"""Report section of a concept dictionary folder (`curate build-dictionary --out`)."""

from __future__ import annotations

from pathlib import Path

from curate.io import read_json, read_table
from curate.report.html import Section, details, esc, grid, key_values, note, table
from curate.report.plots import image_file

__all__ = ["dictionary_section"]

CONCEPT_COLUMNS = ("concept_id", "name", "label", "group", "gloss", "n_pos", "n_neg", "synset", "harm_score",
                   "harm_category", "merged")
MANIFEST = ("model", "n_concepts", "layers", "dim", "vocabulary", "dropped_no_stimuli", "merged", "labels",
            "retrieval_model", "pool", "pool_size", "index", "unique_stimuli", "timings_s")
LABEL_ORDER = {"undesirable": 0, "desirable": 1, "neutral": 2}
STIMULI_CONCEPTS = 60
"""Concepts whose stimuli are listed (undesirable first, then desirable, then neutral)."""
STIMULI_PER_ROLE = 8


def _ranked(concepts: list[dict]) -> list[dict]:
    """Undesirable, then desirable, then neutral concepts, each in dictionary order."""
    return sorted(concepts, key=lambda c: LABEL_ORDER.get(str(c.get("label")), 3))


def _stimuli_by_concept(folder: Path, concept_ids: list) -> dict:
    """{concept_id: {"pos": [text], "neg": [text]}} for the given concepts, closest (lowest score) first."""
    path = folder / "stimuli.parquet"
    if not path.is_file() or not concept_ids:
        return {}
    import pyarrow as pa
    import pyarrow.compute as pc

    stimuli = read_table(path, what="the stimuli.parquet of `curate build-dictionary --out`")
    ids = stimuli.column("concept_id")
    wanted = stimuli.filter(pc.is_in(ids, value_set=pa.array(concept_ids, ids.type)))
    found: dict = {}
    for row in sorted(wanted.to_pylist(), key=lambda r: r.get("score") or 0.0):
        entry = found.setdefault(row["concept_id"], {"pos": [], "neg": []})
        role = "pos" if row.get("role") == "pos" else "neg"
        if len(entry[role]) < STIMULI_PER_ROLE:
            entry[role].append(row.get("text") or row.get("stimulus_id"))
    return found


def _stimuli_block(concepts: list[dict], stimuli: dict) -> str:
    blocks = []
    for concept in concepts:
        entry = stimuli.get(concept["concept_id"])
        if not entry:
            continue
        lists = "".join(f"<div><b>{role}</b><ol>" + "".join(f"<li>{esc(t)}</li>" for t in entry[key]) + "</ol></div>"
                        for key, role in (("pos", "positives"), ("neg", "negatives")))
        label = str(concept.get("label"))
        title = f"{concept.get('name')} ({label}) — {len(entry['pos'])} positives, {len(entry['neg'])} negatives"
        body = (f'<p class="label-{esc(label)}">{esc(concept.get("gloss") or "")}</p>'
                f'<div class="stimuli">{lists}</div>')
        blocks.append(details(title, body))
    return "".join(blocks)


def dictionary_section(folder: Path, max_rows: int, section_id: str = "dictionary") -> Section:
    """Manifest figures, the dictionary picture, a searchable concept table, and stimuli per concept."""
    folder = Path(folder)
    manifest = read_json(folder / "manifest.json", what="the manifest.json of `curate build-dictionary --out`")
    concepts = read_table(folder / "concepts.parquet", what="the concepts.parquet of `curate build-dictionary --out`")
    rows = concepts.to_pylist()
    columns = [c for c in CONCEPT_COLUMNS if c in concepts.column_names]
    ranked = _ranked(rows)
    shown = ranked[:max_rows]
    picture = image_file(folder / "dictionary.png", "concept directions, first two principal components")
    parts = [grid(key_values({k: manifest[k] for k in MANIFEST if k in manifest}),
                  picture or note("No dictionary.png in this folder."))]
    parts += ["<h3>Concepts</h3>",
              note("Undesirable concepts first, then desirable, then neutral; type to filter, click a header to sort."),
              table(columns, [[r.get(c) for c in columns] for r in shown], table_id=f"{section_id}-concepts",
                    searchable=True, total=len(rows))]
    listed = ranked[:STIMULI_CONCEPTS]
    stimuli = _stimuli_by_concept(folder, [c["concept_id"] for c in listed])
    if stimuli:
        parts += [f"<h3>Stimuli of the first {len(listed)} concepts</h3>",
                  note("The retrieved texts whose activations define each direction (positives minus negatives)."),
                  f'<div class="scroll">{_stimuli_block(listed, stimuli)}</div>']
    return Section("dictionary", f"Concept dictionary: {folder.name}", "".join(parts), str(folder))
