#!/usr/bin/env bash
# Nightly tagging of whatever landed in an inbox; safe to run from cron every few minutes.
#   - --skip-existing: inputs whose output is already there (and newer) are not redone
#   - the lock in OUTBOX makes an overlapping run exit 5 at once instead of writing the same files
#   - outputs appear only when complete (temp file + rename), so downstream jobs never read half a file
# Exit codes: 0 ok, 3 bad input, 4 bad model directory, 5 another run holds the lock, 1 unexpected.
set -u
MLC="${MLC:-mlc}"
INBOX="${INBOX:-/srv/abstracts/inbox}"
OUTBOX="${OUTBOX:-/srv/abstracts/outbox}"
MODEL_DIR="${MLC_MODEL_DIR:-/srv/mlc/runs/arxiv}"

"$MLC" batch-predict "$INBOX" --model-dir "$MODEL_DIR" --out-dir "$OUTBOX" \
    --output-format parquet --skip-existing --quiet
status=$?
if [ "$status" -eq 5 ]; then
    echo "$(date -Is) previous run still busy; skipping this one" >&2
    exit 0
fi
exit "$status"
