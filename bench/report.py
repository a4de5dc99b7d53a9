"""Medians, ratios, verdicts and the Markdown of a ``bench.run`` measurement.

``bench.run`` prints one JSON line per measurement (and writes them with ``--jsonl``); this
module turns those lines into the tables and verdicts of RESULTS.md, so the report can be
rebuilt from saved output:

    .venv/bin/python -m bench.report run.jsonl [limits.jsonl ...] --markdown bench/round2.md
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: every contender bench.run can measure, in table order, with its column title
CONTENDERS: dict[str, str] = {
    "page": "signed-in page, caches off",
    "instances": "signed-in instances page, caches off",
    "page-ordinary": "signed-in page, caches and compiled reads off",
    "page-cached": "signed-in page repeated, caches on",
    "anonymous": "anonymous page, cache on",
    "raw": "same SQL (signed in)",
    "raw-anonymous": "same SQL (anonymous)",
    "postgraphile": "PostGraphile 4.14.1",
    "physical": "physical limit",
}
#: throughput ratios are judged at saturation: concurrency 16 and above
JUDGED_FROM_CONCURRENCY = 16
DB_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

Key = tuple[str, int, int, str]  # database, workers, concurrency, contender
Row = dict[str, Any]


# -- medians -------------------------------------------------------------------------------------


def medians(rows: Iterable[Row]) -> dict[Key, dict[str, float]]:
    """The median of each measure over the rounds of each configuration."""
    grouped: dict[Key, list[Row]] = {}
    for row in rows:
        if row.get("kind") == "measurement":
            key = (row["db"], row["workers"], row["c"], row["target"])
            grouped.setdefault(key, []).append(row)
    return {
        key: {
            measure: statistics.median(r[measure] for r in found)
            for measure in ("rps", "p50", "p99", "non2xx", "socket_errors")
        }
        | {"rounds": float(len(found))}
        for key, found in grouped.items()
    }


# -- verdicts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """``subject ÷ baseline ≥ minimum`` in requests per second."""

    baseline: str
    minimum: float
    percent: bool  # show the ratio as a percentage (else as a multiple)
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    required: bool = True  # the verdict needs this baseline measured on some database


@dataclass(frozen=True)
class RatioTarget:
    """A throughput target against one or more baselines, judged at saturation."""

    number: str
    text: str
    subject: str
    floors: tuple[Floor, ...]


#: round 3 (PERFORMANCE.md P15-P18; P19 is a test: tests/schema/http/test_response_cache.py)
ROUND_3_TARGETS = (
    RatioTarget(
        "P15",
        "signed-in page, caches off: ≥ 2.0× PostGraphile and ≥ 25 % of the physical limit",
        "page",
        (
            Floor("postgraphile", 2.0, False, ("postgresql",)),
            Floor("physical", 0.25, True, ("postgresql",)),
        ),
    ),
    RatioTarget(
        "P16",
        "signed-in page repeated (per-viewer cache): ≥ 3.0× PostGraphile and ≥ 50 % of the limit",
        "page-cached",
        (
            Floor("postgraphile", 3.0, False, ("postgresql",)),
            Floor("physical", 0.50, True, ("postgresql",)),
        ),
    ),
    RatioTarget(
        "P17",
        "anonymous page: ≥ 3.0× PostGraphile and ≥ 50 % of the limit",
        "anonymous",
        (
            Floor("postgraphile", 3.0, False, ("postgresql",)),
            Floor("physical", 0.50, True, ("postgresql",)),
        ),
    ),
    RatioTarget(
        "P18",
        "the instances page (50 instances with image, flavor and charge lines) ≥ 1.0× the "
        "images page",
        "instances",
        (Floor("page", 1.0, False),),
    ),
)
RATIO_TARGETS = (
    RatioTarget(
        "P10",
        "signed-in page, caches off: ≥ 0.5× PostGraphile and ≥ 8 % of the physical limit",
        "page",
        (Floor("postgraphile", 0.5, False), Floor("physical", 0.08, True)),
    ),
    RatioTarget(
        "P11",
        "signed-in page repeated, caches on: ≥ 1.0× PostGraphile and ≥ 40 % of physical",
        "page-cached",
        (Floor("postgraphile", 1.0, False), Floor("physical", 0.40, True)),
    ),
    RatioTarget(
        "P12",
        "anonymous page: ≥ 2× PostGraphile and ≥ 40 % of the physical limit",
        "anonymous",
        (Floor("postgraphile", 2.0, False), Floor("physical", 0.40, True)),
    ),
    RatioTarget(
        "P1",
        "signed-in page ≥ 15 % (SQLite) / 30 % (PostgreSQL) of the same-SQL baseline",
        "page",
        (
            Floor("raw", 0.15, True, ("sqlite",), required=False),
            Floor("raw", 0.30, True, ("postgresql",), required=False),
        ),
    ),
    RatioTarget(
        "P7",
        "anonymous page ≥ 50 % of the same-SQL baseline asked anonymously",
        "anonymous",
        (Floor("raw-anonymous", 0.50, True, required=False),),
    ),
)


@dataclass
class Verdict:
    """One target's verdict: met (True/False) or None when it was not measured."""

    number: str
    text: str
    measured: str
    met: bool | None

    def as_row(self) -> Row:
        """The verdict as a JSON line."""
        return {
            "kind": "verdict",
            "target": self.number,
            "text": self.text,
            "measured": self.measured,
            "met": self.met,
        }


