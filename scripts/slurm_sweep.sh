#!/usr/bin/env bash
# The MNLI-size scaling sweep on a SLURM cluster whose compute nodes have no internet.
#
#   scripts/slurm_sweep.sh PARTITION [OVERRIDES...]     e.g. scripts/slurm_sweep.sh gpu model=xlmr-base
#
# Run it on a login node, inside tmux or screen: it needs the hub once (step 1), then submits one
# single-GPU job per cell (conf/hydra/launcher/slurm_gpu.yaml) and waits for all of them. If it is
# interrupted, the jobs go on; running the same command again skips the cells that finished.
# HF_HOME and the output folder must be on a file system the compute nodes share.
set -euo pipefail
partition=${1:?usage: scripts/slurm_sweep.sh PARTITION [OVERRIDES...]}
shift
export HF_HOME=${HF_HOME:-$PWD/outputs/hf}
out=outputs/multirun/mnli-scaling
baseline=(intermediate=none target=xnli,udpos seed=1,2,3 "$@")
scaling=(intermediate=mnli intermediate.fraction=0.01,0.1,1.0 target=xnli,udpos seed=1,2,3 "$@")

# 1. model and every split both sweeps read, into the shared cache
xfer-scale prepare "${baseline[@]}"
xfer-scale prepare "${scaling[@]}"

# 2. the jobs read only that cache (sbatch passes this environment on to them)
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
slurm=(hydra/launcher=slurm_gpu "hydra.launcher.partition=$partition")
xfer-scale run -m "${slurm[@]}" "hydra.sweep.dir=$out/baseline" "${baseline[@]}"
xfer-scale run -m "${slurm[@]}" "hydra.sweep.dir=$out/scaling" "${scaling[@]}"

# 3. seeds aggregated, gains over the baseline, scaling plots
xfer-scale report "$out/baseline" "$out/scaling" --out "$out/report"
