"""Shared fixtures: a made-up labelled corpus and one model trained on it per session, the real data in
../shared/data when it is there, a CLI runner, a real redis-server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import corpus
from helpers import LABELLED_ROWS, OTHER_SCHEMA_ROWS, RedisServer, run_cli, skip_or_fail

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1: tests talk to loopback only
SHARED_DATA = Path(os.environ.get("MLC_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def _shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        reason = f"real data {name} not found in {SHARED_DATA} (a clone alone; set MLC_SHARED_DATA to run it)"
        skip_or_fail(reason)
    return path


@pytest.fixture(scope="session")
def shared_abstracts_csv() -> Path:
    """The real sample of the Keras example's arXiv data (800 rows, multi-line CSV fields)."""
    return _shared_file("arxiv_abstracts.csv")


@pytest.fixture(scope="session")
def shared_metadata_jsonl() -> Path:
    """Real arXiv metadata in another schema and label space (1500 rows)."""
    return _shared_file("arxiv_metadata.jsonl")


@pytest.fixture(scope="session")
def labelled_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """800 made-up abstracts in the Keras example's schema (tests/corpus.py)."""
    return corpus.write_labelled_csv(tmp_path_factory.mktemp("corpus") / "abstracts.csv", LABELLED_ROWS)


@pytest.fixture(scope="session")
def other_schema_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 made-up abstracts as `id`, `title`, `abstract`, `categories` (space-separated)."""
    return corpus.write_other_schema_jsonl(tmp_path_factory.mktemp("corpus") / "metadata.jsonl", OTHER_SCHEMA_ROWS)


def train_small(data: Path, target: Path, seed: int = 7) -> Path:
    """A model trained as `mlc train` does, with few epochs and thresholds tuned on the validation rows alone (no
    cross-fitted models): tests check behaviour, not quality; the defaults are trained in test_training."""
    import mlc

    mlc.train(data, target, epochs=4, seed=seed, threshold_folds=0)
    return target


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, labelled_csv: Path) -> Path:
    """One model per session, trained on the made-up abstracts."""
    return train_small(labelled_csv, tmp_path_factory.mktemp("models") / "abstracts")


@pytest.fixture(scope="session")
def second_model_dir(tmp_path_factory: pytest.TempPathFactory, labelled_csv: Path) -> Path:
    """Another model of the same data (another seed): what a nightly retrain deploys."""
    return train_small(labelled_csv, tmp_path_factory.mktemp("models") / "retrained", seed=8)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def make_corpus(tmp_path_factory: pytest.TempPathFactory):
    """`make_corpus(rows, suffix)`: a large unlabelled input (`id`, `abstract`) of distinct texts, made once."""
    made: dict[tuple[int, str], Path] = {}

    def build(rows: int, suffix: str = ".parquet") -> Path:
        if (rows, suffix) not in made:
            made[rows, suffix] = corpus.write_unlabelled(
                tmp_path_factory.mktemp("corpus") / f"corpus_{rows}{suffix}", rows
            )
        return made[rows, suffix]

    return build
