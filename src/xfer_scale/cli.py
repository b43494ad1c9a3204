"""`xfer-scale`: run | report | score | tasks | prepare | plan | status.

Exit codes: 0 success, 2 bad configuration or input (one message, no traceback), 1 anything
else. `run` hands its arguments to Hydra, so every Hydra feature (multirun, launchers,
`--cfg job`, `--help`) works as documented by Hydra.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from xfer_scale import config, run_folder, stop_signals
from xfer_scale.atomic import write_text
from xfer_scale.errors import Interrupted, UserError
from xfer_scale.run_folder import FAILURE_FILE

log = logging.getLogger("xfer_scale")

USAGE = """\
usage: xfer-scale COMMAND [ARGS...]

Intermediate-task scaling sweeps for zero-shot cross-lingual transfer (XTREME / XTREME-R).

commands:
  run [OVERRIDES...]       one experiment (Hydra overrides), e.g.
                             xfer-scale run intermediate=mnli intermediate.fraction=0.1 target=xnli seed=1
                           `run -m` sweeps every comma-separated value (Hydra multirun), e.g.
                             xfer-scale run -m intermediate.fraction=0.01,0.1,1.0 target=xnli,udpos seed=1,2,3
                           `run experiment=smoke`: the whole pipeline on a tiny model, on CPU, in a minute
                           `run --cfg job [OVERRIDES...]` prints the composed config; `run --help` lists groups
  report DIR... [--out DIR] [--duplicates error|latest|first]
                           aggregate every run under the directories: seeds, gains, plots, report.md
  score --predictions DIR --labels DIR [--benchmark xtreme|xtreme-r|FILE] [--out FILE.csv] [--allow-missing]
                           score XTREME submission-layout predictions as XTREME's evaluate.py does
  tasks                    list tasks with their format, metric, languages and sources
  prepare [OVERRIDES...]   download the model and every data set a run (or sweep) needs,
                           so compute nodes can run with HF_HUB_OFFLINE=1
  plan [OVERRIDES...] [--json FILE] [--tokens-per-second X | --bench FILE] [--cells-per-gpu K] [--workers N]
       [--detect D (--from-report DIR | --seed-sd X)]
                           what a run or sweep will cost, without training: cells, phase-1 models
                           (and which are cached), examples, tokens, FLOPs, GPU memory, GPU-hours,
                           wall time (calibrated by `scripts/bench_train.py --suite --json FILE`)
  status DIR [--json FILE] [--stale-after S] [--workers N]
                           where a sweep stands: each cell done / running / stalled / failed /
                           damaged / pending, totals, ETA; exit 1 if a cell failed or is damaged

exit codes: 0 success, 2 bad configuration or input, 1 anything else
"""


class _RunState:
    """What the run saw, for the exit code after Hydra returns."""

    started = False
    failures: list[tuple[str, str, bool]] = []  # (run dir, message, is a user error)
    log_files: list[logging.Handler] = []  # the run folder's log file, while it runs


def _record_failure(run_dir: Path, message: str, user_error: bool) -> None:
    """Say why in the folder, for the sweep's summary; where the folder cannot take it (a full
    disk, a read-only folder), the log line already said it."""
    try:
        write_text(run_dir / FAILURE_FILE, json.dumps({"message": message, "user_error": user_error}) + "\n")
    except (OSError, UserError):
        log.warning("could not write %s", run_dir / FAILURE_FILE)


class SweepSummary(Callback):
    """Collects the failed cells of a sweep, in the process that launched it.

    Whatever ran the cells (this process, local subprocesses, SLURM jobs), each left its
    folder: `run.json` with `finished`, or `failure.json` saying why not (a cell refused
    before it claimed its folder leaves only that), or neither (killed).
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        cells = {p.parent for p in sweep.glob("**/.hydra")} | {p.parent for p in sweep.glob(f"**/{FAILURE_FILE}")}
        for cell in sorted(cells):
            if run_folder.finished(cell):
                continue
            failure = cell / FAILURE_FILE
            if failure.exists():
                saved = json.loads(failure.read_text())
                _RunState.failures.append((str(cell), saved["message"], saved["user_error"]))
            else:
                _RunState.failures.append((str(cell), "ended without results (killed?); see its log", False))


