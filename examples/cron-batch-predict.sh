#!/usr/bin/env bash
# Nightly tagging of whatever landed in an inbox; safe to run from cron every few minutes.
#   - --skip-existing: inputs whose output is already there (and newer) are not redone, and an input that failed
#     is not retried until it changes; one bad upload never stops the others (they are tagged, the run exits 3)
#   - the lock in OUTBOX makes an overlapping run exit 5 at once instead of writing the same files
#   - outputs appear only when complete (temp file + rename), so downstream jobs never read half a file
#   - `timeout` may stop a long run: SIGTERM removes the temp file and the lock (exit 143)
#   - --report keeps tonight's figures (rows, bad rows, speed, model id, label shares against the training data);
#     --fail-on-drift exits 8 when a label's share moved far from it, after every output is written, so cron mails
# Exit codes: 0 ok, 3 some input could not be tagged, 4 bad model directory, 5 another run holds the lock,
# 8 label shares drifted, 143 stopped by SIGTERM, 1 unexpected.
set -u
MLC="${MLC:-mlc}"
INBOX="${INBOX:-/srv/abstracts/inbox}"
OUTBOX="${OUTBOX:-/srv/abstracts/outbox}"
MODEL_DIR="${MLC_MODEL_DIR:-/srv/mlc/runs/arxiv}"
mkdir -p "$OUTBOX/reports"

timeout "${MLC_TIMEOUT:-50m}" "$MLC" batch-predict "$INBOX" --model-dir "$MODEL_DIR" --out-dir "$OUTBOX" \
    --output-format parquet --skip-existing --quiet \
    --report "$OUTBOX/reports/$(date +%Y-%m-%dT%H%M).json" --fail-on-drift
status=$?
if [ "$status" -eq 5 ]; then
    echo "$(date -Is) previous run still busy; skipping this one" >&2
    exit 0
fi
exit "$status"
