"""A micro-batch's time as a fixed launch cost plus a cost per token, fitted to measured runs.

At small batches a GPU is launch-bound: a micro-batch of 4 sentences takes about as long as
one of 16, whatever its FLOPs. A line through (tokens per micro-batch, seconds) captures both
ends: the intercept is the launch cost, the slope the cost of each token once the device is
busy. It is fitted on relative error (each run weighted by 1/seconds), so that the small
launch-bound batches, which the paper's recipe runs, are fitted as closely as the large ones,
and both costs are kept >= 0 (time never falls as a batch grows, nor is negative).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    launch_s: float
    per_token_s: float

    def __call__(self, tokens: float) -> float:
        """Seconds of one micro-batch of `tokens` real tokens."""
        return self.launch_s + self.per_token_s * tokens

    def worst_error(self, points: list[tuple[float, float]]) -> float:
        """The largest relative miss at the measured (tokens, seconds) points: how well a line fits."""
        return max(abs(self(tokens) - seconds) / seconds for tokens, seconds in points)


def fit(points: list[tuple[float, float]]) -> Line:
    """The line through (tokens, seconds) points (two or more distinct token counts, seconds > 0)
    that minimises the summed squared relative error, with both costs >= 0."""
    weights = [1.0 / seconds ** 2 for _, seconds in points]
    s_w = sum(weights)
    s_x = sum(w * x for w, (x, _) in zip(weights, points))
    s_y = sum(w * y for w, (_, y) in zip(weights, points))
    s_xx = sum(w * x * x for w, (x, _) in zip(weights, points))
    s_xy = sum(w * x * y for w, (x, y) in zip(weights, points))
    determinant = s_w * s_xx - s_x * s_x
    if determinant <= 0:
        raise ValueError("a line needs points at two or more token counts")
    launch = (s_xx * s_y - s_x * s_xy) / determinant
    per_token = (s_w * s_xy - s_x * s_y) / determinant
    if launch < 0:  # all per-token: the line through the origin
        return Line(0.0, s_xy / s_xx)
    if per_token < 0:  # all launch: a constant
        return Line(s_y / s_w, 0.0)
    return Line(launch, per_token)
