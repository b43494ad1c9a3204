#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh environment, and run the smoke
# experiment, `plan` and `status` from it, outside the checkout: what a `pip install .`,
# a Docker image or a cluster environment gets. An editable install cannot show a module or
# a config file left out of the wheel.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel "$repo" --no-deps --wheel-dir "$work/dist" --quiet
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet torch==2.13.0
"$work/venv/bin/pip" install --quiet "$work"/dist/xfer_scale-*.whl
cd "$work"
"$work/venv/bin/xfer-scale" run experiment=smoke hydra.run.dir=run
"$work/venv/bin/xfer-scale" plan experiment=smoke
"$work/venv/bin/xfer-scale" status run
echo "wheel check: run, plan and status exit 0 from the installed wheel"
