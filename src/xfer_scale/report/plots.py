"""The report's figures, drawn on bare `Figure`s so no pyplot state or display backend is involved.

Per target: one overview (language groups side by side, a line per series), and per metric the
scaling curves (a panel per series, a line per group) and the language x size heat map. Axes speak
the reader's units: examples (with the fraction) on x, the baseline at its place left of the
smallest size, and y limits set by the means, so one wide two-seed interval cannot flatten the rest.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xfer_scale.atomic import atomic_path
from xfer_scale.report.arms import SERIES
from xfer_scale.report.groups import AVERAGED_GROUPS, GROUP_COLORS, GROUP_LABELS, GROUP_ORDER, TRAINING
from xfer_scale.report.views import plus_minus, series_labels

# y room beyond the means (and the baseline's 0) given to intervals, as a share of the means' span
INTERVAL_ROOM = 0.5
X_LABEL = "intermediate training examples (fraction), log scale"
# Heat maps with more cells than this show colours only: a number per cell costs about a millisecond to
# draw and is too small to read there; tables/gains.csv holds the values.
ANNOTATED_CELLS = 600


@dataclass(frozen=True)
class Section:
    """What report.md shows for one target: its split, and its plots as (caption, relative path)."""

    target: str
    split: str
    plots: list[tuple[str, str]]


def write_plots(tables: dict[str, pd.DataFrame], splits: dict[str, str], out: Path) -> list[Section]:
    """Per target (headline split): the overview, and per metric the scaling curves and heat map."""
    sections = []
    groups, gains, fits = tables["groups"], tables["gains"], tables["scaling_fit"]
    for target, split in splits.items():
        plots: list[tuple[str, str]] = []
        curves = groups[(groups["target_task"] == target) & (groups["split"] == split) & (groups["quantity"] == "gain")]
        target_fits = fits[(fits["target_task"] == target) & (fits["split"] == split)]
        target_gains = gains[(gains["target_task"] == target) & (gains["split"] == split)]
        labels = _labels(curves)
        if not curves.empty:  # empty when only English was evaluated: nothing zero-shot to average
            overview = Path("plots") / f"{safe_name('overview', target, split)}.png"
            title = f"{target}: gain by language group, {split} split"
            plot_overview(curves, target_fits, labels, title, out / overview)
            plots.append((f"overview, {target}", overview.as_posix()))
        for metric in sorted(target_gains["metric"].unique()):
            title = f"{target}: {metric}, {split} split"
            curve = curves[curves["metric"] == metric]
            if not curve.empty:
                scaling = Path("plots") / f"{safe_name('scaling', target, metric, split)}.png"
                plot_scaling(curve, target_fits[target_fits["metric"] == metric], labels, title, metric, out / scaling)
                plots.append((f"scaling curves, {target} {metric}", scaling.as_posix()))
            heatmap = Path("plots") / f"{safe_name('heatmap', target, metric, split)}.png"
            by_language = target_gains[target_gains["metric"] == metric]
            plot_heatmap(by_language, _labels(by_language), f"{title}: mean gain per language", out / heatmap)
            plots.append((f"gain heat map, {target} {metric}", heatmap.as_posix()))
        sections.append(Section(target, split, plots))
    return sections


def safe_name(*parts: str) -> str:
    """A file name from task/metric names, which may hold characters file systems dislike."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(p)) for p in parts)


def _labels(frame: pd.DataFrame) -> dict[str, str]:
    """Series -> its label, in the order panels and legends list them."""
    series = frame.drop_duplicates(SERIES)
    return dict(zip(series[SERIES], series_labels(series), strict=True))


