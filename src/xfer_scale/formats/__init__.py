"""Formats: what differs between kinds of task, in code. A task (YAML) names its format.

Each format says how its training data is assembled, how rows become model features, which
model it builds on the encoder, the training loss, and how model outputs become predictions
and metrics. A format registers itself with `@register("name")`; every module of this
package is imported here, so adding a format is adding one module (and its task files).
A format defined elsewhere registers the same way once its module is imported.
"""

from __future__ import annotations

import importlib
import pkgutil

from xfer_scale.formats.base import Amount, Format, TrainingSet, format_class, get, names, register
from xfer_scale.formats.basis import SEARCH_SPLIT, DevTuned, SearchSpace

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SEARCH_SPLIT", "Amount", "DevTuned", "Format", "SearchSpace", "TrainingSet", "format_class", "get", "names",
           "register"]
