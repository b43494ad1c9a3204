"""What a run or sweep will cost before it runs: `xfer-scale plan`.

`sizes` counts the examples and tokens of each data read (local files where the run would
read them, recorded sizes otherwise: nothing is downloaded); `compute` the planned model's
size, the FLOPs of a token and the throughput that turns them into time; `phases` one cell's
work per phase; `sweep` the whole sweep with its shared phase-1 models; `command` the CLI.
"""
