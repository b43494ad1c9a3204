"""`evaluate.Metric` wrappers, so the scores plug into Trainer and `evaluate` tooling.

Each class only declares its input features; scoring is the registry's `compute`, so a wrapper
can never drift from what `xfer-scale score` reports. They live in code, not on the Hub:
instantiate by import, no download. Extra keyword arguments to `compute` (`language`)
reach the scorer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import datasets
import evaluate

from xfer_scale.metrics.registry import compute

_CITATION = """\
@inproceedings{hu2020xtreme,
  title={{XTREME}: A Massively Multilingual Multi-task Benchmark for Evaluating
         Cross-lingual Generalisation},
  author={Hu, Junjie and Ruder, Sebastian and Siddhant, Aditya and Neubig, Graham
          and Firat, Orhan and Johnson, Melvin},
  booktitle={ICML},
  year={2020}
}
"""

_string = datasets.Value("string")
_QA_FEATURES = datasets.Features(
    {
        "predictions": {"id": _string, "prediction_text": _string},
        "references": {"id": _string, "answers": datasets.Sequence(_string)},
    }
)


class _XtremeMetric(evaluate.Metric):
    """Shared body: describe `_features`, score through the registered metric `family`."""

    family: ClassVar[str]
    _features: ClassVar[datasets.Features | list[datasets.Features]]

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=f"XTREME-official '{self.family}' scores on a 0-100 scale.",
            citation=_CITATION,
            inputs_description=self.__doc__ or "",
            features=self._features,
            homepage="https://github.com/google-research/xtreme",
        )

    def _compute(
        self, predictions: list[Any], references: list[Any], language: str = ""
    ) -> dict[str, float]:
        return compute(self.family, *self._unpack(predictions, references), language)

    def _unpack(self, predictions: list[Any], references: list[Any]) -> tuple[Any, Any]:
        """Rows as `evaluate` stores them -> the argument shapes `compute` documents."""
        return predictions, references


class XtremeAccuracy(_XtremeMetric):
    """predictions, references: one label (str or int) per example."""

    family = "accuracy"
    _features = [
        datasets.Features({"predictions": _string, "references": _string}),
        datasets.Features(
            {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
        ),
    ]


class XtremeSeqeval(_XtremeMetric):
    """predictions, references: one list of tag strings per sentence."""

    family = "seqeval"
    _features = datasets.Features(
        {"predictions": datasets.Sequence(_string), "references": datasets.Sequence(_string)}
    )


class XtremeSquad(_XtremeMetric):
    """predictions: {"id", "prediction_text"} per question; references: {"id", "answers"}
    per question, answers a list of gold texts. SQuAD v1.1 normalisation (XQuAD, TyDiQA)."""

    family = "squad"
    _features = _QA_FEATURES

    def _unpack(self, predictions: list[Any], references: list[Any]) -> tuple[Any, Any]:
        return (
            {p["id"]: p["prediction_text"] for p in predictions},
            {r["id"]: r["answers"] for r in references},
        )


class XtremeMlqa(XtremeSquad):
    """As XtremeSquad, normalised for the answer language: pass `language=` to compute."""

    family = "mlqa"


class XtremeBucc(_XtremeMetric):
    """predictions, references: one row per evaluated set, each row a list of
    [source_id, target_id] pairs (predicted and gold sets differ in size, so a pair cannot
    be a row). Rows are pooled; ids carry their language, so pooling does not mix sets."""

    family = "bucc"
    _features = datasets.Features(
        {
            "predictions": datasets.Sequence(datasets.Sequence(_string)),
            "references": datasets.Sequence(datasets.Sequence(_string)),
        }
    )

    def _unpack(self, predictions: list[Any], references: list[Any]) -> tuple[Any, Any]:
        return (
            [tuple(pair) for row in predictions for pair in row],
            [tuple(pair) for row in references for pair in row],
        )
