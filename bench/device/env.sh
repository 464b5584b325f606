# Sourced by run.sh and run2.sh: the settings both runs share, and the shared data copied to the work folder.
set -uo pipefail
export PYTHONUNBUFFERED=1 KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=1
PY=${PY:-python3}; SITE=${SITE:-/tmp/site}; W=${W:-/tmp/w}; OUT=${OUT:-/tmp/out}; ROWS=${ROWS:-1000000}
export PYTHONPATH=$SITE
mkdir -p "$W" "$OUT"
M="$PY bench/device/measure.py"
D=$W/shared/data
mkdir -p "$W/shared" && cp -r "${SHARED:-../shared}"/* "$W/shared/"
