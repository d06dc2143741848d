"""Figures of a :class:`~nnoverlap.paper.report.Report` (matplotlib: ``nnoverlap[plot]``).

- :func:`plot_mnno_scatter`: mNNO(f(X), X) against mNNO(f(X), Y) for every main map, axes
  zoomed to the data, the diagonal, chance, 95 % intervals, mNNO(X, Y) of each direction; and
  beside it the gain mNNO(f(X), Y) − mNNO(X, Y) of every map with its interval.
- :func:`plot_depth_curves`: trained nets of depth 0–5, both directions of every pair, with
  mNNO(X, Y) and chance marked; :func:`plot_untrained`: experiment 2, standardised and raw
  inputs.
- :func:`plot_k_curve`: the gain against k/n, per protocol; :func:`plot_k_curve_measures`:
  the gain of every measure beside mNNO against k/n (the first protocol).

Every title says protocol, k and n; legends sit outside the axes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .experiments import MapRow
    from .report import Report

__all__ = [
    "plot_depth_curves",
    "plot_k_curve",
    "plot_k_curve_measures",
    "plot_mnno_scatter",
    "plot_untrained",
    "write_figures",
]

_MARKERS = {"mse": "o", "cosine": "^", "ranking": "v"}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plots need matplotlib: pip install 'nnoverlap[plot]' (or pip install matplotlib)"
        ) from None
    return plt


def _main(report: Report, protocol: str, keys: set[str] | None = None) -> list[MapRow]:
    cfg = report.config
    keys = set(cfg.settings) if keys is None else keys
    return [
        r
        for r in report.rows
        if r.variant == "main"
        and r.seed == cfg.seeds[0]
        and r.protocol == protocol
        and r.setting in keys
        and r.ok
    ]


def _n_of(rows: list[MapRow]) -> str:
    sizes = sorted({s for r in rows for s in r.unit_sizes})
    return str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"


def plot_mnno_scatter(report: Report, path: str | Path, protocol: str | None = None) -> Path:
    """The main finding at the headline k: scatter (left) and gains over mNNO(X, Y) (right)."""
    plt = _pyplot()
    protocol = protocol or report.config.protocols[0]
    rows = _main(report, protocol)
    if not rows:
        raise ValueError(f"the report has no experiment 1 results under protocol {protocol}")
    k = rows[0].main_k
    i = rows[0].ks.index(k)
    groups = list(dict.fromkeys((r.dataset, r.direction) for r in rows))
    cmap = plt.get_cmap("tab10")
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(12, 5.6), dpi=100, gridspec_kw={"width_ratios": [1.1, 1]}
    )
    xs, ys = [], []
    for gi, g in enumerate(groups):
        color = cmap(gi % 10)
        sel = [r for r in rows if (r.dataset, r.direction) == g]
        for r in sel:
            a, b = r.fx_x[i], r.fx_y[i]
            xs += [r.ci_fx_x[i][0], r.ci_fx_x[i][1]]
            ys += [r.ci_fx_y[i][0], r.ci_fx_y[i][1]]
            ax.errorbar(
                a,
                b,
                xerr=[[a - r.ci_fx_x[i][0]], [r.ci_fx_x[i][1] - a]],
                yerr=[[b - r.ci_fx_y[i][0]], [r.ci_fx_y[i][1] - b]],
                fmt=_MARKERS.get(r.loss, "o"),
                color=color,
                mfc=color if r.model == "mlp" else "white",
                mec=color,
                ms=6,
                lw=0.8,
                capsize=2,
                zorder=3,
            )
        xy = sel[0].x_y[i]
        ys.append(xy)
        ax.axhline(xy, color=color, ls=":", lw=1.2, zorder=1)
        ax.plot([], [], color=color, lw=6, label=f"{g[0]} {g[1]} (dotted: mNNO(X,Y))")
    chance = rows[0].chance[i]
    lo = max(0.0, min(min(xs), min(ys), chance) - 0.03)
    hi = min(1.0, max(max(xs), max(ys)) + 0.03)
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, label="diagonal f(X),X = f(X),Y")
    ax.axhline(chance, color="grey", ls="--", lw=0.8, label=f"chance k/(n−1) = {chance:.3f}")
    ax.axvline(chance, color="grey", ls="--", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, max(ys) + 0.03)
    for loss, m in _MARKERS.items():
        if any(r.loss == loss for r in rows):
            ax.plot([], [], m, color="grey", label=f"loss {loss} (filled: net, open: linear)")
    ax.set_xlabel(f"mNNO@{k}(f(X), X): keeps the input's neighbours")
    ax.set_ylabel(f"mNNO@{k}(f(X), Y): takes on the target's neighbours")
    ax.set_title(
        f"Experiment 1, protocol {protocol}, k = {k}, n = {_n_of(rows)} per unit", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    # Right: the gain over mNNO(X, Y), one row per map, with its interval.
    labels = []
    for j, r in enumerate(rows):
        gi = groups.index((r.dataset, r.direction))
        gain = r.fx_y[i] - r.x_y[i]
        bx.errorbar(
            gain,
            j,
            xerr=[[gain - r.ci_gain[i][0]], [r.ci_gain[i][1] - gain]],
            fmt=_MARKERS.get(r.loss, "o"),
            color=cmap(gi % 10),
            mfc=cmap(gi % 10) if r.model == "mlp" else "white",
            ms=5,
            capsize=2,
        )
        labels.append(f"{r.direction} {r.label}")
    bx.axvline(0.0, color="black", lw=0.8)
    bx.set_yticks(range(len(rows)))
    bx.set_yticklabels(labels, fontsize=6)
    bx.invert_yaxis()
    bx.set_xlabel(f"mNNO@{k}(f(X), Y) − mNNO@{k}(X, Y), 95 % bootstrap interval")
    bx.set_title("Does the map add any of Y's neighbourhoods beyond X's?", fontsize=10)
    bx.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_depth_curves(report: Report, path: str | Path, protocol: str | None = None) -> Path:
    """Trained mse nets of depth 0–5: one panel per pair and direction (both directions)."""
    plt = _pyplot()
    cfg = report.config
    protocol = protocol or cfg.protocols[0]
    rows = [
        r
        for r in _main(report, protocol, keys=None if False else {f"mlp{d}-mse" for d in range(6)})
        if r.depth in cfg.depths
    ]
    if not rows:
        raise ValueError("the report has no trained depth curve")
    panels = list(dict.fromkeys((r.dataset, r.direction) for r in rows))
    cols = min(4, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(3.6 * cols, 3.2 * nrows + 0.6), dpi=100, squeeze=False
    )
    k = rows[0].main_k
    for pi, key in enumerate(panels):
        ax = axes[pi // cols][pi % cols]
        sel = sorted((r for r in rows if (r.dataset, r.direction) == key), key=lambda r: r.depth)
        i = sel[0].ks.index(k)
        d = [r.depth for r in sel]
        for name, vals, cis, color, m in (
            (
                "mNNO(f(X), X)",
                [r.fx_x[i] for r in sel],
                [r.ci_fx_x[i] for r in sel],
                "tab:blue",
                "o",
            ),
            (
                "mNNO(f(X), Y)",
                [r.fx_y[i] for r in sel],
                [r.ci_fx_y[i] for r in sel],
                "tab:red",
                "s",
            ),
        ):
            ax.errorbar(
                d,
                vals,
                yerr=[[v - c[0] for v, c in zip(vals, cis)], [c[1] - v for v, c in zip(vals, cis)]],
                color=color,
                marker=m,
                ms=4,
                capsize=2,
                label=name,
            )
        ax.axhline(sel[0].x_y[i], color="black", ls=":", lw=1.2, label="mNNO(X, Y)")
        ax.axhline(sel[0].chance[i], color="grey", ls="--", lw=0.8, label="chance k/(n−1)")
        ax.set_title(f"{key[0]}: {key[1]} (n = {_n_of(sel)})", fontsize=9)
        ax.set_xticks(d)
        ax.set_xlabel("hidden layers (0: linear layer)")
        ax.set_ylim(0, min(1.0, max(max(r.ci_fx_x[i][1] for r in sel), sel[0].x_y[i]) + 0.05))
        ax.grid(alpha=0.3)
        if pi % cols == 0:
            ax.set_ylabel(f"mNNO@{k}")
    for j in range(len(panels), nrows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(
        f"Trained nets (mse, {cfg.net.activation}, early stopping) of depth 0–5, protocol "
        f"{protocol}, k = {k}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_untrained(report: Report, path: str | Path) -> Path:
    """Experiment 2: untrained nets, one panel per input set; solid standardised, dashed raw."""
    plt = _pyplot()
    pts = report.depths
    if not pts:
        raise ValueError("the report has no experiment 2 results to plot")
    panels = list(dict.fromkeys((p.dataset, p.input) for p in pts))
    cols = min(4, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(3.6 * cols, 3.2 * nrows + 0.6), dpi=100, squeeze=False, sharey=True
    )
    cmap = plt.get_cmap("tab10")
    acts = list(dict.fromkeys(p.activation for p in pts))
    k = min(pts[0].ks, key=lambda k: (abs(k - 10), k))
    styles = {"standardised": "-", "raw": "--"}
    for pi, key in enumerate(panels):
        ax = axes[pi // cols][pi % cols]
        sel = [p for p in pts if (p.dataset, p.input) == key]
        for ai, act in enumerate(acts):
            for scaling, ls in styles.items():
                line = sorted(
                    (p for p in sel if p.activation == act and p.scaling == scaling),
                    key=lambda p: p.depth,
                )
                if not line:
                    continue
                j = line[0].ks.index(k)
                ax.errorbar(
                    [p.depth for p in line],
                    [p.mean[j] for p in line],
                    yerr=[p.std[j] for p in line],
                    color=cmap(ai),
                    ls=ls,
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"{act}, {scaling}",
                )
        ax.axhline(sel[0].chance[sel[0].ks.index(k)], color="grey", ls="--", lw=0.8, label="chance")
        ax.set_title(f"{key[0]}: X = {key[1]} (n = {sel[0].n})", fontsize=9)
        ax.set_xlabel("hidden layers (0: random linear map)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if pi % cols == 0:
            ax.set_ylabel(f"mNNO@{k}(f(X), X)")
    for j in range(len(panels), nrows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(
        f"Experiment 2: untrained nets applied to X, k = {k} (mean ± sd over seeds)", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_k_curve(report: Report, path: str | Path) -> Path:
    """mNNO(f(X), Y) − mNNO(X, Y) against k/n for the control maps, one panel per protocol."""
    plt = _pyplot()
    cfg = report.config
    protocols = [p for p in cfg.protocols if _main(report, p, set(cfg.controls))]
    if not protocols:
        raise ValueError("the report has no control maps to draw a k-curve of")
    fig, axes = plt.subplots(
        1, len(protocols), figsize=(4.6 * len(protocols), 4.2), dpi=100, squeeze=False, sharey=True
    )
    cmap = plt.get_cmap("tab10")
    for pi, protocol in enumerate(protocols):
        ax = axes[0][pi]
        rows = _main(report, protocol, set(cfg.controls))
        for ri, r in enumerate(rows):
            n = min(r.unit_sizes)
            x = [k / n for k in r.ks]
            g = [b - c for b, c in zip(r.fx_y, r.x_y)]
            lo = [c[0] for c in r.ci_gain]
            hi = [c[1] for c in r.ci_gain]
            color = cmap(ri % 10)
            ls = "-" if r.model == "linear" else "--"
            ax.plot(
                x,
                g,
                color=color,
                ls=ls,
                marker="o",
                ms=3,
                label=f"{r.dataset} {r.direction} {r.label}",
            )
            ax.fill_between(x, lo, hi, color=color, alpha=0.12)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("k / n (n: items per unit)")
        ax.set_title(f"protocol {protocol}, n = {_n_of(rows)}", fontsize=9)
        ax.grid(alpha=0.3)
        if pi == 0:
            ax.set_ylabel("mNNO(f(X), Y) − mNNO(X, Y)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(
        "The k-curve: does the map add Y's neighbourhoods at any scale? (95 % intervals)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.08 + 0.025 * math.ceil(len(labels) / 2), 1, 0.94))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_k_curve_measures(report: Report, path: str | Path) -> Path:
    """For the control maps under the first protocol, one panel per measure (mNNO, Jaccard,
    trustworthiness, CKNNA): the measure of (f(X), Y) minus that of (X, Y) against k/n."""
    from .report import MEASURE_LABELS

    plt = _pyplot()
    cfg = report.config
    protocol = cfg.protocols[0]
    rows = [r for r in _main(report, protocol, set(cfg.controls)) if r.extras]
    if not rows:
        raise ValueError("the report has no control maps with the measures to draw")
    panels = [("mnno", "mNNO"), *MEASURE_LABELS.items()]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 3.8), dpi=100, squeeze=False
    )
    cmap = plt.get_cmap("tab10")
    for pi, (name, label) in enumerate(panels):
        ax = axes[0][pi]
        for ri, r in enumerate(rows):
            n = min(r.unit_sizes)
            if name == "mnno":
                b, c = r.fx_y, r.x_y
            else:
                b, c = r.extras[f"{name}_fx_y"], r.extras[f"{name}_x_y"]
            pts = [
                (k / n, bb - cc)
                for k, bb, cc in zip(r.ks, b, c)
                if math.isfinite(bb) and math.isfinite(cc)
            ]
            if not pts:
                continue
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color=cmap(ri % 10),
                ls="-" if r.model == "linear" else "--",
                marker="o",
                ms=3,
                label=f"{r.dataset} {r.direction} {r.label}",
            )
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("k / n (n: items per unit)")
        ax.set_title(f"{label}: (f(X),Y) − (X,Y)", fontsize=9)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(
        f"The k-curve in every measure (protocol {protocol}, n = {_n_of(rows)}): "
        "does the map add Y's neighbourhoods?",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.08 + 0.025 * math.ceil(len(labels) / 2), 1, 0.92))
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def write_figures(report: Report, out: Path) -> list[Path]:
    """Every figure the report has data for, into directory ``out``; the files written."""
    written = []
    cfg = report.config
    if report.rows:
        for protocol in cfg.protocols:
            if _main(report, protocol):
                written.append(
                    plot_mnno_scatter(report, out / f"mnno_scatter_{protocol}.png", protocol)
                )
        if any(r.model == "mlp" and r.loss == "mse" for r in report.rows) and cfg.depths:
            written.append(plot_depth_curves(report, out / "depth_trained.png"))
        if cfg.curve_ks and any(_main(report, p, set(cfg.controls)) for p in cfg.protocols):
            written.append(plot_k_curve(report, out / "k_curve.png"))
            if any(r.extras for r in _main(report, cfg.protocols[0], set(cfg.controls))):
                written.append(plot_k_curve_measures(report, out / "k_curve_measures.png"))
    if report.depths:
        written.append(plot_untrained(report, out / "depth_untrained.png"))
    return written