def _ratio(value: float, percent: bool) -> str:
    return f"{value:.1%}" if percent else f"{value:.2f}×"


def _span(values: Sequence[float], percent: bool) -> str:
    low, high = _ratio(min(values), percent), _ratio(max(values), percent)
    return low if low == high else f"{low}–{high}"


def _combine(results: Sequence[bool | None]) -> bool | None:
    if any(r is False for r in results):
        return False
    if not results or any(r is None for r in results):
        return None
    return True


def _ratios(
    table: dict[Key, dict[str, float]], db: str, subject: str, baseline: str
) -> list[float]:
    """``subject ÷ baseline`` in req/s at every configuration of ``db`` with c ≥ 16."""
    found = []
    for key in sorted(table):
        if key[0] != db or key[3] != subject or key[2] < JUDGED_FROM_CONCURRENCY:
            continue
        base = table.get((db, key[1], key[2], baseline))
        if base is not None and base["rps"] > 0:
            found.append(table[key]["rps"] / base["rps"])
    return found


def ratio_verdict(target: RatioTarget, table: dict[Key, dict[str, float]]) -> Verdict:
    """Every measured configuration at c ≥ 16 must meet every floor."""
    parts: list[str] = []
    results: list[bool | None] = []
    for floor in target.floors:
        measured = False
        for db in floor.databases:
            ratios = _ratios(table, db, target.subject, floor.baseline)
            if not ratios:
                continue
            measured = True
            results.append(min(ratios) >= floor.minimum)
            parts.append(
                f"{DB_TITLES[db]} ÷ {CONTENDERS[floor.baseline]}: {_span(ratios, floor.percent)}"
                f" (needs ≥ {_ratio(floor.minimum, floor.percent)})"
            )
        if not measured and floor.required:
            results.append(None)
            parts.append(f"÷ {CONTENDERS[floor.baseline]}: not measured")
    if not any(r is not None for r in results):
        return Verdict(target.number, target.text, "not measured", None)
    return Verdict(target.number, target.text, "; ".join(parts), _combine(results))


def workers_verdict(table: dict[Key, dict[str, float]]) -> Verdict:
    """P13: with 2 workers at c = 1 the page's p50 is within 1.2× of one worker's."""
    text = "`--workers 2` at c = 1: p50 within 1.2× of one worker (signed-in page, caches off)"
    parts, results = [], []
    for db in DB_TITLES:
        one, two = table.get((db, 1, 1, "page")), table.get((db, 2, 1, "page"))
        if one is None or two is None:
            continue
        ratio = two["p50"] / one["p50"]
        results.append(ratio <= 1.2)
        note = f"{DB_TITLES[db]} {two['p50']:.2f} / {one['p50']:.2f} ms = {ratio:.2f}×"
        physical = (table.get((db, 1, 1, "physical")), table.get((db, 2, 1, "physical")))
        if physical[0] is not None and physical[1] is not None:
            note += f" (physical limit: {physical[1]['p50'] / physical[0]['p50']:.2f}×)"
        parts.append(note)
    measured = "; ".join(parts) if parts else "not measured (needs workers 1 and 2 at c = 1)"
    return Verdict("P13", text, measured, _combine(results) if results else None)


def throughput_verdict(table: dict[Key, dict[str, float]], images: dict[str, int]) -> Verdict:
    """P2: ≥ 700 req/s, 2 workers, c = 64, SQLite, 100k images, caches off."""
    text = "≥ 700 req/s, 2 workers, c = 64, SQLite, 100k images (caches off)"
    found = table.get(("sqlite", 2, 64, "page"))
    if found is None:
        return Verdict("P2", text, "not measured (needs SQLite, 2 workers, c = 64)", None)
    count = images.get("sqlite", 0)
    measured = f"{found['rps']:.1f} req/s at {count:,} images"
    if count < 100_000:
        measured += " (fewer than the target's 100k: not judged)"
        return Verdict("P2", text, measured, None)
    return Verdict("P2", text, measured, found["rps"] >= 700)


