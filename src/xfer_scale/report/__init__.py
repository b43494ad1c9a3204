"""`xfer-scale report DIR... [--out DIR]`: from many runs' tidy results to the sweep's answer.

The question of a scaling sweep is whether more English intermediate data keeps improving zero-shot
transfer, above all for low-resource languages. So the report pools only runs of one arm (they differ
in nothing but the seed), subtracts each run's matching no-intermediate baseline (same baseline key and
seed: seeds then cancel), averages over language groups, and fits gain = a + b*log10(examples) per
seed: the mean slope b, and the low - high difference of slopes, are the answer in points per
tenfold data, with t-intervals over seeds.
"""

from xfer_scale.report.build import Report, build_report
from xfer_scale.report.cli import main
from xfer_scale.report.stats import aggregate, ci95_half_width, log_slope

__all__ = ["Report", "aggregate", "build_report", "ci95_half_width", "log_slope", "main"]