def _claimed(cfg: DictConfig) -> Any:
    """What a run writes once its folder is claimed: Hydra's record of the job (`.hydra/`)
    and its log file, which Hydra is told not to write before the folder is checked, and no
    stale `failure.json`."""
    hydra_cfg = HydraConfig.get()

    def write(run_dir: Path) -> None:
        record = run_dir / ".hydra"
        write_text(record / "config.yaml", OmegaConf.to_yaml(cfg))
        write_text(record / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra_cfg}))
        write_text(record / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))
        handler = logging.FileHandler(run_dir / f"{hydra_cfg.job.name}.log")
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        logging.getLogger().addHandler(handler)
        _RunState.log_files.append(handler)
        (run_dir / FAILURE_FILE).unlink(missing_ok=True)

    return write


@hydra.main(version_base=None, config_path="pkg://xfer_scale.conf", config_name="config")
def _run_job(cfg: DictConfig) -> None:
    from xfer_scale import device_slots
    from xfer_scale.atomic import DiskFull
    from xfer_scale.run_folder import ForeignFolder

    _RunState.started = True
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        # a sweep's parallel cells share GPUs (set before CUDA is touched); SIGTERM/SIGINT stop resumably
        with device_slots.for_job(hydra_cfg), stop_signals.raising():
            from xfer_scale import pipeline  # heavy imports only once a run really starts
            pipeline.run(cfg, run_dir, on_claimed=_claimed(cfg))
    except (KeyboardInterrupt, Interrupted) as stop:
        where = str(stop) if isinstance(stop, Interrupted) else "interrupted"
        log.error("%s; resume with: %s", where, resume_command(hydra_cfg.overrides.task, run_dir))
        raise SystemExit(130) from None
    except DiskFull as error:  # not the configuration's fault: exit 1, with the one line that says what to do
        log.error("%s", error)
        _record_failure(run_dir, str(error), False)
        if not multirun:
            _RunState.failures.append((str(run_dir), str(error), False))
            raise SystemExit(1) from None
    except ForeignFolder as error:  # not ours: leave no failure.json there
        log.error("%s", error)
        _RunState.failures.append((str(run_dir), str(error), True))
        if not multirun:
            raise SystemExit(2) from None
    except UserError as error:
        log.error("%s", error)
        _record_failure(run_dir, str(error), True)
        if not multirun:  # in a sweep the other cells go on; SweepSummary lists this one
            _RunState.failures.append((str(run_dir), str(error), True))
            raise SystemExit(2) from None
    except Exception as error:
        _record_failure(run_dir, f"{type(error).__name__}: {error}", False)
        if not multirun:
            raise
        log.exception("run in %s failed", run_dir)
    finally:
        for handler in _RunState.log_files:  # the next cell of a sweep logs into its own folder
            logging.getLogger().removeHandler(handler)
            handler.close()
        _RunState.log_files.clear()


def resume_command(overrides: list[str], run_dir: Path) -> str:
    """The command that continues this run in its folder: its own overrides (a sweep cell's
    single values) with the folder named, since a default folder is named by the time."""
    kept = [override for override in overrides if not override.startswith("hydra.run.dir=")]
    command = shlex.join(["xfer-scale", "run", *kept, f"hydra.run.dir={run_dir}"])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        command += " (under the same `accelerate launch` options: `-m xfer_scale run ...`)"
    return command


def run_command(args: list[str]) -> int:
    _RunState.started = False
    _RunState.failures = []
    sys.argv = ["xfer-scale run", *args]
    try:
        _run_job()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
        if code == 1 and not _RunState.started:
            return 2  # Hydra rejected the config (unknown key, group option or type) and said why
        if code:
            return code
    if _RunState.failures:
        print(f"\n{len(_RunState.failures)} run(s) failed:", file=sys.stderr)
        for run_dir, message, _ in _RunState.failures:
            print(f"  {run_dir}: {message}", file=sys.stderr)
        return 2 if all(user for _, _, user in _RunState.failures) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, args = argv[0], argv[1:]
    config.setup()
    try:
        if command == "run":
            return run_command(args)
        if command == "report":
            from xfer_scale import report
            return report.main(args)
        if command == "score":
            from xfer_scale import scoring
            return scoring.main(args)
        if command == "tasks":
            from xfer_scale import catalog
            return catalog.main(args)
        if command == "prepare":
            from xfer_scale import prepare
            return prepare.main(args)
        if command == "plan":
            from xfer_scale.plan import command as plan_command
            return plan_command.main(args)
        if command == "status":
            from xfer_scale.status import command as status_command
            return status_command.main(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2
