"""`mlc enqueue` / `mlc consume` against a real redis-server: counts, identities, scores, crashes, restarts."""

from __future__ import annotations

import json
import signal
import time

import pyarrow.parquet as pq
import pytest

from helpers import (
    RESULTS,
    STREAM,
    assert_exactly_once,
    assert_one_line_error,
    consumer,
    enqueue,
    finish,
    results,
    wait_for,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_results_match_batch_predict(redis_server, model_dir, labelled_csv, cli, tmp_path):
    n = enqueue(cli, redis_server, labelled_csv)
    assert n == 800
    finish(consumer(redis_server, model_dir, "--drain", "--batch-size", "128", "--explain", "3"))
    assert_exactly_once(redis_server, n)
    out = tmp_path / "out.parquet"
    assert cli("batch-predict", labelled_csv, "-m", model_dir, "-o", out, "--quiet", "--explain", "3").code == 0
    expected = pq.read_table(out).to_pylist()
    model_id = pq.read_schema(out).metadata[b"mlc.model_id"].decode()
    order = {entry_id: row for row, (entry_id, _) in enumerate(redis_server.client().xrange(STREAM))}
    for result in results(redis_server):
        want = expected[order[result["source"]]]
        top = json.loads(result["top_k"])
        assert [t["label"] for t in top] == [want["label_1"], want["label_2"], want["label_3"]]
        assert [t["score"] for t in top] == pytest.approx([want["score_1"], want["score_2"], want["score_3"]], abs=2e-6)
        assert json.loads(result["labels"]) == list(want["labels"])
        why = [[(t["term"], t["weight"]) for t in label] for label in json.loads(result["why"])]
        assert [[term for term, _ in label] for label in why] == [[t["term"] for t in label] for label in want["why"]]
        assert [w for label in why for _, w in label] == pytest.approx(
            [t["weight"] for label in want["why"] for t in label], abs=2e-4
        )
        assert result["id"] == result["source"]  # no id field: the entry id stands in
        assert result["model_id"] == model_id
        assert result["terms"] and result["titles"]  # other fields pass through


def test_two_consumers_share_the_work(redis_server, model_dir, labelled_csv, cli):
    n = enqueue(cli, redis_server, labelled_csv, times=3)
    procs = [consumer(redis_server, model_dir, "--drain", "--batch-size", "8", "--consumer", f"c{i}") for i in range(2)]
    logs = [finish(p) for p in procs]
    assert_exactly_once(redis_server, n)
    tagged = [int(log.split("done: ")[1].split(" tagged")[0]) for log in logs]
    assert sum(tagged) == n and min(tagged) > 0, tagged


def test_kill_9_mid_batch_loses_nothing(redis_server, model_dir, labelled_csv, cli):
    n = enqueue(cli, redis_server, labelled_csv, times=3)
    victim = consumer(redis_server, model_dir, "--batch-size", "64", "--consumer", "victim")
    wait_for(lambda: redis_server.client().xlen(RESULTS) > 0)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert redis_server.client().xlen(RESULTS) < n
    finish(consumer(redis_server, model_dir, "--drain", "--claim-idle-ms", "100", "--claim-interval", "0"))
    assert_exactly_once(redis_server, n)


def test_a_consumer_restarted_under_its_name_finishes_its_own_work_at_once(redis_server, model_dir, labelled_csv, cli):
    """A consumer that died with a batch in hand (its read here stands alone: 64 entries read under its name and
    never acknowledged), started again under the same name, reads its pending entries back first (XREADGROUP from
    0), with no claim-idle-ms to wait out; other consumers' claim would still wait the 10 minutes set here."""
    n = enqueue(cli, redis_server, labelled_csv, times=3)
    client = redis_server.client()
    client.xgroup_create(STREAM, "taggers", id="0")
    client.xreadgroup("taggers", "worker-1", {STREAM: ">"}, count=64)
    assert client.xpending(STREAM, "taggers")["pending"] == 64
    again = consumer(redis_server, model_dir, "--consumer", "worker-1", "--drain", "--claim-idle-ms", "600000")
    finish(again, timeout=120)
    assert_exactly_once(redis_server, n)


def test_poison_messages_go_to_the_dead_stream(redis_server, model_dir):
    client = redis_server.client()
    client.xadd(STREAM, {"text": "Deep networks for image segmentation.", "id": "good"})
    client.xadd(STREAM, {"title": "no text field", "id": "no-text"})
    client.xadd(STREAM, {"text": "   ", "id": "blank"})
    raw = __import__("redis").Redis.from_url(redis_server.url)
    raw.xadd(STREAM, {b"text": b"\xff\xfe not utf-8", b"id": b"bytes"})
    client.xadd(STREAM, {"text": "A message that keeps crashing its workers.", "id": "retried"})
    raw.xgroup_create(STREAM, "taggers", id="0")
    ((_, entries),) = raw.xreadgroup("taggers", "ghost", {STREAM: ">"})
    retried = entries[-1][0]
    raw.xack(STREAM, "taggers", *[e for e, _ in entries[:-1]])  # leave only 'retried' pending, as if redelivered
    raw.xclaim(STREAM, "taggers", "ghost", 0, [retried], retrycount=9)
    for _, fields in entries[:-1]:  # put the others back as new work
        raw.xadd(STREAM, fields)
    finish(consumer(redis_server, model_dir, "--drain", "--max-deliveries", "3", "--claim-idle-ms", "0"))
    lenient = __import__("redis").Redis.from_url(redis_server.url, decode_responses=True, encoding_errors="replace")
    dead = {fields["id"]: fields["reason"] for _, fields in lenient.xrange(f"{STREAM}:dead")}
    assert set(dead) == {"no-text", "blank", "bytes", "retried"}
    assert dead["no-text"] == "field 'text': missing text" and dead["blank"] == "field 'text': empty text"
    assert dead["bytes"] == "field 'text': not valid UTF-8" and "delivered 10 times" in dead["retried"]
    assert [r["id"] for r in results(redis_server)] == ["good"]
    assert client.xpending(STREAM, "taggers")["pending"] == 0


def test_redis_restart_mid_run(redis_server, model_dir, labelled_csv, cli):
    n = enqueue(cli, redis_server, labelled_csv, times=3)
    proc = consumer(redis_server, model_dir, "--drain", "--batch-size", "16")
    wait_for(lambda: redis_server.client().xlen(RESULTS) > 0)
    redis_server.stop()
    time.sleep(1.5)
    redis_server.start()
    log = finish(proc)
    assert "redis unavailable" in log
    assert_exactly_once(redis_server, n)


def test_sigterm_finishes_the_batch_in_hand(redis_server, model_dir, labelled_csv, cli):
    enqueue(cli, redis_server, labelled_csv)
    proc = consumer(redis_server, model_dir, "--batch-size", "32")
    wait_for(lambda: redis_server.client().xlen(RESULTS) > 0)
    proc.send_signal(signal.SIGTERM)
    finish(proc, timeout=60)
    client = redis_server.client()
    assert client.xpending(STREAM, "taggers")["pending"] == 0
    assert len({r["source"] for r in results(redis_server)}) == client.xlen(RESULTS)


def test_queue_errors_are_one_line(redis_server, model_dir, labelled_csv, cli, tmp_path):
    hidden = "redis://:s3cret@127.0.0.1:1/0"
    result = cli("enqueue", labelled_csv, "--redis-url", hidden)
    assert_one_line_error(result, 6, "cannot reach Redis", "127.0.0.1:1")
    assert "s3cret" not in result.stderr
    result = cli("enqueue", labelled_csv, "--redis-url", redis_server.url, "--text-column", "nope")
    assert_one_line_error(result, 3, "nope")
    assert redis_server.client().xlen(STREAM) == 0


def test_enqueue_error_midway_says_how_much_was_sent(redis_server, labelled_csv, cli, tmp_path):
    """Files stream in 8 MiB blocks: a bad line after the first block fails with its line number and the count
    of rows already queued, and that count is exactly what the stream holds."""
    from mlc.pipeline.readers import read_table

    texts = read_table(labelled_csv).column("summaries").to_pylist()
    lines = [json.dumps({"abstract": t, "text": "shadowed", "n": i}) for i, t in enumerate(texts * 30)]
    source = tmp_path / "big.jsonl"
    source.write_text("\n".join(lines) + "\n{not json\n")
    result = cli("enqueue", source, "--redis-url", redis_server.url, "--stream", STREAM)
    assert_one_line_error(result, 3, str(source), f"line {len(lines) + 1}", "already enqueued")
    sent = int(result.stderr.split("(")[-1].split(" earlier rows")[0])
    client = redis_server.client()
    assert 0 < sent < len(lines) and client.xlen(STREAM) == sent
    _, first = client.xrange(STREAM, count=1)[0]
    assert first["text"] == texts[0] and first["n"] == "0"  # the chosen text column wins over a 'text' column


def test_a_flipped_symlink_switches_the_model_between_batches(
    redis_server, model_dir, second_model_dir, labelled_csv, cli, tmp_path
):
    """200 messages on the first model, the symlink flipped (and SIGHUP), 200 on the second, then a broken model
    flipped in: refused once while tagging goes on. Every message tagged once, by the model live when its batch
    ran."""
    import os
    import shutil
    import threading

    import pyarrow.parquet as pq

    from mlc.models.model import Model
    from mlc.pipeline.readers import read_table

    first, second = Model.load(model_dir).id, Model.load(second_model_dir).id
    assert first != second
    table = read_table(labelled_csv)
    parts = []
    for name, start, stop in (("a", 0, 200), ("b", 200, 400), ("c", 400, 450)):
        pq.write_table(table.slice(start, stop - start), tmp_path / f"{name}.parquet")
        parts.append(tmp_path / f"{name}.parquet")
    current = tmp_path / "current"
    current.symlink_to(model_dir)

    def flip(target) -> None:  # `ln -sfn target current`: a new link renamed over the old one
        (tmp_path / "next").symlink_to(target)
        os.replace(tmp_path / "next", current)

    # no timed checks in this run: each flip is followed by SIGHUP, which asks for the check at once
    worker = consumer(redis_server, current, "--batch-size", "20", "--reload-interval", "3600", "--max-messages", "450")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in worker.stderr), daemon=True)
    reader.start()
    tagged = redis_server.client()
    enqueue(cli, redis_server, parts[0])
    wait_for(lambda: tagged.xlen(RESULTS) == 200)
    flip(second_model_dir)
    worker.send_signal(signal.SIGHUP)
    wait_for(lambda: any(f"model {first} -> {second}" in line for line in lines))
    enqueue(cli, redis_server, parts[1])
    wait_for(lambda: tagged.xlen(RESULTS) == 400)
    broken = tmp_path / "broken"
    shutil.copytree(second_model_dir, broken)
    (broken / "model.keras").write_bytes(b"PK\x03\x04 not a model")
    metadata = json.loads((broken / "metadata.json").read_text())
    (broken / "metadata.json").write_text(json.dumps({**metadata, "model_id": "0123456789ab"}))
    flip(broken)
    worker.send_signal(signal.SIGHUP)
    wait_for(lambda: any("not loaded" in line for line in lines))
    enqueue(cli, redis_server, parts[2])
    assert worker.wait(timeout=240) == 0
    reader.join(timeout=10)
    assert_exactly_once(redis_server, 450)
    ids = [r["model_id"] for r in results(redis_server)]
    assert ids == [first] * 200 + [second] * 250
    assert sum("not loaded" in line for line in lines) == 1, lines
    assert any("label shares over" in line and "(training" in line for line in lines)  # every --log-interval
    assert "0123456789ab" not in ids


def test_a_consumer_group_that_vanishes_is_made_again_and_nothing_is_lost(redis_server, model_dir, labelled_csv, cli):
    n = enqueue(cli, redis_server, labelled_csv, times=4)
    proc = consumer(redis_server, model_dir, "--drain", "--batch-size", "64")
    client = redis_server.client()
    wait_for(lambda: client.xlen(RESULTS) >= 256)
    client.xgroup_destroy(STREAM, "taggers")  # as an operator's XGROUP DESTROY, or a restart without persistence
    log = finish(proc)
    assert log.count("was gone; made it again") == 1, log
    tagged = {r["source"] for r in results(redis_server)}
    assert tagged == {entry_id for entry_id, _ in client.xrange(STREAM)} and len(tagged) == n  # at least once
    assert client.xpending(STREAM, "taggers")["pending"] == 0
    assert "unexpected error" not in log
