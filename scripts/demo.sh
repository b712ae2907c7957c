#!/usr/bin/env bash
# Builds the package and runs the main job through the CLI: a handler under
# the recommended (wall-clock, CPU-time) monitors, then a runaway handler
# that the CPU-time monitor ends while the host carries on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cli=.venv/bin/hyperlight-js

echo '$ hyperlight-js run examples/handlers/greet.js '"'"'{"name": "world"}'"'"' --wall-clock 1s --cpu-time 100ms'
$cli run examples/handlers/greet.js '{"name": "world"}' --wall-clock 1s --cpu-time 100ms

echo
echo '$ hyperlight-js run examples/handlers/runaway.js --wall-clock 5s --cpu-time 200ms'
status=0
$cli run examples/handlers/runaway.js --wall-clock 5s --cpu-time 200ms || status=$?
if [ "$status" -ne 3 ]; then
    echo "demo: expected the CPU-time limit to end the runaway handler (exit 3), got exit $status" >&2
    exit 1
fi
echo "(exit status $status: the CPU-time monitor ended the handler; the host is fine)"