def plot_overview(curves: pd.DataFrame, fits: pd.DataFrame, labels: dict[str, str], title: str, path: Path) -> None:
    """The target at a glance: a column per language group, a row per metric, a line per series."""
    metrics = sorted(curves["metric"].unique())
    shown = [g for g in AVERAGED_GROUPS if g in set(curves["group"])]
    fig = Figure(figsize=(4.2 * len(shown), 1.2 + 3.4 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), len(shown), squeeze=False, sharey="row")
    colors = matplotlib.colormaps["tab10"]
    for row, metric in zip(axes, metrics, strict=True):
        block = curves[curves["metric"] == metric]
        for ax, group in zip(row, shown, strict=True):
            points = block[block["group"] == group]
            if points.empty:
                ax.axis("off")
                continue
            for i, (series, label) in enumerate(labels.items()):
                line = points[points[SERIES] == series]
                if not line.empty:
                    name = label if len(labels) > 1 else ""
                    _draw_curve(ax, line, _fit(fits, series, metric, group), colors(i % 10), name)
            _finish_axes(ax, points, block)
            ax.set_title(f"{GROUP_LABELS[group]}, {metric}", fontsize="medium")
            if ax.get_legend_handles_labels()[1]:  # one series without a fit has nothing to label
                ax.legend(fontsize="x-small")
        row[0].set_ylabel(f"gain over baseline ({metric}, points)")
    fig.supxlabel(X_LABEL)
    fig.suptitle(title)
    _save(fig, path)


