"""The report of a run: what holds under which protocol and k, every table, JSON, figures.

:class:`Report` holds every :class:`~nnoverlap.paper.experiments.MapRow` and
:class:`~nnoverlap.paper.experiments.DepthPoint`; :func:`findings` counts, per protocol and k,
the settings in which each of the paper's claims holds (with bootstrap intervals deciding
"significantly"), and :meth:`Report.to_markdown` writes it all as tables that say protocol, k
and n.

>>> from nnoverlap.paper.report import verdict
>>> verdict(36, 36)
'all 36'
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .experiments import DepthPoint, MapRow, ReproduceConfig

__all__ = ["MEASURE_LABELS", "Report", "findings", "load_report", "verdict"]

#: The measures beside mNNO in the tables, by their key in ``MapRow.extras``, with labels.
MEASURE_LABELS: dict[str, str] = {
    "jaccard": "Jaccard",
    "trustworthiness": "trustworthiness",
    "cknna": "CKNNA",
}


def verdict(count: int, total: int) -> str:
    """``"all 36"``, ``"none of 36"`` or ``"20 of 36"``.

    >>> verdict(0, 4), verdict(3, 4)
    ('none of 4', '3 of 4')
    """
    if count == total:
        return f"all {total}"
    if count == 0:
        return f"none of {total}"
    return f"{count} of {total}"


def _f(v: float | None, digits: int = 3) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _ci(pair: list[float], digits: int = 3) -> str:
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def _p(v: float) -> str:
    return "—" if not math.isfinite(v) else f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def _n_text(r: MapRow) -> str:
    sizes = sorted(set(r.unit_sizes))
    if len(r.unit_sizes) == 1:
        return f"{r.n}"
    span = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"
    return f"{len(r.unit_sizes)} × {span}"


def _main_rows(rows: list[MapRow], cfg: ReproduceConfig, protocol: str) -> list[MapRow]:
    keys = set(cfg.settings)
    return [
        r
        for r in rows
        if r.variant in ("main", "in-sample")
        and r.seed == cfg.seeds[0]
        and r.protocol == protocol
        and r.setting in keys
    ]


def protocols_of(rows: list[MapRow], cfg: ReproduceConfig) -> list[str]:
    """The protocols the rows were measured under: the configured order, then the rest
    (``split`` forced by explicit train/test files), the in-sample control last."""
    present = list(dict.fromkeys(r.protocol for r in rows))
    first = [p for p in cfg.protocols if p in present]
    rest = [p for p in present if p not in first and p != "in-sample"]
    return first + rest + (["in-sample"] if "in-sample" in present else [])


def findings(rows: list[MapRow], cfg: ReproduceConfig) -> list[dict[str, Any]]:
    """Per protocol (and the in-sample control) and table k, how many main settings bear out:

    - ``keeps_input``: mNNO(f(X), X) > mNNO(f(X), Y) (the paper's main finding), and
      ``keeps_input_sig``: with the 95 % bootstrap interval of the difference above 0;
    - ``not_above_xy``: mNNO(f(X), Y) <= mNNO(X, Y) (the claim "the map does not take on
      Y's neighbourhoods beyond what X already shares"), and ``above_xy_sig``: intervals of
      mNNO(f(X), Y) − mNNO(X, Y) wholly above 0 (the claim fails, significantly);
    - ratio range mNNO(f(X), X) / mNNO(f(X), Y) and the largest gain over mNNO(X, Y).
    """
    out = []
    for protocol in protocols_of(rows, cfg):
        sel = [r for r in _main_rows(rows, cfg, protocol) if r.ok]
        if not sel:
            continue
        table_ks = [k for k in sel[0].ks if cfg.ks is None or k in cfg.ks]
        if cfg.ks is None:
            from .experiments import DEFAULT_KS

            table_ks = [k for k in table_ks if k in DEFAULT_KS]
        for k in table_ks:
            i = sel[0].ks.index(k)
            ratios = [r.fx_x[i] / r.fx_y[i] for r in sel if r.fx_y[i] > 0]
            gains = [r.fx_y[i] - r.x_y[i] for r in sel]
            out.append(
                {
                    "protocol": protocol,
                    "k": k,
                    "settings": len(sel),
                    "n": sorted({_n_text(r) for r in sel}),
                    "keeps_input": sum(r.fx_x[i] > r.fx_y[i] for r in sel),
                    "keeps_input_sig": sum(r.ci_gap[i][0] > 0 for r in sel),
                    "ratio_min": min(ratios) if ratios else math.nan,
                    "ratio_max": max(ratios) if ratios else math.nan,
                    "not_above_xy": sum(r.fx_y[i] <= r.x_y[i] for r in sel),
                    "above_xy_sig": sum(r.ci_gain[i][0] > 0 for r in sel),
                    "below_xy_sig": sum(r.ci_gain[i][1] < 0 for r in sel),
                    "gain_max": max(gains),
                    "gain_min": min(gains),
                    "by_measure": _by_measure(sel, i),
                }
            )
    return out


def _by_measure(sel: list[MapRow], i: int) -> dict[str, dict[str, int]]:
    """Per measure beside mNNO (and linear CKA, global): in how many settings the measure of
    (f(X), X) exceeds that of (f(X), Y), and that of (f(X), Y) exceeds that of (X, Y); the
    settings where the measure is defined."""
    out: dict[str, dict[str, int]] = {}
    for name in MEASURE_LABELS:
        trip = [
            (r.extras[f"{name}_fx_x"][i], r.extras[f"{name}_fx_y"][i], r.extras[f"{name}_x_y"][i])
            for r in sel
            if f"{name}_fx_y" in r.extras
        ]
        trip = [t for t in trip if all(math.isfinite(v) for v in t)]
        if trip:
            out[name] = {
                "settings": len(trip),
                "keeps_input": sum(a > b for a, b, _ in trip),
                "above_xy": sum(b > c for _, b, c in trip),
            }
    # Linear CKA of the in-sample control is left out: runs before this release computed it
    # on the held-out predictions.
    cka = [(r.cka_fx_x, r.cka_fx_y, r.cka_x_y) for r in sel if r.protocol != "in-sample"]
    cka = [t for t in cka if all(math.isfinite(v) for v in t)]
    if cka:
        out["linear_cka"] = {
            "settings": len(cka),
            "keeps_input": sum(a > b for a, b, _ in cka),
            "above_xy": sum(b > c for _, b, c in cka),
        }
    return out


@dataclass
class Report:
    """Everything one run produced: settings, data sets, both experiments, notes, timing."""

    config: ReproduceConfig
    datasets: list[dict[str, Any]]
    rows: list[MapRow]
    depths: list[DepthPoint]
    notes: list[str]
    seconds: float
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """All numbers and settings as JSON-ready values (NaN becomes ``null``)."""
        from .. import __version__

        return _json_ready(
            {
                "what": "Collell & Moens (ACL 2018) reproduction: do cross-modal mappings "
                "bridge modalities?",
                "nnoverlap_version": __version__,
                "numpy_version": np.__version__,
                "command": self.command,
                "settings": self.config.to_dict(),
                "datasets": self.datasets,
                "notes": self.notes,
                "findings": findings(self.rows, self.config),
                "experiment1": [asdict(r) for r in self.rows],
                "experiment2": [p.to_dict() for p in self.depths],
                "seconds": self.seconds,
            }
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """Findings, every table (each saying protocol, k and n), settings and notes."""
        return _markdown(self)

    def write(self, out: str | os.PathLike[str], plots: bool = True) -> list[Path]:
        """Write ``results.md``, ``results.json`` and (with matplotlib) the figures to ``out``.

        Without matplotlib the figures are skipped and a note says so. Returns the files.
        """
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        if plots:
            from .plots import write_figures

            try:
                written.extend(write_figures(self, d))
            except ImportError as exc:
                self.notes.append(f"plots skipped: {exc}")
        md = d / "results.md"
        md.write_text(self.to_markdown(), encoding="utf-8")
        js = d / "results.json"
        js.write_text(self.to_json(), encoding="utf-8")
        return [md, js, *written]


def load_report(path: str | os.PathLike[str]) -> Report:
    """A :class:`Report` read back from the ``results.json`` that :meth:`Report.write` wrote
    (to render its tables and figures again; ``null`` numbers come back as NaN).

    >>> import tempfile, numpy as np
    >>> from nnoverlap.paper import PairedSet, ReproduceConfig, reproduce
    >>> X = np.random.default_rng(0).standard_normal((40, 5))
    >>> cfg = ReproduceConfig.quick(ks=(5,), settings=("linear-mse",), depths=(), depth=False)
    >>> rep = reproduce([PairedSet("toy", "x", "y", X, X[:, :3])], cfg)
    >>> out = tempfile.mkdtemp()
    >>> _ = rep.write(out, plots=False)
    >>> load_report(out + "/results.json").to_markdown() == rep.to_markdown()
    True
    """
    from .experiments import DepthPoint, MapRow, ReproduceConfig
    from .maps import NetSettings

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        settings = dict(data["settings"])
        settings["net"] = NetSettings(**settings["net"])
        tuples = {f for f, v in settings.items() if isinstance(v, list)}
        values: dict[str, Any] = {f: tuple(v) if f in tuples else v for f, v in settings.items()}
        cfg = ReproduceConfig(**values)
        rows = [MapRow(**_nan_back(r)) for r in data["experiment1"]]
        keep = {f.name for f in fields(DepthPoint)}
        depths = [
            DepthPoint(**{f: v for f, v in _nan_back(d).items() if f in keep})
            for d in data["experiment2"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{p}: not a results.json of nnoverlap reproduce ({exc})") from None
    return Report(
        config=cfg,
        datasets=data["datasets"],
        rows=rows,
        depths=depths,
        notes=list(data["notes"]),
        seconds=float(data["seconds"]),
        command=data.get("command"),
    )


#: Fields of the JSON whose ``null`` entries are NaN numbers (everything numeric but ``fit``).
_NOT_NUMBERS = {"fit", "dataset", "direction", "setting", "label", "model", "loss"}


def _nan_back(obj: Any, key: str = "") -> Any:
    if key in _NOT_NUMBERS:
        return obj
    if isinstance(obj, dict):
        return {k: _nan_back(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_back(v) for v in obj]
    return math.nan if obj is None else obj


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    return obj


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

_PROTOCOL_WORDS = {
    "per-fold": "per fold: each fold's map measured among its own test items",
    "split": "split: one map, measured among the held-out test items",
    "pooled": "pooled: the out-of-fold predictions of all fold maps searched together",
    "in-sample": "in-sample control: each fold's map measured among as many of its own "
    "training items",
}


def _findings_md(report: Report) -> list[str]:
    rows = findings(report.rows, report.config)
    if not rows:
        return []
    lines = [
        "## What holds, by protocol and k\n",
        "Main settings: every map of the grid, both directions, every data set (CV seed "
        f'{report.config.seeds[0]}). "Significant": the 95 % bootstrap interval (items '
        "resampled) of the difference excludes 0.\n",
        "| protocol | k | n | settings | f(X),X > f(X),Y | …significantly | "
        "f(X),X / f(X),Y | f(X),Y ≤ X,Y | f(X),Y > X,Y significantly | f(X),Y − X,Y |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        lines.append(
            f"| {f['protocol']} | {f['k']} | {'; '.join(f['n'])} | {f['settings']} "
            f"| {f['keeps_input']} | {f['keeps_input_sig']} "
            f"| {_f(f['ratio_min'], 2)}–{_f(f['ratio_max'], 2)} | {f['not_above_xy']} "
            f"| {f['above_xy_sig']} | {f['gain_min']:+.3f} to {f['gain_max']:+.3f} |"
        )
    lines.append("")
    for protocol in dict.fromkeys(f["protocol"] for f in rows):
        sel = [f for f in rows if f["protocol"] == protocol]
        words = _PROTOCOL_WORDS.get(protocol, protocol)
        parts = []
        for f in sel:
            parts.append(
                f"k = {f['k']}: mNNO(f(X),X) > mNNO(f(X),Y) in "
                f"{verdict(f['keeps_input'], f['settings'])} "
                f"({f['keeps_input_sig']} significantly); mNNO(f(X),Y) ≤ mNNO(X,Y) in "
                f"{verdict(f['not_above_xy'], f['settings'])}, significantly above it in "
                f"{verdict(f['above_xy_sig'], f['settings'])}"
            )
        lines.append(f"- **{words}.** " + "; ".join(parts) + ".")
    lines.append("")
    lines.extend(_findings_measures_md(rows))
    return lines


def _findings_measures_md(rows: list[dict[str, Any]]) -> list[str]:
    present = {m for f in rows for m in f.get("by_measure", {})}
    names = [m for m in (*MEASURE_LABELS, "linear_cka") if m in present]
    if not names:
        return []
    label = {**MEASURE_LABELS, "linear_cka": "linear CKA"}
    lines = [
        "### The same claims in the other measures\n",
        "From the same neighbour lists as mNNO (linear CKA: from the vectors, over all held-out "
        "items, the same at every k). Each cell: settings where the measure of (f(X), X) "
        "exceeds that of (f(X), Y) (finding 1) · settings where that of (f(X), Y) exceeds that "
        "of (X, Y) (the secondary claim fails), out of the settings where the measure is "
        "defined (trustworthiness needs k < n/2, CKNNA k ≥ 2). Trustworthiness is "
        "T(X → f(X)) and T(Y → f(X)), T(Y → X): is f(X) (or X) a trustworthy picture of it.\n",
        "| protocol | k | mNNO | " + " | ".join(label[m] for m in names) + " |",
        "|---|---:|---|" + "---|" * len(names),
    ]
    for f in rows:
        cells = [f"{f['keeps_input']} · {f['settings'] - f['not_above_xy']} / {f['settings']}"]
        for m in names:
            b = f.get("by_measure", {}).get(m)
            cells.append(
                "—" if b is None else f"{b['keeps_input']} · {b['above_xy']} / {b['settings']}"
            )
        lines.append(f"| {f['protocol']} | {f['k']} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _table_exp1(report: Report, protocol: str) -> list[str]:
    cfg = report.config
    sel = _main_rows(report.rows, cfg, protocol)
    if not sel:
        return []
    k = sel[0].main_k
    i = sel[0].ks.index(k)
    lines = [
        f"### Experiment 1, protocol {protocol}, k = {k}\n",
        f"{_PROTOCOL_WORDS.get(protocol, protocol)}. n: items measured (folds × items per "
        "fold). Brackets: 95 % bootstrap intervals; p: permutation null of mNNO(f(X),Y) "
        f"({cfg.permutations} relabellings); J: Jaccard of f(X) and Y; CKA: linear CKA of f(X) "
        "and Y over all held-out items; fit: median ridge λ or epochs run (early stopping).\n",
        "| data set | direction | map | n | chance | mNNO(f(X),X) | mNNO(f(X),Y) | mNNO(X,Y) "
        "| f(X),Y − X,Y | p | J | R@1 | R@10 | R² | CKA | fit |",
        "|---|---|---|---|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sel:
        lines.append(
            f"| {r.dataset} | {r.direction} | {r.label} | {_n_text(r)} | {_f(r.chance[i], 4)} "
            f"| {_f(r.fx_x[i])} {_ci(r.ci_fx_x[i])} | {_f(r.fx_y[i])} {_ci(r.ci_fx_y[i])} "
            f"| {_f(r.x_y[i])} | {r.fx_y[i] - r.x_y[i]:+.3f} {_ci(r.ci_gain[i])} | {_p(r.p_fx_y)} "
            f"| {_f(r.jaccard_fx_y[i])} | {_f(r.recall_at_1)} | {_f(r.recall_at_10)} "
            f"| {_f(r.r2)} | {_f(r.cka_fx_y)} | {_fit(r)} |"
        )
    lines.append("")
    return lines


def _table_measures(report: Report, protocol: str) -> list[str]:
    cfg = report.config
    sel = [r for r in _main_rows(report.rows, cfg, protocol) if r.extras]
    if not sel:
        return []
    k = sel[0].main_k
    i = sel[0].ks.index(k)
    lines = [
        f"### The measures beside mNNO, protocol {protocol}, k = {k}\n",
        "Each cell: (f(X), X) / (f(X), Y) / (X, Y), from the same neighbour lists as mNNO "
        "(per unit, item-weighted over units; CKNNA weighted by unit size). Trustworthiness: "
        "T(X → f(X)) / T(Y → f(X)) / T(Y → X). Linear CKA: over all held-out items (not "
        "shown for the in-sample control).\n",
        "| data set | direction | map | n | mNNO | Jaccard | trustworthiness | CKNNA "
        "| linear CKA |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def trio(r: MapRow, name: str) -> str:
        vals = [r.extras.get(f"{name}_{c}", [math.nan] * len(r.ks))[i] for c in _COMPARISONS]
        return " / ".join(_f(v) for v in vals)

    for r in sel:
        cka = (
            "—"
            if r.protocol == "in-sample"
            else f"{_f(r.cka_fx_x)} / {_f(r.cka_fx_y)} / {_f(r.cka_x_y)}"
        )
        lines.append(
            f"| {r.dataset} | {r.direction} | {r.label} | {_n_text(r)} "
            f"| {_f(r.fx_x[i])} / {_f(r.fx_y[i])} / {_f(r.x_y[i])} "
            f"| {trio(r, 'jaccard')} | {trio(r, 'trustworthiness')} | {trio(r, 'cknna')} "
            f"| {cka} |"
        )
    lines.append("")
    return lines


_COMPARISONS = ("fx_x", "fx_y", "x_y")


def _fit(r: MapRow) -> str:
    if "ridge" in r.fit:
        lam = float(np.median(r.fit["ridge"]))
        edge = " (grid edge)" if any(r.fit.get("ridge_at_edge", [])) else ""
        return f"λ {lam:.3g}{edge}"
    if "epochs_run" in r.fit:
        e = r.fit["epochs_run"]
        return f"{min(e)}–{max(e)} ep." if min(e) != max(e) else f"{e[0]} ep."
    return ""


def _controls_md(report: Report) -> list[str]:
    cfg = report.config
    protocol = cfg.protocols[0]
    mains = [
        r
        for r in report.rows
        if r.variant == "main"
        and r.seed == cfg.seeds[0]
        and r.protocol == protocol
        and r.setting in set(cfg.controls)
    ]
    if not mains:
        return []
    k = mains[0].main_k
    lines = [
        f"## Controls (protocol {protocol}, k = {k})\n",
        "Main: the map as in the tables. Shuffled: the same map trained on shuffled pairs "
        "(it cannot have learnt the pairing); p from the permutation null of mNNO(f(X),Y). "
        "In-sample: each fold's map measured among as many of its own training items as its "
        f"test part has (same n). Seeds: mean ± sd over CV seeds {list(cfg.seeds)}.\n",
        "| data set | direction | map | main f(X),X / f(X),Y / X,Y | shuffled f(X),X / f(X),Y (p) "
        "| in-sample f(X),X / f(X),Y / X,Y | seeds: f(X),Y − X,Y |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in mains:
        i = m.ks.index(k)

        def find(variant: str, proto: str, m: MapRow = m) -> list[MapRow]:
            key = (m.dataset, m.direction, m.setting, variant, proto)
            return [
                r
                for r in report.rows
                if (r.dataset, r.direction, r.setting, r.variant, r.protocol) == key
            ]

        sh = next((r for r in find("shuffled", protocol) if r.seed == m.seed), None)
        ins = next((r for r in find("main", "in-sample") if r.seed == m.seed), None)
        ins = ins or next((r for r in find("in-sample", "in-sample") if r.seed == m.seed), None)
        seeds = find("main", protocol)
        gains = np.array([r.fx_y[i] - r.x_y[i] for r in seeds])
        sh_txt = f"{_f(sh.fx_x[i])} / {_f(sh.fx_y[i])} ({_p(sh.p_fx_y)})" if sh else "—"
        in_txt = f"{_f(ins.fx_x[i])} / {_f(ins.fx_y[i])} / {_f(ins.x_y[i])}" if ins else "—"
        sd = f" ± {gains.std(ddof=1):.3f}" if gains.size > 1 else ""
        lines.append(
            f"| {m.dataset} (n = {_n_text(m)}) | {m.direction} | {m.label} "
            f"| {_f(m.fx_x[i])} / {_f(m.fx_y[i])} / {_f(m.x_y[i])} | {sh_txt} | {in_txt} "
            f"| {gains.mean():+.3f}{sd} ({gains.size} seeds) |"
        )
    lines.append("")
    return lines


def _curve_md(report: Report) -> list[str]:
    cfg = report.config
    if not cfg.curve_ks:
        return []
    lines = ["## The k-curve: mNNO against k/n\n"]
    for protocol in cfg.protocols:
        sel = [
            r
            for r in report.rows
            if r.variant == "main"
            and r.seed == cfg.seeds[0]
            and r.protocol == protocol
            and r.setting in set(cfg.controls)
        ]
        if not sel:
            continue
        lines.append(
            f"Protocol {protocol}; each cell mNNO(f(X),X) / mNNO(f(X),Y) / mNNO(X,Y); k/n with "
            "n the items per unit (fold or test part).\n"
        )
        ks = sel[0].ks
        lines.append(
            "| data set | direction | map | n | " + " | ".join(f"k = {k}" for k in ks) + " |"
        )
        lines.append("|---|---|---|---|" + "---|" * len(ks))
        for r in sel:
            n_unit = min(r.unit_sizes)
            cells = [
                f"{_f(r.fx_x[i])} / {_f(r.fx_y[i])} / {_f(r.x_y[i])} (k/n {k / n_unit:.3f})"
                for i, k in enumerate(r.ks)
            ]
            lines.append(
                f"| {r.dataset} | {r.direction} | {r.label} | {_n_text(r)} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    return lines


def _curve_measures_md(report: Report) -> list[str]:
    cfg = report.config
    if not cfg.curve_ks:
        return []
    protocol = cfg.protocols[0]
    sel = [
        r
        for r in report.rows
        if r.variant == "main"
        and r.seed == cfg.seeds[0]
        and r.protocol == protocol
        and r.setting in set(cfg.controls)
        and r.extras
    ]
    if not sel:
        return []
    ks = sel[0].ks
    lines = [
        f"### The k-curve in the other measures (protocol {protocol})\n",
        "Each cell: the measure of (f(X), Y) minus that of (X, Y) — does the map add Y's "
        "neighbourhoods at this scale? — and, after the bar, (f(X), X) minus (f(X), Y) "
        "(finding 1's margin). k/n with n the items per unit.\n",
        "| data set | direction | map | measure | " + " | ".join(f"k = {k}" for k in ks) + " |",
        "|---|---|---|---|" + "---|" * len(ks),
    ]
    for r in sel:
        n_unit = min(r.unit_sizes)
        for name, label in (("mnno", "mNNO"), *MEASURE_LABELS.items()):
            if name == "mnno":
                a, b, c = r.fx_x, r.fx_y, r.x_y
            else:
                a, b, c = (r.extras[f"{name}_{x}"] for x in _COMPARISONS)
            cells = [
                "—"
                if not all(math.isfinite(v) for v in (a[j], b[j], c[j]))
                else f"{b[j] - c[j]:+.3f} │ {a[j] - b[j]:+.3f}"
                for j in range(len(ks))
            ]
            lines.append(
                f"| {r.dataset} (n = {n_unit}) | {r.direction} | {r.label} | {label} | "
                + " | ".join(cells)
                + " |"
            )
    k_n = ", ".join(f"k = {k}: {k / min(sel[0].unit_sizes):.3f}" for k in ks)
    lines.append(f"\nk/n for n = {min(sel[0].unit_sizes)}: {k_n}.\n")
    return lines


def _depth_trained_md(report: Report) -> list[str]:
    cfg = report.config
    protocol = cfg.protocols[0]
    sel = [
        r
        for r in report.rows
        if r.variant == "main"
        and r.seed == cfg.seeds[0]
        and r.protocol == protocol
        and r.model == "mlp"
        and r.loss == "mse"
        and r.depth in cfg.depths
    ]
    if not sel:
        return []
    k = sel[0].main_k
    depths = sorted({r.depth for r in sel})
    lines = [
        f"## Trained nets of depth 0–5 (mse, {cfg.net.activation}, protocol {protocol}, k = {k})\n",
        "Each cell mNNO(f(X),X) / mNNO(f(X),Y); depth 0 is a linear layer trained by Adam. "
        "Epochs: the range over folds (early stopping).\n",
        "| data set | direction | n | chance | mNNO(X,Y) | "
        + " | ".join(f"depth {d}" for d in depths)
        + " |",
        "|---|---|---|---:|---:|" + "---|" * len(depths),
    ]
    groups: dict[tuple[str, str, int], dict[int, MapRow]] = {}
    for r in sel:
        groups.setdefault((r.dataset, r.direction, r.n), {})[r.depth] = r
    for (ds, direction, _), by in groups.items():
        any_r = next(iter(by.values()))
        i = any_r.ks.index(k)
        cells = []
        for d in depths:
            q = by.get(d)
            cells.append("—" if q is None else f"{_f(q.fx_x[i])} / {_f(q.fx_y[i])} ({_fit(q)})")
        lines.append(
            f"| {ds} | {direction} | {_n_text(any_r)} | {_f(any_r.chance[i], 4)} "
            f"| {_f(any_r.x_y[i])} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    return lines


def _untrained_md(report: Report) -> list[str]:
    cfg = report.config
    pts = report.depths
    if not pts:
        return []
    k = min(pts[0].ks, key=lambda k: (abs(k - 10), k))
    depths = sorted({p.depth for p in pts})
    scalings = list(cfg.scalings)
    lines = [
        f"## Experiment 2: untrained nets of depth 0–5 applied to X (k = {k})\n",
        f"mNNO(f(X), X), mean over {cfg.depth_seeds} seeds, {cfg.depth_width} units per hidden "
        f"layer and {cfg.depth_width} outputs; depth 0 is a random linear map. Each cell: "
        + " / ".join(f"{s} input" for s in scalings)
        + " (standardised: every column to mean 0 and sd 1 before the net).\n",
        "| data set | X | n | activation | " + " | ".join(f"depth {d}" for d in depths) + " |",
        "|---|---|---:|---|" + "---:|" * len(depths),
    ]
    groups: dict[tuple[str, str, str, int], dict[tuple[str, int], DepthPoint]] = {}
    for p in pts:
        groups.setdefault((p.dataset, p.input, p.activation, p.n), {})[(p.scaling, p.depth)] = p
    for (ds, inp, act, n), by in groups.items():
        cells = []
        for d in depths:
            vals = []
            for s in scalings:
                q = by.get((s, d))
                vals.append("—" if q is None else _f(q.mean[q.ks.index(k)]))
            cells.append(" / ".join(vals))
        lines.append(f"| {ds} | {inp} | {n} | {act} | " + " | ".join(cells) + " |")
    lines.append(
        f"\nChance at k = {k}: k/(n−1), {_f(pts[0].chance[pts[0].ks.index(k)], 4)} "
        f"for n = {pts[0].n}.\n"
    )
    return lines


def _markdown(report: Report) -> str:
    cfg = report.config
    lines = ["# Do cross-modal mappings bridge modalities? (Collell & Moens 2018)\n"]
    lines.extend(_findings_md(report))
    if report.rows:
        lines.append("## Experiment 1: mapped vectors f(X) against their input X and target Y\n")
        for protocol in protocols_of(report.rows, cfg):
            lines.extend(_table_exp1(report, protocol))
        for protocol in protocols_of(report.rows, cfg):
            lines.extend(_table_measures(report, protocol))
        lines.extend(_controls_md(report))
        lines.extend(_curve_md(report))
        lines.extend(_curve_measures_md(report))
        lines.extend(_depth_trained_md(report))
    lines.extend(_untrained_md(report))
    net = cfg.net
    lines.append("## Settings and notes\n")
    lines.append(
        f"Metric {cfg.metric}, exact neighbours, "
        f"{'self counted as a neighbour' if cfg.include_self else 'self excluded'}; protocols "
        f"{', '.join(cfg.protocols)} ({cfg.folds} folds; split test fraction {cfg.test_size}); "
        f"CV seeds {list(cfg.seeds)}. Ridge: λ per map by exact leave-one-out error on its "
        "training part (37 values, 10⁻⁶ to 10³ times the mean squared singular value of the "
        f"centred inputs). Nets: hidden layers of {net.hidden} {net.activation} units, Adam lr "
        f"{net.lr}, batch {net.batch_size}, at most {net.max_epochs} epochs with early stopping "
        f"(patience {net.patience}) on {net.validation:.0%} of the training part, dropout "
        f"{net.dropout}, weight decay {net.weight_decay}, ranking margin {net.margin}"
        + ("; trained on X and Y each divided by its RMS entry" if net.scale else "")
        + f". Bootstrap: {cfg.bootstrap} resamples; null: {cfg.permutations} relabellings. "
        f"Total time {report.seconds:.0f} s.\n"
    )
    for d in report.datasets:
        extra = f", test part {d['n_test']}" if "n_test" in d else ""
        lines.append(
            f"- {d['name']} {d['x']}/{d['y']}: n = {d['n']}{extra}, "
            f"dims {d['dim_x']} / {d['dim_y']}"
        )
    for note in report.notes:
        lines.append(f"- note: {note}")
    if report.command:
        lines.append(f"\nCommand: `{report.command}`")
    return "\n".join(lines) + "\n"
