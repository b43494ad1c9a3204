"""What a cell pays before its first training step, timed in a fresh Python as a sweep's cell starts.

Run by `bench_train.py --suite` (not by hand): the clock starts before the first import, so the
imports `xfer-scale run` makes before a cell's work (`xfer_scale.cli`, `xfer_scale.pipeline`:
torch, transformers, accelerate, datasets, Hydra) are counted; the interpreter's own start is
not. The rest (tokenizer, the model loaded from a saved folder, the accelerator, AdamW and
`prepare`) is timed by `bench_train.startup_main`.

    python scripts/bench_startup.py '{"folder": ..., "spec": {...}}'
"""

import time

STARTED = time.perf_counter()

import xfer_scale.cli  # noqa: E402,F401  (what `xfer-scale run` imports before a cell starts)
import xfer_scale.pipeline  # noqa: E402,F401

IMPORTS_S = time.perf_counter() - STARTED

if __name__ == "__main__":
    import sys

    import bench_train  # beside this file: scripts/ is sys.path[0] when run as a script

    sys.exit(bench_train.startup_main(IMPORTS_S, sys.argv[1]))