def plot_scaling(
    groups: pd.DataFrame, fits: pd.DataFrame, labels: dict[str, str], title: str, metric: str, path: Path
) -> None:
    """Gain vs examples, a panel per series, one line per language group with 95% CI bars and its fit."""
    panels = [s for s in labels if s in set(groups[SERIES])]
    fig = Figure(figsize=(5.5 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, series in zip(axes, panels, strict=True):
        panel = groups[groups[SERIES] == series]
        for group in AVERAGED_GROUPS:
            points = panel[panel["group"] == group]
            if not points.empty:
                _draw_curve(ax, points, _fit(fits, series, metric, group), GROUP_COLORS[group], GROUP_LABELS[group])
        _finish_axes(ax, panel, groups)
        ax.set_xlabel(X_LABEL)
        ax.set_title(labels[series], fontsize="medium")
        ax.legend(fontsize="small")
    axes[0].set_ylabel(f"gain over baseline ({metric}, points)")
    fig.suptitle(title)
    _save(fig, path)


def _fit(fits: pd.DataFrame, series: str, metric: str, group: str) -> pd.Series | None:
    row = fits[(fits[SERIES] == series) & (fits["metric"] == metric) & (fits["group"] == group)]
    return row.iloc[0] if len(row) else None


def _draw_curve(ax: Axes, points: pd.DataFrame, fit: pd.Series | None, color: object, label: str) -> None:
    """Means with 95% CI bars, and the mean per-seed fitted line over the sizes it was fitted on."""
    points = points.sort_values("intermediate_examples")
    if fit is not None and not math.isnan(fit["slope"]):
        label = ", ".join(filter(None, (label, f"b={plus_minus(fit['slope'], fit['slope_ci95'])}")))
        xs = np.geomspace(points["intermediate_examples"].min(), points["intermediate_examples"].max(), 50)
        ax.plot(xs, fit["intercept"] + fit["slope"] * np.log10(xs), linestyle="--", linewidth=1, color=color)
    ax.errorbar(
        points["intermediate_examples"], points["mean"], yerr=points["ci95"].fillna(0.0),
        marker="o", capsize=3, color=color, label=label,
    )


def _finish_axes(ax: Axes, points: pd.DataFrame, scale: pd.DataFrame) -> None:
    """Examples (and fraction) as x ticks, the baseline at 0 left of the smallest size, and y limits
    from `scale`'s means with the intervals that reach beyond them clipped and marked."""
    sizes = points.drop_duplicates("intermediate_examples").sort_values("intermediate_examples")
    baseline_x = sizes["intermediate_examples"].min() / 10
    ax.set_xscale("log")
    ax.plot([baseline_x], [0.0], marker="D", color="black", linestyle="none")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ticks = [baseline_x, *sizes["intermediate_examples"]]
    amounts = zip(sizes["intermediate_examples"], sizes["intermediate_fraction"], strict=True)
    names = ["baseline", *(_amount(e, f) for e, f in amounts)]
    ax.set_xticks(ticks, names, fontsize="x-small")
    ax.minorticks_off()
    low, high = y_limits(scale["mean"].to_numpy(), scale["ci95"].to_numpy())
    ax.set_ylim(low, high)
    ci = points["ci95"].fillna(0.0)
    above, below = points["mean"] + ci > high, points["mean"] - ci < low
    for clipped, y, marker in ((above, high, "^"), (below, low, "v")):
        if clipped.any():  # an empty unclipped line would break the constrained layout
            ax.plot(points.loc[clipped, "intermediate_examples"], [y] * int(clipped.sum()),
                    marker=marker, color="black", linestyle="none", clip_on=False)
    if (above | below).any():
        ax.text(0.01, 0.01, "▲▼ interval clipped", transform=ax.transAxes, fontsize="x-small", va="bottom")


def _amount(examples: int, fraction: float) -> str:
    return f"{examples:,}" if math.isnan(fraction) else f"{examples:,}\n({fraction * 100:g}%)"


def y_limits(means: np.ndarray, ci95: np.ndarray) -> tuple[float, float]:
    """Limits that hold every mean and the baseline's 0, and give intervals at most INTERVAL_ROOM of
    the means' span beyond them: a ±200 interval from two seeds is clipped, not drawn to scale."""
    centre = np.append(means, 0.0)
    low, high = float(np.nanmin(centre)), float(np.nanmax(centre))
    room = INTERVAL_ROOM * max(high - low, 1.0)
    ci = np.nan_to_num(ci95)
    low = max(float(np.nanmin(means - ci, initial=low)), low - room)
    high = min(float(np.nanmax(means + ci, initial=high)), high + room)
    margin = 0.05 * (high - low)
    return low - margin, high + margin


def plot_heatmap(gains: pd.DataFrame, labels: dict[str, str], title: str, path: Path) -> None:
    """Mean gain per language (rows, lowest resource class first) and size (columns), a panel per series."""
    panels = [s for s in labels if s in set(gains[SERIES])]
    order = gains.drop_duplicates("language").assign(
        _rank=lambda d: d["group"].map(GROUP_ORDER), _class=lambda d: d["resource_class"].fillna(-1)
    ).sort_values(["_rank", "_class", "language"])
    rows = list(order["language"])
    names = [
        _heatmap_label(c, g, k) for c, g, k in zip(order["language"], order["group"], order["resource_class"], strict=True)
    ]
    boundaries = np.flatnonzero(np.diff(order["_rank"].to_numpy())) + 0.5
    limit = float(np.abs(gains["mean"]).max()) or 1.0
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.85")
    fig = Figure(figsize=(1.2 + 3.2 * len(panels), 1.5 + 0.28 * len(rows)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    axes[0].set_yticks(range(len(rows)), names)  # shared: labelling every panel would be slow and repetitive
    for ax, series in zip(axes, panels, strict=True):
        panel = gains[gains[SERIES] == series]
        grid = panel.pivot_table(index="language", columns="intermediate_examples", values="mean").reindex(rows)
        fractions = panel.groupby("intermediate_examples")["intermediate_fraction"].first()
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        if values.size * len(panels) <= ANNOTATED_CELLS:
            _annotate(ax, values, limit)
        for y in boundaries:
            ax.axhline(y, color="black", linewidth=1.2)
        ax.set_xticks(range(grid.shape[1]), [_amount(e, fractions[e]) for e in grid.columns], fontsize="x-small")
        ax.set_xlabel("intermediate examples (fraction)")
        ax.set_title(labels[series], fontsize="medium")
    fig.colorbar(image, ax=list(axes), label="mean gain (points)", shrink=0.8)
    fig.suptitle(title)
    _save(fig, path)


def _heatmap_label(code: str, group: str, klass: object) -> str:
    """Row label with the resource class, so the low-resource block is recognisable at a glance."""
    if group == TRAINING:
        return f"{code} (training)"
    return f"{code} ({'?' if pd.isna(klass) else klass})"


def _save(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def _annotate(ax: Axes, grid: np.ndarray, limit: float) -> None:
    """Cell values, white on dark cells so they stay legible."""
    for (i, j), value in np.ndenumerate(grid):
        if not math.isnan(value):
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6, color=color, in_layout=False)
