"""The Redis Streams queue: `enqueue` pushes file rows as messages, `consume` tags them with a consumer group and
commits each batch in one transaction (`COMMIT`), so every message is tagged at least once and its result stored
once: nothing is acknowledged before its result is stored."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa

from mlc.models.errors import InputError, MlcError, NetworkError
from mlc.models.model import Model
from mlc.pipeline.columns import ID_CANDIDATES, optional_column, text_columns, text_with_faults
from mlc.pipeline.file_plan import expand_inputs
from mlc.pipeline.model_reload import ModelWatcher
from mlc.pipeline.output_schema import OutputSchema
from mlc.pipeline.readers import TYPED_VALUES, ReadOptions, detect_format, read_batches
from mlc.pipeline.run_report import LabelCounts, share_line

# One batch's commit: one MULTI/EXEC holding one Lua call that, per message, runs XACK and, only when that XACK
# acknowledged something, XADDs the result (or the dead letter). Nothing is stored without its ack or acked
# without its result, so a crash leaves the message pending, to be reclaimed (XAUTOCLAIM) and tagged again; when
# two workers hold the same message (one slow, one that reclaimed it) only the first commit counts, and a commit
# retried after a lost reply adds nothing.
COMMIT = """
-- KEYS: input stream, results stream, dead stream. ARGV: group, then per message: entry id, 'r' or 'd', n, n fields.
local results, dead, done = 0, 0, 0
local i = 2
while i <= #ARGV do
  local id, kind, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    local fields = {}
    for j = i + 3, i + 2 + n do fields[#fields + 1] = ARGV[j] end
    if kind == 'r' then
      redis.call('XADD', KEYS[2], '*', unpack(fields))
      results = results + 1
    else
      redis.call('XADD', KEYS[3], '*', unpack(fields))
      dead = dead + 1
    end
  else
    done = done + 1
  end
  i = i + 3 + n
end
return {results, dead, done}
"""


class QueueError(NetworkError):
    """The queue cannot be used (unreachable at start, wrong URL, not a stream)."""


def transient_errors() -> tuple[type[BaseException], ...]:
    """The Redis errors that mean "not reachable right now": waited out, never fatal, once the worker runs."""
    import redis

    return (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def redis_response_error() -> type[BaseException]:
    """Redis's answer that a command failed (NOGROUP, WRONGTYPE, ...), as opposed to no answer at all."""
    import redis

    return redis.ResponseError


def redact(url: str) -> str:
    """The URL without its password, for every message a user or a log may see."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def connect(url: str) -> Any:
    """A client for `url`, checked with a PING; one-line error naming the (redacted) URL otherwise."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)
        client.ping()
    except (ValueError, redis.RedisError) as error:
        raise QueueError(
            f"{redact(url)}: cannot reach Redis ({error.__class__.__name__}: {_first_line(error)})"
        ) from error
    return client


# ----------------------------------------------------------------------------------------------------- enqueue
@dataclass
class EnqueueSummary:
    messages: int = 0
    skipped: Counter = field(default_factory=Counter)  # rows not sent, by reason (batch-predict's bad rows)
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


def enqueue(
    inputs: Sequence[str],
    url: str,
    stream: str,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    text_field: str = "text",
    input_format: str | None = None,
    chunk: int = 1000,
    on_rows: Callable[[int], None] = lambda n: None,
) -> EnqueueSummary:
    """XADD every row with text as a message: `text_field`, `id` (if the file has one) and the other columns.

    Files stream through in reader batches, so a file that turns out malformed midway has its earlier rows
    already queued; the error says how many, so the rest can be sent on its own."""
    client = connect(url)
    summary = EnqueueSummary()
    started = time.perf_counter()
    for source in expand_inputs(inputs):
        summary.files.append(source)
        before = summary.messages
        typed_values = detect_format(source, input_format) in TYPED_VALUES
        try:
            for batch in read_batches(source, ReadOptions(input_format=input_format)):
                _enqueue_batch(
                    client,
                    url,
                    stream,
                    batch,
                    source,
                    summary,
                    (text_column, id_column, text_field),
                    typed_values,
                    chunk,
                    on_rows,
                )
        except MlcError as error:
            sent = summary.messages - before
            if not sent:
                raise
            raise type(error)(f"{error.message} ({sent} earlier rows of {source} are already enqueued)") from error
    summary.seconds = time.perf_counter() - started
    return summary


def _enqueue_batch(
    client: Any,
    url: str,
    stream: str,
    batch: pa.RecordBatch,
    source: str,
    summary: EnqueueSummary,
    fields_wanted: tuple[str | None, str | None, str],
    typed_values: bool,
    chunk: int,
    on_rows: Callable[[int], None],
) -> None:
    text_column, id_column, text_field = fields_wanted
    names = batch.schema.names
    text_cols = text_columns(names, text_column, source=source)
    id_name = optional_column(names, id_column, ID_CANDIDATES, source=source)
    if id_column and id_name is None:
        raise InputError(f"{source}: no id column '{id_column}' (columns found: {', '.join(names)})")
    rename = {**({id_name: "id"} if id_name else {})}
    # other columns pass through under their own names, except the text column(s) (their text is the text field)
    # and one that would shadow the text or id field
    passed = [n for n in names if n in rename or (n not in text_cols and n not in (text_field, "id"))]
    fields = {rename.get(n, n): _as_strings(batch.column(n)) for n in passed}
    text, bad, reasons = text_with_faults(batch, text_cols, source, typed_values=typed_values)
    fields[text_field] = text.to_pylist()
    if bad.any():  # rows batch-predict calls bad are not sent: no text to tag
        summary.skipped.update(reasons.filter(pa.array(bad)).to_pylist())
    pipe, pending = client.pipeline(transaction=False), 0
    for row in range(batch.num_rows):
        if bad[row]:
            continue
        message = {name: values[row] for name, values in fields.items() if values[row] is not None}
        pipe.xadd(stream, message)
        pending += 1
        if pending == chunk:
            _execute(pipe, url)
            on_rows(pending)
            summary.messages += pending
            pipe, pending = client.pipeline(transaction=False), 0
    if pending:
        _execute(pipe, url)
        on_rows(pending)
        summary.messages += pending


def _as_strings(column: pa.Array) -> list[str | None]:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        try:
            column = column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
    return column.to_pylist()


def _execute(pipe: Any, url: str) -> list[Any]:
    import redis

    try:
        return pipe.execute()
    except redis.RedisError as error:
        raise QueueError(f"{redact(url)}: {error.__class__.__name__}: {_first_line(error)}") from error


# ----------------------------------------------------------------------------------------------------- consume
@dataclass(frozen=True)
class ConsumeOptions:
    stream: str = "mlc:abstracts"
    group: str = "taggers"
    consumer: str = ""
    results_stream: str = "mlc:tags"
    text_field: str = "text"
    batch_size: int = 512
    max_wait_ms: int = 1000
    claim_idle_ms: int = 60_000
    claim_interval: float = 30.0
    max_deliveries: int = 5
    drain: bool = False
    max_messages: int | None = None
    top_k: int = 3
    threshold: float | None = None
    log_interval: float = 10.0
    explain: int = 0  # terms per top label in a `why` field (0: none)
    backend: str | None = (
        None  # what scores the texts (`mlc.models.scorer.BACKENDS`); None: MLC_BACKEND, else TensorFlow
    )
    reload_interval: float = 10.0  # seconds between checks of the model path for a new model

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}:dead"

    @property
    def consumer_name(self) -> str:
        return self.consumer or f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ConsumeSummary:
    results: int = 0
    dead: int = 0
    duplicates: int = 0  # commits that found the message already acknowledged (another worker won)
    claimed: int = 0  # messages taken over from consumers that held them longer than claim-idle-ms
    reconnects: int = 0
    seconds: float = 0.0

    @property
    def messages_per_second(self) -> float:
        return (self.results + self.dead) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Message:
    entry_id: str
    fields: dict[str, str]
    deliveries: int = 1
    not_utf8: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, entry_id: Any, raw: dict[Any, Any], deliveries: int = 1) -> Message:
        """Fields as text; a value that is not UTF-8 is kept with replacement characters and noted in `not_utf8`."""
        fields: dict[str, str] = {}
        broken: list[str] = []
        for key, value in raw.items():
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    value = value.decode("utf-8", "replace")
                    broken.append(name)
            fields[name] = str(value)
        return cls(_text(entry_id), fields, deliveries, broken)


