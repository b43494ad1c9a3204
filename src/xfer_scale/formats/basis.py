"""What a format's predictions of a split rest on besides that split's own model outputs:
something fitted on other outputs of the same model, which the pipeline hands to `predict`
explicitly. A format that needs one composes it as its `basis`, which says where it is
fitted (the pipeline follows that) and with which function of (logits, features, examples),
the format's own:

- `SearchSpace`: once a run, on the task's `candidates` split in its training language,
  predicted apart from the evaluated splits: what every language's queries are ranked against
  (LAReQA's pooled answer sentences, Mewsli-X's entities), embedded once rather than per language.
- `DevTuned`: on each language's dev split as it is evaluated, for that split and the
  language's later ones (BUCC's mining threshold).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
import torch

log = logging.getLogger(__name__)

#: the split that holds a ranking task's search space
SEARCH_SPLIT = "candidates"

Fit = Callable[[list[torch.Tensor], datasets.Dataset, datasets.Dataset], Any]


@dataclass(frozen=True)
class SearchSpace:
    """Fitted on the `candidates` split, the first `max_candidates` rows of it where set (for
    quick runs only: scores are then not comparable with the full set's)."""

    fit: Fit
    max_candidates: int | None = None

    def rows(self, task_name: str, candidates: int) -> range:
        """The rows of the split it is fitted on."""
        if self.max_candidates is None or self.max_candidates >= candidates:
            return range(candidates)
        log.warning("%s: ranking among the first %d of %d candidates (format_options.max_candidates): "
                    "scores are not comparable with the full set's", task_name, self.max_candidates, candidates)
        return range(self.max_candidates)


@dataclass(frozen=True)
class DevTuned:
    """Fitted on each language's dev split: a later split of a language whose dev split was not
    evaluated first has nothing to rest on, which its `predict` refuses."""

    fit: Fit
