"""Baseline: what the Keras example does at inference, for the benchmark to compare against.

pandas reads the whole file, `model.predict` runs the dense end-to-end model (TextVectorization tf_idf ->
MLP), top-3 labels are picked in Python, pandas writes Parquet.

    python bench/example_way.py INPUT.parquet MODEL_DIR OUTPUT.parquet [--text-column abstract]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("input", type=Path)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--text-column", default="abstract")
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args()

    import keras

    import mlc.models.tf_backend.keras_layers  # noqa: F401  registers mlc>TfIdfScaling (models trained with mlc's defaults hold it)

    frame = pd.read_parquet(args.input)
    model = keras.saving.load_model(args.model_dir / "model.keras", safe_mode=True)
    labels = json.loads((args.model_dir / "labels.json").read_text())
    probabilities = model.predict(
        np.asarray(frame[args.text_column].tolist(), dtype=object), batch_size=args.batch_size, verbose=0
    )
    rows = []
    for scores in probabilities:
        top = sorted(range(len(labels)), key=lambda i: -scores[i])[:3]
        rows.append(
            {f"label_{k + 1}": labels[i] for k, i in enumerate(top)}
            | {f"score_{k + 1}": float(scores[i]) for k, i in enumerate(top)}
        )
    out = pd.DataFrame(rows)
    out.insert(0, "id", frame["id"].values)
    out.to_parquet(args.output, index=False)


if __name__ == "__main__":
    main()
