"""The report's figures, drawn on bare `Figure`s so no pyplot state or display backend is involved.

Per target: one overview (language groups side by side, a line per series, a row per metric), and
for its headline metric the scaling curves (a panel per series, a line per group) and the language x
size heat map. Axes speak the reader's units: examples (with the fraction) on x, the baseline at its
place left of the smallest size, and y limits set by the means, so one wide two-seed interval cannot
flatten the rest.

At a sweep's size (2,000 runs, a dozen series) drawing was most of the report's time, so panels
get fixed sizes and margins in inches instead of a layout engine (which measured every tick label
of every panel), panels that share axes tick only the outer ones, a heat map is one mesh with a
block of columns per series, and the figures are drawn in parallel processes.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import textwrap
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xfer_scale.atomic import atomic_path
from xfer_scale.report.arms import SERIES
from xfer_scale.report.groups import AVERAGED_GROUPS, GROUP_COLORS, GROUP_LABELS, GROUP_ORDER, TRAINING
from xfer_scale.report.views import plus_minus, series_labels

# y room beyond the means (and the baseline's 0) given to intervals, as a share of the means' span
INTERVAL_ROOM = 0.5
X_LABEL = "intermediate training examples (fraction), log scale"
MISSING_COLOR = "0.85"
# the metric of a target's scaling curves and heat map where it has it (XTREME leads with F1), and
# the two F1 combines, which the overview leaves out beside it
HEADLINE_METRIC = "f1"
F1_PARTS = ("precision", "recall")
LEGEND_CHAR_WIDTH = 0.05  # inches per character of an x-small legend label
CAP_SIZE = 3  # points an error bar's cap reaches each side, as errorbar's capsize
# figures per process drawing them: with fewer, starting a process costs more than it saves
FIGURES_PER_WORKER = 4
# Heat maps with more cells than this show colours only: a number per cell costs about a millisecond to
# draw and is too small to read there; tables/gains.csv holds the values.
ANNOTATED_CELLS = 600


@dataclass(frozen=True)
class Section:
    """What report.md shows for one target: its split, and its plots as (caption, relative path)."""

    target: str
    split: str
    plots: list[tuple[str, str]]


@dataclass(frozen=True)
class Margins:
    """Room around and between panels, in inches: titles above, tick labels and axis labels below and left."""

    left: float
    right: float
    top: float
    bottom: float
    wspace: float
    hspace: float = 0.0


OVERVIEW_MARGINS = Margins(left=0.8, right=0.2, top=0.7, bottom=0.85, wspace=0.25, hspace=0.4)
SCALING_MARGINS = Margins(left=0.9, right=0.2, top=0.7, bottom=0.85, wspace=0.25, hspace=0.4)
PANELS_PER_ROW = 5
# heat map: inches per cell, and room for row labels, the colour bar and a block's title
CELL = (0.55, 0.25)
HEATMAP_MARGINS = Margins(left=1.2, right=1.3, top=0.55, bottom=0.85, wspace=0.0)
COLORBAR_WIDTH = 0.15


def panels(rows: int, columns: int, size: tuple[float, float], margins: Margins, sharex: bool = False,
           sharey: bool | str = False) -> tuple[Figure, np.ndarray]:
    """A figure of `rows` x `columns` panels, each `size` inches, with the margins around them."""
    width, height = size
    fig_width = margins.left + columns * width + (columns - 1) * margins.wspace + margins.right
    fig_height = margins.top + rows * height + (rows - 1) * margins.hspace + margins.bottom
    fig = Figure(figsize=(fig_width, fig_height))
    grid = {
        "left": margins.left / fig_width, "right": 1 - margins.right / fig_width,
        "bottom": margins.bottom / fig_height, "top": 1 - margins.top / fig_height,
        "wspace": margins.wspace / width, "hspace": margins.hspace / height,
    }
    return fig, fig.subplots(rows, columns, squeeze=False, sharex=sharex, sharey=sharey, gridspec_kw=grid)


def write_plots(tables: dict[str, pd.DataFrame], splits: dict[str, str], out: Path) -> list[Section]:
    """Per target (headline split): the overview of its metrics, and the scaling curves and heat map
    of its headline metric."""
    sections, drawings = [], []
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
            drawings.append((plot_overview, (_without_f1_parts(curves), target_fits, labels, title, out / overview)))
            plots.append((f"overview, {target}", overview.as_posix()))
        if target_gains.empty:
            sections.append(Section(target, split, plots))
            continue
        metric = headline_metric(set(target_gains["metric"]))
        title = f"{target}: {metric}, {split} split"
        curve = curves[curves["metric"] == metric]
        if not curve.empty:
            scaling = Path("plots") / f"{safe_name('scaling', target, metric, split)}.png"
            metric_fits = target_fits[target_fits["metric"] == metric]
            drawings.append((plot_scaling, (curve, metric_fits, labels, title, metric, out / scaling)))
            plots.append((f"scaling curves, {target} {metric}", scaling.as_posix()))
        slopes = tables["language_slopes"]
        slopes = slopes[(slopes["target_task"] == target) & (slopes["split"] == split) & (slopes["metric"] == metric)]
        if not slopes.empty:
            lines = tables["resource_line"]
            line = lines[(lines["target"] == target) & (lines["split"] == split) & (lines["metric"] == metric)]
            by_pretraining = Path("plots") / f"{safe_name('pretraining', target, metric, split)}.png"
            drawings.append((plot_language_slopes, (slopes, line, _labels(slopes), f"{title}: slope per language "
                             "by pretraining data", out / by_pretraining)))
            plots.append((f"slope per language by CC-100 tokens, {target} {metric}", by_pretraining.as_posix()))
        heatmap = Path("plots") / f"{safe_name('heatmap', target, metric, split)}.png"
        by_language = target_gains[target_gains["metric"] == metric]
        heatmap_title = f"{title}: mean gain per language"
        drawings.append((plot_heatmap, (by_language, _labels(by_language), heatmap_title, out / heatmap)))
        plots.append((f"gain heat map, {target} {metric}", heatmap.as_posix()))
        sections.append(Section(target, split, plots))
    _draw_all(drawings)
    return sections


def _without_f1_parts(curves: pd.DataFrame) -> pd.DataFrame:
    """The overview's rows: every metric but precision and recall where there is F1, which
    combines them (their curves are in tables/groups.csv): a row each doubled a tagging overview."""
    if HEADLINE_METRIC not in set(curves["metric"]):
        return curves
    return curves[~curves["metric"].isin(F1_PARTS)]


def headline_metric(metrics: set[str]) -> str:
    """The metric a target's scaling curves and heat map show: F1 where it has one, as XTREME leads
    with it (tagging, QA, BUCC), else its first. Their other metrics are in the overview and tables:
    a figure per metric tripled the plots of a tagging target and most of the report's time."""
    return HEADLINE_METRIC if HEADLINE_METRIC in metrics else min(metrics)


