#!/usr/bin/env bash
# Producer / consumer walk-through on a throwaway redis-server (needs redis-server and redis-cli, and a trained
# model in runs/arxiv: `make demo` makes one).
#   bash examples/queue-walkthrough.sh
set -euo pipefail
MLC="${MLC:-.venv/bin/mlc}"
MODEL_DIR="${MLC_MODEL_DIR:-runs/arxiv}"
PORT="${PORT:-6399}"
URL="redis://127.0.0.1:$PORT/0"
WORK="$(mktemp -d)"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --save '' --appendonly yes --daemonize yes >/dev/null
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
sleep 0.5

# 1. a producer pushes abstracts (any file batch-predict reads; here our own examples)
"$MLC" enqueue examples/abstracts.jsonl --redis-url "$URL" --stream mlc:abstracts

# 2. a poison message: no text field; it will go to mlc:abstracts:dead with a reason
redis-cli -p "$PORT" XADD mlc:abstracts '*' id broken-1 title "no text here" >/dev/null

# 3. a long-running worker (as under systemd) is stopped with SIGTERM: it commits its batch and exits 0
"$MLC" consume --redis-url "$URL" --model-dir "$MODEL_DIR" --group taggers --consumer worker-1 &
WORKER=$!
sleep 8
kill -TERM "$WORKER"; wait "$WORKER"

# 4. a model deployed under a running worker: the worker follows the symlink `current`; flipping it (as a
#    nightly retrain would) makes it load the new model beside the old and switch between batches, logging
#    `model <old> -> <new>`; SIGHUP asks for the check at once. Every result names its model in `model_id`.
ln -sfn "$(cd "$MODEL_DIR" && pwd)" "$WORK/current"
"$MLC" consume --redis-url "$URL" --model-dir "$WORK/current" --group taggers --consumer worker-2 \
    --reload-interval 1 &
WORKER=$!
sleep 8
cp -r "$MODEL_DIR" "$WORK/retrained"   # stands in for tonight's retrain
python3 - "$WORK/retrained/metadata.json" <<'PY'
import json, sys
path = sys.argv[1]; meta = json.load(open(path)); meta["model_id"] = "retrained000"   # a copy needs its own id
json.dump(meta, open(path, "w"))
PY
ln -sfn "$WORK/retrained" "$WORK/current.next" && mv -T "$WORK/current.next" "$WORK/current"
kill -HUP "$WORKER"; sleep 5
"$MLC" enqueue examples/abstracts.jsonl --redis-url "$URL" --stream mlc:abstracts --quiet
sleep 4
kill -TERM "$WORKER"; wait "$WORKER"

# 5. cron style: drain whatever is left and exit
"$MLC" consume --redis-url "$URL" --model-dir "$MODEL_DIR" --group taggers --drain

# 6. the results (each with the model_id that made it) and the dead letters
echo "--- results (mlc:tags)"
redis-cli -p "$PORT" XRANGE mlc:tags - + COUNT 2
echo "--- dead letters (mlc:abstracts:dead)"
redis-cli -p "$PORT" XRANGE mlc:abstracts:dead - +
echo "--- pending in group taggers (0 means every message has its result or dead letter)"
redis-cli -p "$PORT" XPENDING mlc:abstracts taggers
