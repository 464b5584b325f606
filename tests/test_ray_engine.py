"""`batch-predict --engine ray` on a local Ray instance (started and stopped by the fixture): the same rows as the
local engine in every format, the same bad-row behaviour, and a killed worker that costs nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlc.models.errors import InputError
from mlc.pipeline.batch_predict import PredictOptions, batch_predict
from mlc.pipeline.readers import read_table

ray = pytest.importorskip("ray", reason="pip install 'mlc[ray]' (CI installs it)")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    from mlc.pipeline.ray_engine import import_ray

    import_ray().init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def _as(table: pa.Table, path) -> str:
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        path.write_text("".join(__import__("json").dumps(r) + "\n" for r in table.to_pylist()))
    return str(path)


def _ray_rows(out_dir, stem: str, fmt: str) -> pa.Table:
    files = sorted(out_dir.glob(f"{stem}-*.{fmt}"))
    assert files, list(out_dir.iterdir())
    table = _typed(pa.concat_tables([read_table(f) for f in files], promote_options="permissive"))
    key = "row" if "row" in table.column_names else "id"
    return table.sort_by(key)


def _typed(table: pa.Table) -> pa.Table:
    """CSV reads back as text: the row number as an integer again, so both sides compare and sort alike."""
    if "row" in table.column_names and pa.types.is_string(table.schema.field("row").type):
        table = table.set_column(table.column_names.index("row"), "row", table.column("row").cast(pa.int64()))
    return table


def _local_rows(model_dir, source, target, options: PredictOptions | None = None) -> pa.Table:
    batch_predict([source], model_dir, output=str(target), options=options or PredictOptions())
    return _typed(read_table(target))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_same_rows_as_the_local_engine(ray_local, model_dir, labelled_csv, tmp_path, fmt):
    from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict

    source = _as(read_table(labelled_csv), tmp_path / f"abstracts.{fmt}")
    local = _local_rows(model_dir, source, tmp_path / f"local.{fmt}", PredictOptions(explain=2))
    options = PredictOptions(batch_size=256, output_format=fmt, explain=2)
    workers = 2 if fmt == "csv" else 1  # blocks over two actors once; each actor's start costs a core for seconds
    summary = ray_batch_predict([source], model_dir, tmp_path / "out", options, RayOptions(workers=workers))
    assert summary.rows == 800 and summary.bad_rows == 0
    _assert_same_rows(_ray_rows(tmp_path / "out", "abstracts", fmt), local)
    if fmt == "parquet":  # each block file names the model, as the local engine's file does
        from mlc.models.model import Model

        for block in (tmp_path / "out").glob("abstracts-*.parquet"):
            assert pq.read_schema(block).metadata[b"mlc.model_id"] == Model.load(model_dir).id.encode()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp folder, no lock


def _assert_same_rows(distributed: pa.Table, local: pa.Table) -> None:
    assert distributed.column_names == local.column_names
    assert distributed.column("row").to_pylist() == list(range(800))
    for name in local.column_names:
        if name.startswith("score_"):
            ours, theirs = (
                t.column(name).to_numpy(zero_copy_only=False).astype(np.float64) for t in (distributed, local)
            )
            np.testing.assert_allclose(ours, theirs, atol=1e-6)
        elif name == "why":  # the same terms; weights to float rounding (other batch shapes, other BLAS kernels)
            ours, theirs = ([_why(cell) for cell in t.column(name).to_pylist()] for t in (distributed, local))
            assert [[[term for term, _ in label] for label in row] for row in ours] == [
                [[term for term, _ in label] for label in row] for row in theirs
            ]
            flat = [np.array([w for row in side for label in row for _, w in label]) for side in (ours, theirs)]
            np.testing.assert_allclose(flat[0], flat[1], atol=2e-4)
        else:
            assert distributed.column(name).to_pylist() == local.column(name).to_pylist(), name


def _why(cell) -> list:
    """A `why` cell as (term, weight) pairs per label, from Parquet/JSONL lists or CSV's JSON text."""
    labels = json.loads(cell) if isinstance(cell, str) else cell
    return [[(t["term"], t["weight"]) for t in label] for label in labels]


def test_uri_input(ray_local, model_dir, labelled_csv, tmp_path):
    """An input given as a URI (file:// here; s3://, gs://, hdfs:// go through the same pyarrow filesystem layer)."""
    from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict

    source = _as(read_table(labelled_csv), tmp_path / "abstracts.parquet")
    local = _local_rows(model_dir, source, tmp_path / "local.parquet")
    ray_batch_predict(
        [(tmp_path / "abstracts.parquet").as_uri()], model_dir, tmp_path / "out", PredictOptions(), RayOptions()
    )
    assert (
        _ray_rows(tmp_path / "out", "abstracts", "parquet")
        .drop(["score_1", "score_2", "score_3"])
        .equals(local.drop(["score_1", "score_2", "score_3"]))
    )