def latency_verdict(table: dict[Key, dict[str, float]]) -> Verdict:
    """P4: p99 ≤ 2 × p50 at saturation (the highest c measured) and p99 ≤ 10 ms at c = 1."""
    text = "p99 ≤ 2 × p50 at saturation and p99 ≤ 10 ms at c = 1 (caches off)"
    parts, results = [], []
    for db in DB_TITLES:
        for workers in sorted({k[1] for k in table if k[0] == db and k[3] == "page"}):
            levels = sorted(k[2] for k in table if k[:2] == (db, workers) and k[3] == "page")
            top = table[(db, workers, levels[-1], "page")]
            if levels[-1] >= JUDGED_FROM_CONCURRENCY:
                spread = top["p99"] / top["p50"]
                results.append(spread <= 2.0)
                parts.append(f"{DB_TITLES[db]} {workers}w c={levels[-1]}: p99/p50 {spread:.2f}")
            else:
                results.append(None)
                parts.append(f"{DB_TITLES[db]} {workers}w: saturation (c ≥ 16) not measured")
            single = table.get((db, workers, 1, "page"))
            if single is not None:
                results.append(single["p99"] <= 10.0)
                parts.append(f"{DB_TITLES[db]} {workers}w c=1: p99 {single['p99']:.2f} ms")
            else:
                results.append(None)
                parts.append(f"{DB_TITLES[db]} {workers}w: c = 1 not measured")
    if not parts:
        return Verdict("P4", text, "not measured", None)
    return Verdict("P4", text, "; ".join(parts), _combine(results))


def limits_verdict(rows: Sequence[Row], table: dict[Key, dict[str, float]]) -> Verdict:
    """P14: the request limits add < 5 % to the page's p50.

    The milliseconds they add are timed in process (limits vs no-checks). When the same lines
    hold the HTTP page's p50 (1 worker, c = 1) on that database, the share is of that p50 (what
    a client waits); otherwise of the in-process p50, which is smaller, so the share is larger.
    """
    text = "the request limits (cost, depth, aliases) add < 5 % to the page's p50"
    by_db: dict[str, dict[str, Row]] = {}
    for row in rows:
        if row.get("kind") == "limits":
            by_db.setdefault(row["db"], {})[row["variant"]] = row
    parts, results = [], []
    for db, variants in by_db.items():
        on, off = variants.get("limits"), variants.get("no-checks")
        if on is None or off is None:
            continue
        added = on["p50_ms"] - off["p50_ms"]
        http = table.get((db, 1, 1, "page"))
        if http is not None:
            share = added / (http["p50"] - added)
            where = f"of the HTTP page's p50 without them ({http['p50'] - added:.2f} ms)"
        else:
            share = added / off["p50_ms"]
            where = f"of the in-process p50 without them ({off['p50_ms']:.2f} ms)"
        results.append(share < 0.05)
        parts.append(f"{DB_TITLES.get(db, db)} +{added:.2f} ms = +{share:.1%} {where}")
    if not parts:
        return Verdict("P14", text, "not measured (`bench.run --limits-overhead`)", None)
    return Verdict("P14", text, "; ".join(parts), _combine(results))


def verdicts(rows: Sequence[Row]) -> list[Verdict]:
    """Every target's verdict from the lines of one or more runs."""
    table = medians(rows)
    images = {r["db"]: r["images"] for r in rows if r.get("kind") == "measurement"}
    found = [ratio_verdict(t, table) for t in ROUND_3_TARGETS]
    found += [ratio_verdict(t, table) for t in RATIO_TARGETS[:3]]
    found += [
        workers_verdict(table),
        throughput_verdict(table, images),
        latency_verdict(table),
        limits_verdict(rows, table),
    ]
    found += [ratio_verdict(t, table) for t in RATIO_TARGETS[3:]]
    return found


# -- Markdown ------------------------------------------------------------------------------------


def _cell(found: dict[str, float] | None) -> str:
    if found is None:
        return "—"
    cell = f"{found['rps']:,.1f} req/s · {found['p50']:.2f} / {found['p99']:.2f} ms"
    if found["non2xx"] or found["socket_errors"]:
        cell += f" · **{found['non2xx']:.0f} non-2xx, {found['socket_errors']:.0f} socket errors**"
    return cell


def _ratio_cell(table: dict[Key, dict[str, float]], key: Key, baseline: str, pct: bool) -> str:
    subject, base = table.get(key), table.get((*key[:3], baseline))
    if subject is None or base is None or not base["rps"]:
        return "—"
    return _ratio(subject["rps"] / base["rps"], pct)


