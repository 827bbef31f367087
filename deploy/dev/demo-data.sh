#!/usr/bin/env bash
# Loads demo data into a freshly started dev stack (stack.sh start runs it
# once). Everything goes through the public API.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHONPATH="$BUILD/py${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 "$ROOT/deploy/dev/demo_data.py"
