"""The metric registry: one owner per metric, from the task YAML's `metric:` to every score.

A metric is one function registered with `@metric(name, needs=...)`: the run's scoring
(`Format.score`), `xfer-scale score`, the `evaluate` wrappers and the report all reach it by
that name, so adding one (Pearson, say) is that function and nothing else. `needs` names the
prediction kind it scores (`prediction_kinds`), which start-up validation checks the task's
format produces; `selects` is the value of its result that picks checkpoints.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from xfer_scale.errors import UserError
from xfer_scale.prediction_kinds import KINDS

Scorer = TypeVar("Scorer", bound=Callable[..., dict[str, float]])


@dataclass(frozen=True)
class Metric:
    """A registered scorer: `scorer(predictions, references[, language])` -> values 0-100."""

    name: str
    needs: str
    selects: str
    scorer: Callable[..., dict[str, float]]
    takes_language: bool

    def __call__(self, predictions: Any, references: Any, language: str) -> dict[str, float]:
        if self.takes_language:
            return self.scorer(predictions, references, language=language)
        return self.scorer(predictions, references)


_REGISTRY: dict[str, Metric] = {}


def metric(name: str, *, needs: str, selects: str | None = None) -> Callable[[Scorer], Scorer]:
    """Register the decorated function as metric `name`, unchanged; it takes (predictions,
    references) in the shapes of kind `needs`, and a `language` argument if it declares one
    (MLQA's answer normalisation depends on it). `selects` (default: `name`) is the value that
    selects checkpoints."""
    if needs not in KINDS:
        raise ValueError(f"metric {name!r}: needs={needs!r} is no prediction kind; choose one of {', '.join(KINDS)}")

    def add(scorer: Scorer) -> Scorer:
        known = _REGISTRY.get(name)
        if known is not None and (known.scorer.__module__, known.scorer.__qualname__) != (
                scorer.__module__, scorer.__qualname__):
            raise ValueError(f"metric {name!r} is registered twice: {known.scorer.__qualname__} and {scorer.__qualname__}")
        takes_language = "language" in inspect.signature(scorer).parameters
        _REGISTRY[name] = Metric(name, needs, selects or name, scorer, takes_language)
        return scorer

    return add


def names() -> list[str]:
    """Every registered metric, sorted."""
    return sorted(_REGISTRY)


def find(name: str) -> Metric | None:
    """The metric `name`, or None where none is registered (an intermediate task's `none`)."""
    return _REGISTRY.get(name)


def get(name: str) -> Metric:
    """The metric `name`; a UserError naming the registered ones where there is none."""
    found = _REGISTRY.get(name)
    if found is None:
        raise UserError(f"unknown metric family {name!r}; choose one of {', '.join(names())} "
                        "(or register one with @xfer_scale.metrics.metric)")
    return found


def taking(kind: str) -> list[str]:
    """The registered metrics that score predictions of `kind`."""
    return [name for name, found in sorted(_REGISTRY.items()) if found.needs == kind]


def compute(family: str, predictions: Any, references: Any, language: str) -> dict[str, float]:
    """Score one language of one task with metric `family`; values are 0-100. The argument
    shapes are those of the metric's kind (`prediction_kinds.KINDS`); `language` reaches only
    metrics that take it, so every caller can use one call shape."""
    return get(family)(predictions, references, language)