class _Stop:
    """SIGTERM/SIGINT set a flag; the batch in hand is finished and committed before the loop ends. SIGHUP asks
    `on_hangup` (a model reload) instead."""

    def __init__(self, on_hangup: Callable[[], None] = lambda: None) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._on_hangup = on_hangup

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        self._previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda signum, frame: self._on_hangup())
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def consume(
    url: str,
    model_dir: Path,
    options: ConsumeOptions,
    *,
    log: Callable[[str], None] = lambda line: None,
) -> ConsumeSummary:
    """Tag messages until stopped (signal, --drain with nothing left, --max-messages); return the counts."""
    model = Model.load(model_dir, options.backend)
    model.prepare(options.top_k, options.threshold, options.explain)  # bad options fail before Redis is used
    client = connect(url)
    worker = _Worker(client, url, model, options, log)
    watcher = ModelWatcher(model_dir, model, worker.warm, options.reload_interval, log)
    summary = worker.summary
    started = time.perf_counter()
    last_claim = 0.0
    last_log = time.monotonic()
    with _Stop(on_hangup=watcher.request) as stop:
        worker.ensure_group()
        while not stop.requested:
            new_model = watcher.poll()
            if new_model is not None:
                worker.use(new_model)
            if options.max_messages is not None and summary.results + summary.dead >= options.max_messages:
                break
            try:
                room = options.batch_size
                if options.max_messages is not None:
                    room = min(room, options.max_messages - summary.results - summary.dead)
                batch: list[Message] = []
                if time.monotonic() - last_claim >= options.claim_interval or options.drain:
                    batch = worker.claim(room)
                    last_claim = time.monotonic()
                if not batch:
                    batch = worker.read(room, stop)
                if batch:
                    worker.process(batch)
                elif options.drain and worker.pending() == 0:
                    break
            except transient_errors() as error:
                worker.wait_for_redis(error, stop)
            except redis_response_error() as error:
                worker.answer(error)
            if time.monotonic() - last_log >= options.log_interval:
                last_log = time.monotonic()
                log(worker.status_line(time.perf_counter() - started))
                if worker.counts.tagged:
                    log(share_line(worker.counts, worker.model.labels, worker.model.metadata.label_shares))
    summary.seconds = time.perf_counter() - started
    return summary