def test_bad_rows_as_locally_and_strict_names_the_row(ray_local, model_dir, tmp_path):
    from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict

    source = tmp_path / "mixed.jsonl"
    source.write_text(
        '{"id": "a", "text": "Deep learning for images."}\n{"id": "b", "text": "  "}\n{"id": "c"}\n'
        '{"id": "d", "text": "Bayesian inference."}\n'
    )
    local = _local_rows(model_dir, str(source), tmp_path / "local.jsonl")
    summary = ray_batch_predict([str(source)], model_dir, tmp_path / "out", PredictOptions(), RayOptions())
    assert summary.bad_rows == 2
    distributed = _ray_rows(tmp_path / "out", "mixed", "jsonl")
    assert (
        distributed.column("error").to_pylist()
        == local.column("error").to_pylist()
        == [None, "empty text", "missing text", None]
    )
    with pytest.raises(InputError, match=r"mixed.jsonl: row 1: field 'text': empty text \(--strict\)"):
        ray_batch_predict([str(source)], model_dir, tmp_path / "strict", PredictOptions(strict=True), RayOptions())
    assert not list((tmp_path / "strict").glob("mixed-*"))


def test_killed_worker_is_replaced_and_nothing_is_lost(ray_local, model_dir, make_corpus, tmp_path):
    from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict

    # 30k rows: the first actor is killed as soon as its process shows, while it starts or tags its first batches,
    # long before the rows run out.
    source = str(make_corpus(30_000))
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["summary"] = ray_batch_predict(
                [source], model_dir, tmp_path / "out", PredictOptions(batch_size=2048), RayOptions(workers=2)
            )
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    earlier = set(_tagging_actor_pids())  # actors of earlier tests' datasets may still be exiting
    thread = threading.Thread(target=run)
    thread.start()
    victim = None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        workers = [pid for pid in _tagging_actor_pids() if pid not in earlier]
        if workers:  # killed whenever it is: starting or tagging, nothing may be lost
            try:
                os.kill(workers[0], signal.SIGKILL)
                victim = workers[0]
            except ProcessLookupError:
                earlier.add(workers[0])
        time.sleep(0.05)
    thread.join(timeout=600)
    assert victim is not None, "no tagging actor seen"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["summary"].rows == 30_000
    rows = _ray_rows(tmp_path / "out", "corpus_30000", "parquet")
    assert rows.num_rows == 30_000 and rows.column("id").to_pylist() == sorted(set(rows.column("id").to_pylist()))


def _tagging_actor_pids() -> list[int]:
    """PIDs of the tagging actors, by the process title Ray gives them (ray::MapWorker(MapBatches(TagActor)))."""
    pids = []
    for proc in os.listdir("/proc"):
        if proc.isdigit():
            try:
                with open(f"/proc/{proc}/cmdline", "rb") as handle:
                    if b"MapBatches(TagActor)" in handle.read():
                        pids.append(int(proc))
            except OSError:
                continue
    return sorted(pids)


def test_cli_engine_ray_end_to_end(cli, model_dir, labelled_csv, tmp_path):
    """The real command: starts its own local Ray, writes block files, says what it did, leaves no temp."""
    result = cli(
        "batch-predict",
        labelled_csv,
        "--model-dir",
        model_dir,
        "--out-dir",
        tmp_path / "out",
        "--engine",
        "ray",
        "--workers",
        "1",
        "--output-format",
        "parquet",
    )
    assert result.code == 0, result.stderr
    assert "800 rows" in result.stderr and "Traceback" not in result.stderr
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / "out").glob("abstracts-*.parquet")) == 800
    refused = cli(
        "batch-predict", labelled_csv, "--model-dir", model_dir, "-o", tmp_path / "x.parquet", "--engine", "ray"
    )
    assert refused.code == 2 and "--out-dir" in refused.stderr