def _draw_all(drawings: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    """Each figure costs from a tenth of a second to seconds of CPU and none depends on another, so a
    sweep's dozens of figures are spread over forked processes, one per CPU this process may use."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(cpus, len(drawings) // FIGURES_PER_WORKER)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for draw, args in drawings:
            draw(*args)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for future in [pool.submit(draw, *args) for draw, args in drawings]:
            future.result()


def safe_name(*parts: str) -> str:
    """A file name from task/metric names, which may hold characters file systems dislike."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(p)) for p in parts)


def _labels(frame: pd.DataFrame) -> dict[str, str]:
    """Series -> its label, in the order panels and legends list them."""
    series = frame.drop_duplicates(SERIES)
    return dict(zip(series[SERIES], series_labels(series), strict=True))


def plot_overview(curves: pd.DataFrame, fits: pd.DataFrame, labels: dict[str, str], title: str, path: Path) -> None:
    """The target at a glance: a column per language group, a row per metric, a line per series.

    One legend names the series for every panel (the slopes are in the scaling curves and report.md):
    a legend per panel repeated a dozen series in each.
    """
    metrics = sorted(curves["metric"].unique())
    shown = [g for g in AVERAGED_GROUPS if g in set(curves["group"])]
    legend_width = LEGEND_CHAR_WIDTH * max(map(len, labels.values())) + 0.6 if len(labels) > 1 else 0.0
    margins = replace(OVERVIEW_MARGINS, right=OVERVIEW_MARGINS.right + legend_width)
    fig, axes = panels(len(metrics), len(shown), (3.6, 2.6), margins, sharex=True, sharey="row")
    _outer_axes(axes, axes.size)
    colors = {series: matplotlib.colormaps["tab10"](i % 10) for i, series in enumerate(labels)}
    fit_of, baseline_x = _fits_by_line(fits), _shared_x(axes[0, 0], curves)
    cells = dict(tuple(curves.groupby(["metric", "group"], sort=False)))
    for row, metric in zip(axes, metrics, strict=True):
        limits = _shared_y(row[0], curves[curves["metric"] == metric])
        for ax, group in zip(row, shown, strict=True):
            points = cells.get((metric, group))
            if points is None:
                ax.axis("off")
                continue
            lines = dict(tuple(points.groupby(SERIES, sort=False)))
            for series in labels:
                if series in lines:
                    _draw_curve(ax, lines[series], fit_of.get((series, metric, group)), colors[series])
            _finish_axes(ax, points, baseline_x, limits)
            _title(ax, f"{GROUP_LABELS[group]}, {metric}")
        row[0].set_ylabel(f"gain over baseline ({metric}, points)")
    if legend_width:
        handles = [Line2D([], [], color=colors[s], marker="o", label=label) for s, label in labels.items()]
        fig.legend(handles=handles, loc="upper right", fontsize="x-small", frameon=False,
                   bbox_to_anchor=(1.0, 1 - margins.top / fig.get_figheight()), borderaxespad=0.2)
    _figure_labels(fig, title, X_LABEL)
    _save(fig, path)


def plot_scaling(
    groups: pd.DataFrame, fits: pd.DataFrame, labels: dict[str, str], title: str, metric: str, path: Path
) -> None:
    """Gain vs examples, a panel per series (PANELS_PER_ROW to a row), one line per language group
    with 95% CI bars and its fit."""
    by_series = dict(tuple(groups.groupby(SERIES, sort=False)))
    shown = [s for s in labels if s in by_series]
    columns = min(len(shown), PANELS_PER_ROW)
    fig, axes = panels(math.ceil(len(shown) / columns), columns, (4.9, 3.0), SCALING_MARGINS, sharex=True, sharey=True)
    fit_of, baseline_x, limits = _fits_by_line(fits), _shared_x(axes[0, 0], groups), _shared_y(axes[0, 0], groups)
    _outer_axes(axes, len(shown))
    for ax, series in zip(axes.flat, shown):
        panel = by_series[series]
        lines = dict(tuple(panel.groupby("group", sort=False)))
        for group in AVERAGED_GROUPS:
            if group in lines:
                fit = fit_of.get((series, metric, group))
                _draw_curve(ax, lines[group], fit, GROUP_COLORS[group], GROUP_LABELS[group])
        _finish_axes(ax, panel, baseline_x, limits)
        _title(ax, labels[series])
        _legend(ax, "small")
    _figure_labels(fig, title, X_LABEL, f"gain over baseline ({metric}, points)")
    _save(fig, path)


def _fits_by_line(fits: pd.DataFrame) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """(series, metric, group) -> (slope, its CI half-width, intercept): looked up once per line drawn."""
    keys = zip(*(fits[c].tolist() for c in (SERIES, "metric", "group")), strict=True)
    return dict(zip(keys, zip(*(fits[c].tolist() for c in ("slope", "slope_ci95", "intercept")), strict=True), strict=True))


def _draw_curve(ax: Axes, points: pd.DataFrame, fit: tuple[float, float, float] | None, color: object,
                label: str | None = None) -> None:
    """Means with 95% CI bars, and the mean per-seed fitted line over the sizes it was fitted on; with
    a `label`, a legend entry with the slope.

    The legend entry is the line of means alone: an error-bar entry costs several artists per line.
    The fit is straight on the log axis, so its two ends draw it.
    """
    points = points.sort_values("intermediate_examples")
    examples = points["intermediate_examples"].to_numpy()
    if fit is not None and not math.isnan(fit[0]):
        slope, ci, intercept = fit
        if label is not None:
            label = ", ".join(filter(None, (label, f"b={plus_minus(slope, ci)}")))
        xs = np.array([examples.min(), examples.max()], dtype=float)
        ax.plot(xs, intercept + slope * np.log10(xs), linestyle="--", linewidth=1, color=color)
    mean, ci = points["mean"].to_numpy(), points["ci95"].fillna(0.0).to_numpy()
    # error bars as `errorbar` draws them (bars, and caps as markers), for a third of its cost
    ax.vlines(examples, mean - ci, mean + ci, color=color)
    ax.plot(np.tile(examples, 2), np.concatenate([mean - ci, mean + ci]), linestyle="none", marker="_",
            markersize=2 * CAP_SIZE, color=color)
    ax.plot(examples, mean, marker="o", color=color, label=label)


def _title(ax: Axes, text: str) -> None:
    """A panel title at a fixed height: an automatic one measures the tick labels of every panel."""
    ax.set_title(text, fontsize="medium", y=1.0)


def _legend(ax: Axes, fontsize: str) -> None:
    if ax.get_legend_handles_labels()[1]:  # a panel without labelled lines has nothing to list
        ax.legend(fontsize=fontsize)


def _outer_axes(axes: np.ndarray, count: int) -> None:
    """Of panels that share their axes, filled in rows with `count` panels (the rest hidden), only
    the left column shows y and the lowest panel of each column x: ticks on every inner panel were
    a third of a figure's drawing time."""
    columns = axes.shape[1]
    for i, ax in enumerate(axes.flat):
        lowest = count - columns <= i < count
        ax.set_visible(i < count)
        ax.xaxis.set_visible(lowest)
        ax.yaxis.set_visible(i % columns == 0)
        if lowest:
            ax.xaxis.set_tick_params(labelbottom=True, labelsize="x-small")


def _shared_x(ax: Axes, frame: pd.DataFrame) -> float:
    """Log x axis with every size in `frame` as a tick (examples and fraction), after the baseline's
    place a tenth of the smallest, which it returns. Set on one panel for all that share the axis:
    set on each, every call would update every sibling."""
    sizes = frame.drop_duplicates("intermediate_examples").sort_values("intermediate_examples")
    baseline_x = sizes["intermediate_examples"].min() / 10
    amounts = zip(sizes["intermediate_examples"], sizes["intermediate_fraction"], strict=True)
    ax.set_xscale("log")
    ax.set_xticks([baseline_x, *sizes["intermediate_examples"]], ["baseline", *(_amount(e, f) for e, f in amounts)])
    ax.minorticks_off()
    return baseline_x


def _shared_y(ax: Axes, scale: pd.DataFrame) -> tuple[float, float]:
    """y limits from `scale`'s means (see y_limits), set on one panel for all that share the axis."""
    limits = y_limits(scale["mean"].to_numpy(), scale["ci95"].to_numpy())
    ax.set_ylim(*limits)
    return limits


def _finish_axes(ax: Axes, points: pd.DataFrame, baseline_x: float, limits: tuple[float, float]) -> None:
    """The baseline at 0, and the intervals that reach beyond the y limits clipped and marked."""
    ax.plot([baseline_x], [0.0], marker="D", color="black", linestyle="none")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    low, high = limits
    ci = points["ci95"].fillna(0.0)
    above, below = points["mean"] + ci > high, points["mean"] - ci < low
    for clipped, y, marker in ((above, high, "^"), (below, low, "v")):
        if clipped.any():
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
    margin = 0.05 * max(high - low, 1.0)  # all at 0 (identical runs) still gets an axis
    return low - margin, high + margin


def plot_language_slopes(slopes: pd.DataFrame, line: pd.DataFrame, labels: dict[str, str], title: str,
                         path: Path) -> None:
    """Each language's slope (mean over seeds, 95% CI) against log10 of its CC-100 tokens, a panel
    per series, each point labelled; languages XLM-R never saw at the left edge, hollow, past a
    dashed rule (languages missing from languages.csv are left out); the mixed model's slope in x
    along r with its 95% band."""
    shown = [s for s in labels if s in set(slopes[SERIES])]
    columns = min(len(shown), PANELS_PER_ROW)
    fig, axes = panels(math.ceil(len(shown) / columns), columns, (4.9, 3.4), SCALING_MARGINS, sharex=True, sharey=True)
    _outer_axes(axes, len(shown))
    seen = np.log10(slopes["cc100_tokens_m"].dropna().to_numpy(dtype=float))
    low, high = (float(seen.min()), float(seen.max())) if len(seen) else (0.0, 1.0)
    unseen_x = low - 0.15 * max(high - low, 1.0) - 0.3
    for ax, series in zip(axes.flat, shown):
        panel = slopes[(slopes[SERIES] == series) & slopes["in_pretraining"].notna()]  # unknown: no facts to place
        fit = line[line[SERIES] == series].sort_values("log10_tokens")
        if not fit.empty:
            ax.fill_between(fit["log10_tokens"], fit["ci_low"], fit["ci_high"], color="tab:purple", alpha=0.2, linewidth=0)
            ax.plot(fit["log10_tokens"], fit["slope"], color="tab:purple", label="mixed model: b_x + b_xr·r")
        tokens = panel["cc100_tokens_m"].to_numpy(dtype=float)
        x = np.where(np.isnan(tokens), unseen_x, np.log10(np.where(np.isnan(tokens), 1.0, tokens)))
        ci = panel["slope_ci95"].fillna(0.0).to_numpy()
        y = panel["slope"].to_numpy(dtype=float)
        never = np.isnan(tokens)
        ax.vlines(x, y - ci, y + ci, color="0.4")
        ax.plot(x[~never], y[~never], "o", color="black", label="language (mean ± 95% CI over seeds)")
        if never.any():
            ax.plot(x[never], y[never], "o", markerfacecolor="white", color="tab:red", label="not in CC-100")
        for xi, yi, code in zip(x, y, panel["language"], strict=True):
            ax.annotate(code, (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize="x-small")
        ax.axvline(unseen_x + 0.15, color="0.6", linestyle="--", linewidth=0.8)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_xticks([unseen_x, *range(math.ceil(low), math.floor(high) + 1)],
                      ["unseen", *(f"{10 ** e:,}" for e in range(math.ceil(low), math.floor(high) + 1))])
        _title(ax, labels[series])
        _legend(ax, "x-small")
    _figure_labels(fig, title, "CC-100 tokens of the language (millions), log scale",
                   "slope b (points per tenfold data)")
    _save(fig, path)


def plot_heatmap(gains: pd.DataFrame, labels: dict[str, str], title: str, path: Path) -> None:
    """Mean gain per language (rows, lowest resource class first) and size (columns), a block of
    columns per series, drawn as one image."""
    shown = [s for s in labels if s in set(gains[SERIES])]
    order = gains.drop_duplicates("language").assign(
        _rank=lambda d: d["group"].map(GROUP_ORDER), _class=lambda d: d["resource_class"].fillna(-1)
    ).sort_values(["_rank", "_class", "language"])
    rows = list(order["language"])
    names = [
        _heatmap_label(c, g, k) for c, g, k in zip(order["language"], order["group"], order["resource_class"], strict=True)
    ]
    grid = gains.pivot_table(index="language", columns=[SERIES, "intermediate_examples"], values="mean")
    columns = sorted(grid.columns, key=lambda c: (shown.index(c[0]), c[1]))  # series in legend order, then size
    values = grid.reindex(index=rows, columns=columns).to_numpy(dtype=float)
    fractions = gains.groupby([SERIES, "intermediate_examples"])["intermediate_fraction"].first()
    shown = [s for s in shown if any(c[0] == s for c in columns)]  # a series whose means are all NaN has none
    blocks = [sum(c[0] == s for c in columns) for s in shown]
    limit = float(np.abs(gains["mean"]).max()) or 1.0
    title_lines = max(_wrap(labels[s], n * CELL[0]).count("\n") + 1 for s, n in zip(shown, blocks, strict=True))
    margins = replace(HEATMAP_MARGINS, top=HEATMAP_MARGINS.top + 0.17 * title_lines)
    fig, axes = panels(1, 1, (CELL[0] * values.shape[1], CELL[1] * len(rows)), margins)
    ax = axes[0, 0]
    # a mesh of cells draws in a tenth of an image's time at this size (an image is resampled per pixel);
    # cells without a value are left out and show the grey background
    image = ax.pcolormesh(np.arange(values.shape[1] + 1) - 0.5, np.arange(len(rows) + 1) - 0.5,
                          np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit)
    ax.set_facecolor(MISSING_COLOR)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    if values.size <= ANNOTATED_CELLS:
        _annotate(ax, values, limit)
    for y in np.flatnonzero(np.diff(order["_rank"].to_numpy())) + 0.5:
        ax.axhline(y, color="black", linewidth=1.2)
    starts = np.concatenate([[0], np.cumsum(blocks)])
    for start, end, series in zip(starts[:-1], starts[1:], shown, strict=True):
        if start:
            ax.axvline(start - 0.5, color="white", linewidth=4)
        ax.text((start + end - 1) / 2, 1.02, _wrap(labels[series], (end - start) * CELL[0]),
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize="small")
    ax.set_yticks(range(len(rows)), names)
    ax.set_xticks(range(len(columns)), [_amount(examples, fractions[(s, examples)]) for s, examples in columns],
                  fontsize="x-small")
    ax.set_xlabel("intermediate examples (fraction)")
    box = ax.get_position()
    colorbar = fig.add_axes((box.x1 + 0.3 / fig.get_figwidth(), box.y0 + 0.1 * box.height,
                             COLORBAR_WIDTH / fig.get_figwidth(), 0.8 * box.height))
    fig.colorbar(image, cax=colorbar, label="mean gain (points)")
    _figure_labels(fig, title)
    _save(fig, path)


def _wrap(text: str, inches: float) -> str:
    """A block title broken into lines that fit its width (about 14 small characters an inch)."""
    return textwrap.fill(text, max(12, int(14 * inches)))


def _heatmap_label(code: str, group: str, klass: object) -> str:
    """Row label with the resource class, so the low-resource block is recognisable at a glance."""
    if group == TRAINING:
        return f"{code} (training)"
    return f"{code} ({'?' if pd.isna(klass) else klass})"


def _figure_labels(fig: Figure, title: str, xlabel: str = "", ylabel: str = "") -> None:
    """The title, and the axis labels all panels share, at fixed distances from the figure's edges
    (in the margins `panels` leaves), however large the figure."""
    width, height = fig.get_size_inches()
    fig.suptitle(title, y=1 - 0.1 / height, va="top")
    if xlabel:
        fig.supxlabel(xlabel, y=0.08 / height, va="bottom")
    if ylabel:
        fig.supylabel(ylabel, x=0.08 / width, ha="left")


def _save(fig: Figure, path: Path) -> None:
    """PNG at zlib level 3: a quarter less encoding time than the default 6, for files a third larger."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, pil_kwargs={"compress_level": 3})


def _annotate(ax: Axes, grid: np.ndarray, limit: float) -> None:
    """Cell values, white on dark cells so they stay legible."""
    for (i, j), value in np.ndenumerate(grid):
        if not math.isnan(value):
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6, color=color, in_layout=False)