RATIO_COLUMNS = (
    ("page", "postgraphile", False),
    ("page", "physical", True),
    ("page-cached", "postgraphile", False),
    ("page-cached", "physical", True),
    ("anonymous", "postgraphile", False),
    ("anonymous", "physical", True),
    ("page", "raw", True),
)
SHORT = {
    "page": "page",
    "page-cached": "repeated",
    "anonymous": "anonymous",
    "raw": "same SQL",
    "raw-anonymous": "same SQL anon.",
    "postgraphile": "PostGraphile",
    "physical": "physical",
}


def _tables(rows: Sequence[Row], table: dict[Key, dict[str, float]]) -> list[str]:
    lines: list[str] = []
    statements = {r["db"]: r for r in rows if r.get("kind") == "statements"}
    images = {r["db"]: r["images"] for r in rows if r.get("kind") == "measurement"}
    for db in DB_TITLES:
        keys = sorted(k for k in table if k[0] == db)
        if not keys:
            continue
        present = [c for c in CONTENDERS if any(k[3] == c for k in keys)]
        configs = sorted({k[1:3] for k in keys})
        rounds = int(max(table[k]["rounds"] for k in keys))
        lines += [
            f"### {DB_TITLES[db]}, {images.get(db, 0):,} images "
            f"(median of {rounds} round{'s' if rounds != 1 else ''}; req/s · p50 / p99)",
            "",
        ]
        if db in statements:
            s = statements[db]
            lines += [
                f"SQL statements per request: signed-in page {s['graphql']}, same SQL "
                f"{s['raw']}, physical limit 1; the stored page is {s['page_bytes']:,} bytes.",
                "",
            ]
        lines.append("| workers | c | " + " | ".join(CONTENDERS[c] for c in present) + " |")
        lines.append("|---|---|" + "---|" * len(present))
        for workers, c in configs:
            cells = [_cell(table.get((db, workers, c, name))) for name in present]
            lines.append(f"| {workers} | {c} | " + " | ".join(cells) + " |")
        columns = [col for col in RATIO_COLUMNS if col[0] in present and col[1] in present]
        if columns:
            lines += [
                "",
                "| workers | c | "
                + " | ".join(f"{SHORT[a]} ÷ {SHORT[b]}" for a, b, _ in columns)
                + " |",
                "|---|---|" + "---|" * len(columns),
            ]
            for workers, c in configs:
                cells = [_ratio_cell(table, (db, workers, c, a), b, p) for a, b, p in columns]
                lines.append(f"| {workers} | {c} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _limits_table(rows: Sequence[Row]) -> list[str]:
    found = [r for r in rows if r.get("kind") == "limits"]
    if not found:
        return []
    lines = [
        "### P14 — request limits on vs off (`schema.execute` of the signed-in page, in process)",
        "",
        "| database | variant | requests | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for r in found:
        lines.append(
            f"| {DB_TITLES.get(r['db'], r['db'])} | {r['variant']} | {r['n']} | "
            f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} |"
        )
    return [*lines, ""]


def _mark(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not judged"}[met]


def markdown(rows: Sequence[Row]) -> str:
    """The tables and verdicts of one or more runs, ready for RESULTS.md."""
    table = medians(rows)
    lines = ["## `bench.run`: the console's pages against three baselines", ""]
    for meta in (r for r in rows if r.get("kind") == "meta"):
        lines += [
            f"Run {meta['date']}, commit {meta['commit']}; `{meta['command']}`.",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
            "",
        ]
    lines += _tables(rows, table)
    lines += _limits_table(rows)
    lines += [
        "### Verdicts",
        "",
        f"Throughput ratios are judged at every measured configuration with c ≥ "
        f"{JUDGED_FROM_CONCURRENCY}; PostGraphile runs on PostgreSQL only.",
        "",
        "| # | target | measured | met? |",
        "|---|---|---|---|",
    ]
    for verdict in verdicts(rows):
        lines.append(
            f"| {verdict.number} | {verdict.text} | {verdict.measured} | {_mark(verdict.met)} |"
        )
    return "\n".join(lines) + "\n"


def read_lines(paths: Iterable[Path]) -> list[Row]:
    """The JSON lines of saved runs (other lines are skipped)."""
    rows: list[Row] = []
    for path in paths:
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def main() -> None:
    """Rebuild the Markdown report from saved JSON lines."""
    parser = argparse.ArgumentParser()
    parser.add_argument("jsonl", type=Path, nargs="+")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    text = markdown(read_lines(args.jsonl))
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
