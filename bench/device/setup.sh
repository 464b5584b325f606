#!/bin/bash
# The device machine (no TensorFlow in its image, no network, 64 MiB per call) gets TensorFlow as pieces:
#   pip download --no-deps --python-version 3.12 ... tensorflow-cpu==2.21.0 (274 MB), unzip, drop
#   tensorflow/include (287 MB of C++ headers), tar | xz -6 (147 MB), split -n 3 -> $X/tf.tar.xz.part0{0,1,2},
#   one piece per call; plus the cp312 wheels of keras, typer (and pydantic), fasttext, mlc itself... in $X/whl.
# This unpacks them into $SITE (PYTHONPATH). BENCHMARKS.md, "Session 9", has the story.
set -euo pipefail
PY=${PY:-python3}; SITE=${SITE:-/tmp/site}; X=${X:-/tmp/x}
mkdir -p "$SITE"
t0=$(date +%s)
cat "$X"/tf.tar.xz.part* | "$PY" -c "import sys,tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode='r|xz').extractall(sys.argv[1], filter='tar')" "$SITE"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$X"/whl/*.whl 2>&1 | grep -v -i warning || true
echo "setup: $(( $(date +%s) - t0 )) s"
