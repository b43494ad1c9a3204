"""The report's figures, drawn on bare `Figure`s so no pyplot state or display backend is involved."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xfer_scale.atomic import atomic_path
from xfer_scale.report.groups import AVERAGED_GROUPS, GROUP_COLORS, GROUP_LABELS, GROUP_ORDER, TRAINING


@dataclass(frozen=True)
class Section:
    """What report.md shows for one target: its split, and its plots as (caption, relative path)."""

    target: str
    split: str
    plots: list[tuple[str, str]]


def write_plots(tables: dict[str, pd.DataFrame], splits: dict[str, str], out: Path) -> list[Section]:
    """Per target (headline split) and metric: the scaling curves and the language x fraction heat map."""
    sections = []
    groups, gains, fits = tables["groups"], tables["gains"], tables["scaling_fit"]
    for target, split in splits.items():
        plots: list[tuple[str, str]] = []
        target_gains = gains[(gains["target_task"] == target) & (gains["split"] == split)]
        for metric in sorted(target_gains["metric"].unique()):
            title = f"{target}: {metric}, {split} split"
            cell = (groups["target_task"] == target) & (groups["split"] == split) & (groups["metric"] == metric)
            curve = groups[cell & (groups["quantity"] == "gain")]
            if not curve.empty:  # empty when only English was evaluated: nothing zero-shot to average
                fit = fits[(fits["target_task"] == target) & (fits["split"] == split) & (fits["metric"] == metric)]
                scaling = Path("plots") / f"{safe_name('scaling', target, metric, split)}.png"
                plot_scaling(curve, fit, title, metric, out / scaling)
                plots.append((f"scaling curves, {target} {metric}", scaling.as_posix()))
            heatmap = Path("plots") / f"{safe_name('heatmap', target, metric, split)}.png"
            by_language = target_gains[target_gains["metric"] == metric]
            plot_heatmap(by_language, f"{title}: mean gain per language", out / heatmap)
            plots.append((f"gain heat map, {target} {metric}", heatmap.as_posix()))
        sections.append(Section(target, split, plots))
    return sections


def safe_name(*parts: str) -> str:
    """A file name from task/metric names, which may hold characters file systems dislike."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(p)) for p in parts)


def _panels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(zip(frame["model"], frame["intermediate_task"], strict=True)))


def _panel_title(model: str, task: str, several_models: bool) -> str:
    return f"{task} ({model})" if several_models else f"intermediate: {task}"


def plot_scaling(groups: pd.DataFrame, fits: pd.DataFrame, title: str, metric: str, path: Path) -> None:
    """Gain vs examples (log axis), one line per language group with 95% CI bars and its fitted line."""
    panels = _panels(groups)
    fig = Figure(figsize=(5.5 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (model, task) in zip(axes, panels, strict=True):
        panel = groups[(groups["model"] == model) & (groups["intermediate_task"] == task)]
        for group in AVERAGED_GROUPS:
            points = panel[panel["group"] == group]
            if points.empty:
                continue
            _draw_group(ax, points.sort_values("intermediate_examples"), fits, model, task, group)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("intermediate training examples (log scale)")
        ax.set_title(_panel_title(model, task, len({m for m, _ in panels}) > 1))
        ax.legend(fontsize="small")
    axes[0].set_ylabel(f"gain over baseline ({metric}, points)")
    fig.suptitle(title)
    _save(fig, path)


def _draw_group(ax, points: pd.DataFrame, fits: pd.DataFrame, model: str, task: str, group: str) -> None:
    fit = fits[(fits["model"] == model) & (fits["intermediate_task"] == task) & (fits["group"] == group)]
    slope = fit["slope"].iloc[0] if len(fit) else math.nan
    label = f"{GROUP_LABELS[group]}, b={slope:+.2f}" if not math.isnan(slope) else GROUP_LABELS[group]
    color = GROUP_COLORS[group]
    ax.errorbar(
        points["intermediate_examples"], points["mean"], yerr=points["ci95"].fillna(0.0),
        marker="o", capsize=3, color=color, label=label,
    )
    if not math.isnan(slope):
        xs = np.geomspace(points["intermediate_examples"].min(), points["intermediate_examples"].max(), 50)
        ax.plot(xs, fit["intercept"].iloc[0] + slope * np.log10(xs), linestyle="--", linewidth=1, color=color)


def plot_heatmap(gains: pd.DataFrame, title: str, path: Path) -> None:
    """Mean gain per language (rows, lowest resource class first) and fraction (columns)."""
    panels = _panels(gains)
    order = gains.drop_duplicates("language").assign(
        _rank=lambda d: d["group"].map(GROUP_ORDER), _class=lambda d: d["resource_class"].fillna(-1)
    ).sort_values(["_rank", "_class", "language"])
    rows = list(order["language"])
    labels = [
        _heatmap_label(c, g, k) for c, g, k in zip(order["language"], order["group"], order["resource_class"], strict=True)
    ]
    boundaries = np.flatnonzero(np.diff(order["_rank"].to_numpy())) + 0.5
    limit = float(np.abs(gains["mean"]).max()) or 1.0
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.85")
    fig = Figure(figsize=(1.2 + 3.2 * len(panels), 1.5 + 0.28 * len(rows)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (model, task) in zip(axes, panels, strict=True):
        grid = gains[(gains["model"] == model) & (gains["intermediate_task"] == task)].pivot_table(
            index="language", columns="intermediate_fraction", values="mean", aggfunc="mean"
        ).reindex(rows)
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        _annotate(ax, values, limit)
        for y in boundaries:
            ax.axhline(y, color="black", linewidth=1.2)
        ax.set_xticks(range(grid.shape[1]), [f"{f:g}" for f in grid.columns])
        ax.set_yticks(range(len(rows)), labels)
        ax.set_xlabel("intermediate fraction")
        ax.set_title(_panel_title(model, task, len({m for m, _ in panels}) > 1), fontsize="medium")
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


def _annotate(ax, grid: np.ndarray, limit: float) -> None:
    """Cell values, white on dark cells so they stay legible."""
    for (i, j), value in np.ndenumerate(grid):
        if not math.isnan(value):
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6, color=color)
