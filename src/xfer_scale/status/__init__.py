"""Where a sweep stands: `xfer-scale status DIR`, and the heartbeat each run writes for it.

A run says where it is in `<run folder>/heartbeat.json` (`heartbeat`); `cells` reads every
cell folder of a sweep (and the sweep's `multirun.yaml`, for cells not started yet) into a
state; `command` prints them with totals and an ETA. Everything is read from files, so it
works while the sweep runs, from any machine that sees the sweep's folder, whatever launcher
started the cells.
"""
