"""`xfer-scale report DIR... [--out DIR]`: from many runs' tidy results to the sweep's answer.

The question of a scaling sweep is whether more English intermediate data keeps improving zero-shot
transfer, above all for low-resource languages. So the report subtracts each run's no-intermediate
baseline (same model, target and seed: seeds then cancel), averages over language groups, and fits
gain = a + b*log10(examples): the slope b is the answer in points per tenfold data.
"""

from xfer_scale.report.build import Report, build_report
from xfer_scale.report.cli import main
from xfer_scale.report.stats import aggregate, fit_log_slope, t_quantile_975

__all__ = ["Report", "aggregate", "build_report", "fit_log_slope", "main", "t_quantile_975"]