def test_without_ray_installed_says_how_to_get_it(model_dir, labelled_csv, tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['mlc', 'batch-predict', sys.argv[1], "
        "'--model-dir', sys.argv[2],"
        " '--out-dir', sys.argv[3], '--engine', 'ray']; from mlc.cli.app import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(labelled_csv), str(model_dir), str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'mlc[ray]'" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def ray_head(tmp_path):
    """A real `ray start --head` on loopback with token authentication on: its token in a private home, its files
    in a temp dir of its own (so no later `ray.init()` finds it), stopped by signalling its process group only."""
    import shutil
    import signal
    import socket
    import tempfile

    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))
    }  # an in-process Ray sets some
    env = {**clean, "HOME": str(home), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # the latter: Ray on 127.0.0.1
    subprocess.run([ray_cli, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=120)
    temp_dir = tempfile.mkdtemp(prefix="mlc-ray-")  # short: Ray's socket paths must fit in 107 characters
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--temp-dir",
            temp_dir,
        ],
        env={**env, "RAY_AUTH_MODE": "token"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (Path(temp_dir) / "ray_current_cluster").exists():
            assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", env
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # Ray's orderly shutdown takes half a minute; nothing here needs it
        head.wait(timeout=30)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_joins_a_cluster_with_token_authentication(ray_head, model_dir, labelled_csv, tmp_path):
    """With the token, the rows are the local engine's; without it, one line and exit 6, no Ray log on stderr."""
    address, env = ray_head
    command = [
        sys.executable,
        "-m",
        "mlc.cli.app",
        "batch-predict",
        str(labelled_csv),
        "--model-dir",
        str(model_dir),
        "--out-dir",
        str(tmp_path / "out"),
        "--engine",
        "ray",
        "--ray-address",
        address,
        "--quiet",
    ]
    # Ray tries to join 20 times a second apart whatever the error; its own setting makes this refusal one try
    refused = subprocess.run(
        command, env={**env, "RAY_gcs_server_port_wait_time_s": "1"}, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 6 and len(lines) == 1, refused.stderr
    assert (
        lines[0].startswith("mlc: error: cannot join the Ray cluster at " + address)
        and "RAY_AUTH_MODE=token" in lines[0]
    )

    joined = subprocess.run(command, env={**env, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True, timeout=600)
    assert joined.returncode == 0, joined.stderr
    assert [line for line in joined.stderr.splitlines() if line.strip()][-1].startswith("1 file(s)")  # no Ray lines
    local = _local_rows(model_dir, str(labelled_csv), tmp_path / "local.csv")
    _assert_same_rows(_ray_rows(tmp_path / "out", "abstracts", "csv"), local)


@pytest.mark.redis
def test_every_engine_finds_the_same_bad_rows_and_refuses_the_same_files(
    ray_local, redis_server, model_dir, tmp_path, cli
):
    """One set of hostile inputs through the local engine, Ray and the queue: one rule for bad text, sizes and
    columns, so the same rows are bad for the same reasons and the same files fail with the same message."""
    from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict
    from mlc.pipeline.readers import MAX_RECORD_BYTES

    from helpers import RESULTS, STREAM, consumer, finish

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    texts = {"good": "Deep learning for images.", "number": 42, "empty": "  ", "missing": None, "flag": True}
    (inbox / "rows.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    huge = "x " * (MAX_RECORD_BYTES // 2 + 10)
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["fine", huge]}), inbox / "oversized.parquet")
    pq.write_table(pa.table({"id": ["a"], "text": pa.array([b"bytes"], pa.binary())}), inbox / "binary.parquet")
    failures: dict[str, list[str]] = {"local": [], "ray": []}
    options = PredictOptions(output_format="parquet")
    batch_predict(
        [str(inbox)], model_dir, out_dir=tmp_path / "local", options=options, on_failure=failures["local"].append
    )
    ray_batch_predict(
        [str(inbox)], model_dir, tmp_path / "ray", options, RayOptions(), on_failure=failures["ray"].append
    )
    assert failures["local"] == failures["ray"] and len(failures["local"]) == 2
    assert "binary.parquet: column 'text' holds binary, not text" in failures["local"][0]
    assert "oversized.parquet: row 1: field 'text' is longer than 64 MB" in failures["local"][1]
    local = pq.read_table(tmp_path / "local" / "rows.parquet")
    reasons = dict(zip(local.column("id").to_pylist(), local.column("error").to_pylist()))
    assert reasons == {
        "good": None, "number": "text is a number", "empty": "empty text", "missing": "missing text",
        "flag": "text is a boolean",
    }  # fmt: skip
    distributed = _ray_rows(tmp_path / "ray", "rows", "parquet")
    assert dict(zip(distributed.column("id").to_pylist(), distributed.column("error").to_pylist())) == reasons
    # The queue: enqueue sends only rows with text, counting the others by the same reasons; the files that fail
    # above fail there with the same line; a message that arrives with blank text is dead for the same reason.
    sent = cli("enqueue", inbox / "rows.jsonl", "--redis-url", redis_server.url, "--stream", STREAM, "-q")
    assert sent.code == 0 and "4 rows without text skipped" in sent.stderr
    for reason in ("empty text: 1", "missing text: 1", "text is a number: 1", "text is a boolean: 1"):
        assert reason in sent.stderr
    for name, message in zip(("binary.parquet", "oversized.parquet"), failures["local"]):
        refused = cli("enqueue", inbox / name, "--redis-url", redis_server.url, "--stream", STREAM, "-q")
        assert refused.code == 3 and message in refused.stderr
    client = redis_server.client()
    client.xadd(STREAM, {"text": "  ", "id": "blank"})
    finish(consumer(redis_server, model_dir, "--drain"))
    assert [fields["id"] for _, fields in client.xrange(RESULTS)] == ["good"]
    assert [fields["reason"] for _, fields in client.xrange(f"{STREAM}:dead")] == ["field 'text': empty text"]


def test_a_signal_ray_swallowed_publishes_nothing(model_dir, labelled_csv, tmp_path):
    """A Ctrl-C dropped where Python only prints it: the Ray engine ends 130 before its block files get their names,
    as the local engine does."""
    from helpers import run_with_a_swallowed_signal

    out = tmp_path / "out"
    done = run_with_a_swallowed_signal(
        signal.SIGINT, "batch-predict", labelled_csv, "--model-dir", model_dir, "--out-dir", out, "--engine", "ray",
        "--workers", "1",
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert not out.exists() or not list(out.iterdir())