class _Worker:
    def __init__(
        self, client: Any, url: str, model: Model, options: ConsumeOptions, log: Callable[[str], None]
    ) -> None:
        self.client, self.url, self.model, self.options, self.log = client, url, model, options, log
        self.name = options.consumer_name
        self.commit = client.register_script(COMMIT)
        self.schema = OutputSchema(model, options.top_k, options.explain)
        self.counts = LabelCounts(len(model.labels))  # label shares since this model started serving
        self.summary = ConsumeSummary()
        self.own_pending_first = True  # at start and after each outage: see `own_pending`

    def warm(self, model: Model) -> None:
        """Compile a model's batch function and run it once, so that switching to it costs no batch anything."""
        model.predict_batch(["warm up"], self.options.top_k, self.options.threshold, self.options.explain)

    def use(self, model: Model) -> None:
        """Serve the next batch with `model` (already warm); the previous one is dropped and freed."""
        self.model = model
        self.schema = OutputSchema(model, self.options.top_k, self.options.explain)
        self.counts = LabelCounts(len(model.labels))

    def ensure_group(self) -> None:
        import redis

        try:
            self.client.xgroup_create(self.options.stream, self.options.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise QueueError(f"{redact(self.url)}: stream '{self.options.stream}': {_first_line(error)}") from error

    def answer(self, error: BaseException) -> None:
        """A consumer group that vanished (XGROUP DESTROY, or a Redis restarted without persistence) is made again
        from the stream's start, so every message not yet tagged is delivered: nothing is lost, and some may be
        tagged twice. Any other refusal stops the worker with one line."""
        if "NOGROUP" not in str(error):
            raise QueueError(f"{redact(self.url)}: stream '{self.options.stream}': {_first_line(error)}") from error
        self.ensure_group()
        self.log(
            f"consumer group '{self.options.group}' of '{self.options.stream}' was gone; made it again from the "
            "stream's start: messages tagged before may be tagged again"
        )

    def read(self, room: int, stop: _Stop) -> list[Message]:
        """New messages: block up to max-wait-ms for the first, then top the batch up until full or out of time.
        This consumer's own pending entries come first, until none is left."""
        if self.own_pending_first:
            own = self.own_pending(room)
            if own:
                return own
            self.own_pending_first = False
        deadline = time.monotonic() + self.options.max_wait_ms / 1000
        messages: list[Message] = []
        while len(messages) < room and not stop.requested:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 and messages:
                break
            reply = self.client.xreadgroup(
                self.options.group,
                self.name,
                {self.options.stream: ">"},
                count=room - len(messages),
                block=max(left_ms, 1),
            )
            got = [Message.parse(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries]
            if not got:
                break
            messages += got
        return messages

    def own_pending(self, room: int) -> list[Message]:
        """Entries delivered to this consumer and never acknowledged: a reply lost in a Redis outage, or a previous
        run under this consumer name that was killed. Read again at once (XREADGROUP from id 0), where another
        consumer would claim them only after claim-idle-ms."""
        reply = self.client.xreadgroup(self.options.group, self.name, {self.options.stream: "0"}, count=room)
        return self._pending_messages([entry for _, entries in reply or [] for entry in entries])

    def claim(self, room: int) -> list[Message]:
        """Entries idle longer than claim-idle-ms in other consumers' hands (they died), with their delivery counts."""
        reply = self.client.xautoclaim(
            self.options.stream, self.options.group, self.name, self.options.claim_idle_ms, start_id="0-0", count=room
        )
        messages = self._pending_messages(reply[1] if reply else [])
        if messages:
            self.summary.claimed += len(messages)
            self.log(
                f"claimed {len(messages)} message(s) idle over {self.options.claim_idle_ms} ms in other consumers' "
                "hands"
            )
        return messages

    def _pending_messages(self, pending: list) -> list[Message]:
        """Pending (entry id, fields) pairs as messages with their delivery counts; entries trimmed from the stream
        while pending (no fields: XADD takes at least one) are acknowledged, with nothing to tag."""
        entries = [(entry_id, fields) for entry_id, fields in pending if fields]
        deleted = [entry_id for entry_id, fields in pending if not fields]
        if deleted:
            self.client.xack(self.options.stream, self.options.group, *deleted)
        if not entries:
            return []
        ids = [_text(entry_id) for entry_id, _ in entries]
        counts = {
            _text(p["message_id"]): int(p["times_delivered"])
            for p in self.client.xpending_range(
                self.options.stream,
                self.options.group,
                min=ids[0],
                max=ids[-1],
                count=len(ids) * 2 + 10,
                consumername=self.name,
            )
        }
        return [Message.parse(i, fields, counts.get(i, 1)) for i, (_, fields) in zip(ids, entries)]

    def pending(self) -> int:
        return int(self.client.xpending(self.options.stream, self.options.group)["pending"])

    def process(self, batch: list[Message]) -> None:
        """Tag the batch, then commit results and dead letters in one transaction (retried until Redis takes it)."""
        dead: list[tuple[Message, str]] = []
        good: list[Message] = []
        field_name = self.options.text_field
        texts = pa.RecordBatch.from_pydict({field_name: [m.fields.get(field_name) for m in batch]})
        _, bad, reasons = text_with_faults(texts, [field_name], self.options.stream)  # batch-predict's bad rows
        for message, is_bad, reason in zip(batch, bad.tolist(), reasons.to_pylist()):
            if message.deliveries > self.options.max_deliveries:
                dead.append((message, f"delivered {message.deliveries} times (max {self.options.max_deliveries})"))
            elif field_name in message.not_utf8:
                dead.append((message, f"field '{field_name}': not valid UTF-8"))
            elif is_bad:
                dead.append((message, f"field '{field_name}': {reason}"))
            else:
                good.append(message)
        results = self._tag(good) if good else []
        while True:
            try:
                self._commit(results, dead)
                return
            except transient_errors() as error:  # keep the batch in hand; the commit is safe to repeat
                self.wait_for_redis(error, None)

    def _tag(self, messages: list[Message]) -> list[tuple[Message, list[str]]]:
        texts = [m.fields[self.options.text_field] for m in messages]
        predictions = self.model.predict_batch(texts, self.options.top_k, self.options.threshold, self.options.explain)
        self.counts.add(predictions, np.zeros(len(texts), bool), pa.array([None] * len(texts), pa.string()))
        skip = (self.options.text_field, "id")
        out = []
        for message, result in zip(messages, self.schema.message_fields(predictions)):
            fields = [x for kv in message.fields.items() if kv[0] not in skip for x in kv]
            fields += ["id", message.fields.get("id", message.entry_id), "source", message.entry_id, *result]
            out.append((message, fields))
        return out

    def _commit(self, results: list[tuple[Message, list[str]]], dead: list[tuple[Message, str]]) -> None:
        args: list[str] = [self.options.group]
        for message, flat in results:
            args += [message.entry_id, "r", str(len(flat)), *flat]
        for message, reason in dead:
            fields = {
                **message.fields,
                "source": message.entry_id,
                "reason": reason,
                "deliveries": str(message.deliveries),
            }
            flat = [x for kv in fields.items() for x in kv]
            args += [message.entry_id, "d", str(len(flat)), *flat]
        pipe = self.client.pipeline(transaction=True)
        self.commit(
            keys=[self.options.stream, self.options.results_stream, self.options.dead_stream], args=args, client=pipe
        )
        ((stored_results, stored_dead, already_done),) = pipe.execute()
        self.summary.results += int(stored_results)
        self.summary.dead += int(stored_dead)
        self.summary.duplicates += int(already_done)
        for message, reason in dead:
            self.log(f"dead-lettered {message.entry_id} to {self.options.dead_stream}: {reason}")

    def wait_for_redis(self, error: Exception, stop: _Stop | None) -> None:
        """Back off (0.2 s doubling to 5 s) until Redis answers; one log line per attempt, never a crash."""
        delay = 0.2
        self.summary.reconnects += 1
        while True:
            self.log(
                f"redis unavailable at {redact(self.url)} ({error.__class__.__name__}: {_first_line(error)}); "
                f"retrying in {delay:.1f}s"
            )
            time.sleep(delay)
            try:
                self.client.ping()
                self.ensure_group()
                self.own_pending_first = True  # a reply lost in the outage left entries pending in our name
                return
            except transient_errors() as again:
                error = again
                delay = min(delay * 2, 5.0)
                if stop is not None and stop.requested:
                    return

    def status_line(self, seconds: float) -> str:
        s = self.summary
        try:
            pending = self.pending()
        except Exception:  # a status line never stops the worker
            pending = -1
        rate = (s.results + s.dead) / seconds if seconds > 0 else 0.0
        counts = f"{s.results} tagged, {s.dead} dead-lettered, {rate:,.0f} messages/s"
        return f"{counts}, {pending} pending in group '{self.options.group}'"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:300]
