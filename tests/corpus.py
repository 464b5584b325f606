"""A labelled corpus made up here, so that the core tests need nothing but the clone: ten invented subjects with
words of their own, as abstracts in the Keras example's schema or another, and large unlabelled inputs for the
load tests. The same seed gives the same files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SUBJECTS: dict[str, str] = {
    "astro.comets": "comet nucleus coma tail perihelion orbit dust sublimation ice telescope spectra jet outburst "
    "aphelion trajectory photometry albedo volatile oort cloud fragment",
    "bio.fungi": "fungus mycelium spore hyphae yeast mushroom lichen decay symbiosis root mould fermentation "
    "cell wall chitin pathogen colony sporulation genome enzyme",
    "chem.catalysis": "catalyst reaction yield ligand palladium oxidation reduction solvent kinetics surface "
    "activation selectivity enzyme turnover intermediate bond synthesis platinum zeolite",
    "cook.baking": "dough flour oven yeast crust bread butter sugar pastry loaf knead proof crumb bake "
    "temperature recipe cake glaze sourdough",
    "geo.glaciers": "glacier ice sheet moraine meltwater calving crevasse firn snowline retreat sea level "
    "bedrock erosion drumlin ablation accumulation fjord",
    "ling.phonology": "phoneme vowel consonant syllable stress tone prosody allophone articulation speech "
    "dialect segment onset coda accent vowel harmony",
    "music.harmony": "chord melody cadence scale interval counterpoint tonic dominant key modulation rhythm "
    "voice leading dissonance consonance triad fugue",
    "net.routing": "router packet latency bandwidth topology protocol congestion path link switch traffic "
    "throughput queue flow table prefix peering",
    "robo.grasping": "gripper grasp robot finger manipulation contact force tactile object pose arm "
    "trajectory planning friction sensor slip",
    "sport.rowing": "rowing boat oar stroke crew regatta coxswain sculling rower hull catch drive "
    "recovery ergometer river race",
}
LABELS = sorted(SUBJECTS)
# Subjects that often come together, as cs.LG comes with stat.ML.
NEIGHBOURS = {
    "bio.fungi": "cook.baking",
    "chem.catalysis": "bio.fungi",
    "robo.grasping": "net.routing",
    "ling.phonology": "music.harmony",
    "geo.glaciers": "astro.comets",
}
FILLER = (
    "we the a of in and to for with on this that is are our results show propose method study model data "
    "approach new using based analysis first two paper present find these from by as which can its"
).split()
OPENINGS = ["We study", "This paper presents", "We propose", "Here we report", "We show that", "In this work"]
ODD_TEXTS = ['a "quoted" phrase, with commas', "naïve café résumé — Ünïcödé", "第二 段落", "tab\tand semicolon;"]


def _words(label: str) -> list[str]:
    return SUBJECTS[label].split()


def _labels(rng: random.Random) -> list[str]:
    first = rng.choice(LABELS)
    labels = [first]
    if first in NEIGHBOURS and rng.random() < 0.5:
        labels.append(NEIGHBOURS[first])
    if rng.random() < 0.15:
        labels.append(rng.choice(LABELS))
    return sorted(set(labels))


def _sentence(rng: random.Random, labels: list[str]) -> str:
    words = []
    for _ in range(rng.randint(10, 20)):
        if rng.random() < 0.55:
            topic = rng.choice(labels) if rng.random() < 0.9 else rng.choice(LABELS)  # some noise from elsewhere
            words.append(rng.choice(_words(topic)))
        else:
            words.append(rng.choice(FILLER))
    return " ".join(words)


def labelled_rows(rows: int, seed: int = 0) -> list[dict[str, object]]:
    """`rows` distinct abstracts with their subjects; a few share a title, as in the example's data."""
    rng = random.Random(seed)
    made: list[dict[str, object]] = []
    seen: set[str] = set()
    while len(made) < rows:
        labels = _labels(rng)
        title = " ".join(rng.choice(_words(rng.choice(labels))) for _ in range(rng.randint(3, 7))).capitalize()
        if made and rng.random() < 0.02:
            title = str(made[-1]["title"])  # a repeated title: the example's preparation drops the second
        sentences = [_sentence(rng, labels) for _ in range(rng.randint(4, 8))]
        summary = f"{rng.choice(OPENINGS)} " + ". ".join(sentences) + "."
        if rng.random() < 0.05:
            summary = summary.replace(". ", ".\n", 1) + " " + rng.choice(ODD_TEXTS)  # multi-line, quotes, non-ASCII
        if rng.random() < 0.01:
            labels = [*labels, f"misc.once{len(made)}"]  # a label seen once: the example's preparation drops it
        if summary not in seen:
            seen.add(summary)
            made.append({"title": title, "summary": summary, "labels": labels})
    return made


def write_labelled_csv(path: Path, rows: int = 800, seed: int = 0) -> Path:
    """The Keras example's schema: `titles`, `summaries`, `terms` as a Python-literal list string."""
    import pandas as pd

    data = labelled_rows(rows, seed)
    frame = pd.DataFrame(
        {
            "titles": [r["title"] for r in data],
            "summaries": [r["summary"] for r in data],
            "terms": [repr(r["labels"]) for r in data],
        }
    )
    frame.to_csv(path, index=False)
    return path


def write_other_schema_jsonl(path: Path, rows: int = 600, seed: int = 1) -> Path:
    """Another schema: `id`, `title`, `abstract`, `categories` as a space-separated string."""
    with open(path, "w", encoding="utf-8") as out:
        for number, row in enumerate(labelled_rows(rows, seed)):
            record = {
                "id": f"doc-{number:05d}",
                "title": row["title"],
                "abstract": row["summary"],
                "categories": " ".join(row["labels"]),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def unlabelled_table(rows: int, seed: int = 0, first_id: int = 0) -> pa.Table:
    """`id`, `abstract`: distinct texts of 80-200 words drawn from every subject, built column-wise (fast at 1M)."""
    rng = np.random.default_rng(seed)
    vocabulary = pa.array(sorted({w for label in LABELS for w in _words(label)} | set(FILLER)))
    lengths = rng.integers(80, 201, rows)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    picks = pa.array(rng.integers(0, len(vocabulary), int(offsets[-1])))
    words = pa.LargeListArray.from_arrays(pa.array(offsets), vocabulary.take(picks))
    abstracts = pc.binary_join(words, " ")
    ids = pa.array([f"r{n:08d}" for n in range(first_id, first_id + rows)])
    return pa.table({"id": ids, "abstract": abstracts})


def write_unlabelled(path: Path, rows: int, seed: int = 0, chunk: int = 100_000) -> Path:
    """A large input for batch-predict and the queue, in the format its suffix names, written in chunks."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    writer = None
    with open(path, "wb") as sink:
        for start in range(0, rows, chunk):
            table = unlabelled_table(min(chunk, rows - start), seed + start, first_id=start)
            if suffix == ".parquet":
                writer = writer or pq.ParquetWriter(sink, table.schema)
                writer.write_table(table)
            elif suffix == ".csv":
                pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=start == 0))
            elif suffix == ".jsonl":
                for record in table.to_pylist():
                    sink.write((json.dumps(record) + "\n").encode())
            else:
                raise ValueError(f"unknown suffix {suffix}")
        if writer is not None:
            writer.close()
    return path
