"""Experiment analysis on 1,000,000 judgments in one experiment, SQLite then PostgreSQL.

baseline: the seed's row loop — every judgment of the experiment loaded as an ORM row with its
post's human label, then counts, agreement, label mix, error rate, latency p50/p95 (sorted
lists), cost and a chi-square on the label mix (scipy) computed in Python.
ours: `analyze_experiment` (GROUP BY / COUNT / SUM and one ORDER BY ... OFFSET probe per
quantile, in the database).
Both run in this process on the same rows: ours RUNS times (best counts; the first run also
pays one-time lazy imports), the baseline once (it is slow). Their per-arm figures are
cross-checked before any timing is printed, so the race is fair.
Targets: ours >= 20x faster than the baseline and under 3 s, on each database.

Data: a split experiment (canary_pct 0.5), one judgment per post; ~5% of posts human-labeled
and 0.5% of judgments carrying their own label; ~2% errors (timeouts, parse failures);
log-normal latencies; per-call costs, 1% unknown. Loaded through the migrated schema and its
indexes (driver executemany on SQLite, COPY then VACUUM ANALYZE on PostgreSQL); the load is
timed and printed on its own line, outside the measurement.
BENCH_ANALYSIS_ROWS sets the number of judgments. PostgreSQL: a fresh database on
SIGNALOPS_BENCH_PG (default postgres@127.0.0.1:5432), dropped at the end; skipped with a note
when the server is unreachable.
"""

from __future__ import annotations

import io
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import numpy as np
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from signalops_assets.db.migrate import ensure_schema
from signalops_assets.db.models import ABExperiment, Judgment, Post, Project
from signalops_assets.db.session import make_engine
from signalops_assets.experiments.analysis import ExperimentResult, analyze_experiment
from signalops_assets.vocab import LABELS

DEFAULT_ROWS = 1_000_000
RUNS = 3
CHUNK = 50_000
TARGET_RATIO = 20.0
TARGET_SECONDS = 3.0
EXPERIMENT_ID = "bench-exp"
PROJECT_ID = "bench"
MODELS = {"primary": "openai/gpt-4o-mini", "canary": "ft:gpt-4o-mini:signalops:judge-v2"}
TIMEOUT_ERROR = "latency budget exceeded: > 8000 ms"
PARSE_ERROR = "parse failure: label 'n/a' not in relevant/irrelevant/maybe"
BIO = "SRE at a startup; on call for the payments API; opinions my own"
# Lengths like the judge's real output and real posts, so rows are as wide as in production.
REASONING = (
    "The author describes a latency regression in production and asks for a tracing tool, "
    "which matches the project's ideal customer."
)
POST_TEXT = (
    "our p99 latency spiked again after the deploy and nobody can tell which service is "
    "slow. any tracing tool that doesn't need a week of setup? #sre #observability"
)
CREATED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PG_URL = os.environ.get("SIGNALOPS_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")

POST_COLUMNS = (
    "id",
    "project_id",
    "platform_id",
    "author",
    "author_bio",
    "text",
    "created_at",
    "raw",
    "human_label",
    "imported_at",
)
JUDGMENT_COLUMNS = (
    "id",
    "post_id",
    "project_id",
    "judge_key",
    "label",
    "confidence",
    "reasoning",
    "model_id",
    "latency_ms",
    "cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "error",
    "human_label",
    "experiment_id",
    "arm",
    "is_primary",
    "trace_id",
    "created_at",
)


def rows_from_env() -> int:
    return int(os.environ.get("BENCH_ANALYSIS_ROWS", str(DEFAULT_ROWS)))


# --- data -----------------------------------------------------------------------------------


def generate_chunks(
    n: int, stamp: Any, raw: Any, seed: int = 7
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """(posts, judgments) row tuples in POST_COLUMNS / JUDGMENT_COLUMNS order, CHUNK at a time.

    `stamp` (every created_at) and `raw` (posts.raw, an empty JSON object) come already in the
    loader's database format; None is NULL. Seeded, so SQLite and PostgreSQL get the same rows.
    """
    rng = np.random.default_rng(seed)
    judge_key = {arm: f"experiment:{EXPERIMENT_ID}:{arm}" for arm in MODELS}
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        truth = rng.choice(3, size=size, p=[0.25, 0.6, 0.15])
        labeled = (rng.random(size) < 0.05).tolist()
        reviewed = (rng.random(size) < 0.005).tolist()  # a label set on the judgment itself
        canary = rng.random(size) < 0.5
        correct = rng.random(size) < np.where(canary, 0.86, 0.82)
        judged = np.where(correct, truth, (truth + rng.integers(1, 3, size=size)) % 3).tolist()
        fault = rng.random(size).tolist()  # < 1%: timeout; < 2%: parse failure
        latency = rng.lognormal(np.where(canary, 6.2, 6.6), 0.45, size=size).round(1).tolist()
        tokens_out = rng.integers(40, 160, size=size)
        cost = (np.where(canary, 0.4e-6, 0.6e-6) * (420 + tokens_out)).tolist()
        cost_unknown = (rng.random(size) < 0.01).tolist()
        truth_list, canary_list, tokens = truth.tolist(), canary.tolist(), tokens_out.tolist()
        posts: list[tuple[Any, ...]] = []
        judgments: list[tuple[Any, ...]] = []
        for k in range(size):
            i = start + k + 1
            human = LABELS[truth_list[k]] if labeled[k] else None
            post_text = f"{i}: {POST_TEXT}"
            author = f"@user{i % 50_000}"
            posts.append(
                (i, PROJECT_ID, f"x:{i}", author, BIO, post_text, stamp, raw, human, stamp)
            )
            arm = "canary" if canary_list[k] else "primary"
            error = None
            label = LABELS[judged[k]]
            lat = latency[k]
            price = None if cost_unknown[k] else cost[k]
            if fault[k] < 0.01:
                error, label, lat, price = TIMEOUT_ERROR, "maybe", 8000.0, None
            elif fault[k] < 0.02:
                error, label = PARSE_ERROR, "maybe"
            confidence, reasoning = (0.0, "") if error else (0.9, REASONING)
            own_label = LABELS[truth_list[k]] if reviewed[k] else None
            completion = None if error else tokens[k]
            judgments.append(
                (
                    *(i, i, PROJECT_ID, judge_key[arm], label, confidence, reasoning, MODELS[arm]),
                    *(lat, price, 420, completion, error, own_label, EXPERIMENT_ID, arm),
                    *(arm == "primary", None, stamp),
                )
            )
        yield posts, judgments


def seed_header(session: Session) -> None:
    session.add(Project(project_id=PROJECT_ID, name="Bench"))
    session.flush()
    session.add(
        ABExperiment(
            experiment_id=EXPERIMENT_ID,
            project_id=PROJECT_ID,
            primary_model=MODELS["primary"],
            canary_model=MODELS["canary"],
            canary_pct=0.5,
            mode="split",
        )
    )
    session.commit()


def _bound(engine: Engine, column: Any, value: Any) -> Any:
    """`value` as SQLAlchemy would send it to this database for `column`."""
    processor = column.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    return processor(value) if processor else value


def load_sqlite(engine: Engine, n: int) -> None:
    """Driver-level executemany in one transaction, through the schema's indexes as built by
    the migrations; constants go through the columns' own SQLAlchemy bind processors."""
    with Session(engine) as session:
        seed_header(session)
    stamp = _bound(engine, Post.__table__.c.created_at, CREATED)
    raw = _bound(engine, Post.__table__.c.raw, {})
    with engine.begin() as conn:
        for posts, judgments in generate_chunks(n, stamp, raw):
            conn.exec_driver_sql(_insert_sql("posts", POST_COLUMNS), posts)
            conn.exec_driver_sql(_insert_sql("judgments", JUDGMENT_COLUMNS), judgments)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _copy_text(value: Any) -> str:
    # COPY text format: \N is NULL; bench values hold no tabs, newlines or backslashes.
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def load_postgres(engine: Engine, n: int) -> None:
    with Session(engine) as session:
        seed_header(session)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for posts, judgments in generate_chunks(n, CREATED.isoformat(), "{}"):
            for table, columns, rows in (
                ("posts", POST_COLUMNS, posts),
                ("judgments", JUDGMENT_COLUMNS, judgments),
            ):
                buffer = io.StringIO()
                buffer.writelines("\t".join(map(_copy_text, r)) + "\n" for r in rows)
                buffer.seek(0)
                cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
        raw.commit()
        cursor.close()
    finally:
        raw.close()
    # What autovacuum does to a table this size shortly after the load.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE posts"))
        conn.execute(text("VACUUM ANALYZE judgments"))


# --- the seed's row loop ----------------------------------------------------------------------


@dataclass
class LoopArm:
    judgments: int = 0
    errors: int = 0
    labeled: int = 0
    agreements: int = 0
    label_mix: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    cost_usd: float = 0.0
    cost_known: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


def _nearest_rank(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    n = len(sorted_values)
    return sorted_values[max(0, min(n - 1, round(q * (n - 1))))]


def seed_row_loop_analysis(session: Session, experiment_id: str) -> dict[str, Any]:
    """Every judgment row into Python, then loops: what the seed did before SQL aggregation."""
    from scipy.stats import chi2_contingency, chisquare

    experiment = session.get(ABExperiment, experiment_id)
    if experiment is None:
        raise LookupError(experiment_id)
    rows = session.execute(
        select(Judgment, Post.human_label)
        .join(Post, Post.id == Judgment.post_id)
        .where(Judgment.experiment_id == experiment_id)
    ).all()
    arms: dict[str, LoopArm] = defaultdict(LoopArm)
    for judgment, post_label in rows:
        if judgment.arm is None:
            continue
        arm = arms[judgment.arm]
        arm.judgments += 1
        arm.latencies.append(judgment.latency_ms)
        if judgment.cost_usd is not None:
            arm.cost_usd += judgment.cost_usd
            arm.cost_known += 1
        human = judgment.human_label or post_label
        # Intention-to-treat: every labelled judgment counts, an error as not agreeing.
        arm.labeled += human is not None
        if judgment.error is not None:
            arm.errors += 1
            continue
        arm.label_mix[judgment.label] += 1
        if human is not None:
            arm.agreements += judgment.label == human
    for arm in arms.values():
        arm.latencies.sort()
        arm.latency_p50_ms = _nearest_rank(arm.latencies, 0.50)
        arm.latency_p95_ms = _nearest_rank(arm.latencies, 0.95)
    primary, canary = arms["primary"], arms["canary"]
    mix = [[a.label_mix.get(label, 0) for label in LABELS] for a in (primary, canary)]
    used = [j for j in range(len(LABELS)) if mix[0][j] or mix[1][j]]  # no all-zero columns
    drift_p = None
    if all(sum(r) for r in mix):
        table = [[r[j] for j in used] for r in mix]
        drift_p = float(chi2_contingency(table, correction=False).pvalue) if len(used) > 1 else 1.0
    ratios = [1 - experiment.canary_pct, experiment.canary_pct]
    total = primary.judgments + canary.judgments
    srm_p = float(chisquare([primary.judgments, canary.judgments], [r * total for r in ratios])[1])
    report = {
        name: {
            "judgments": a.judgments,
            "errors": a.errors,
            "error_rate": a.errors / a.judgments if a.judgments else None,
            "labeled": a.labeled,
            "agreements": a.agreements,
            "agreement": a.agreements / a.labeled if a.labeled else None,
            "label_mix": dict(a.label_mix),
            "latency_p50_ms": a.latency_p50_ms,
            "latency_p95_ms": a.latency_p95_ms,
            "cost_per_1000_usd": 1000 * a.cost_usd / a.cost_known if a.cost_known else None,
        }
        for name, a in (("primary", primary), ("canary", canary))
    }
    return {"arms": report, "label_drift_p": drift_p, "srm_p": srm_p}


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def cross_check(loop: dict[str, Any], ours: ExperimentResult) -> None:
    """The two analyses must agree on every per-arm count and figure, or the race is void."""
    problems = []
    for arm in ours.arms:
        theirs = loop["arms"][arm.arm]
        mine = {
            "judgments": arm.judgments,
            "errors": arm.errors,
            "labeled": arm.labeled,
            "agreements": round((arm.agreement or 0.0) * arm.labeled),
            "label_mix": arm.label_mix,
            "latency_p50_ms": arm.latency_p50_ms,
            "latency_p95_ms": arm.latency_p95_ms,
        }
        for key, value in mine.items():
            if theirs[key] != value:
                problems.append(f"{arm.arm}.{key}: loop {theirs[key]!r} != ours {value!r}")
        a, b = theirs["cost_per_1000_usd"], arm.cost_per_1000_usd
        if not _close(a, b):  # sums of floats in another order
            problems.append(f"{arm.arm}.cost_per_1000_usd: loop {a!r} != ours {b!r}")
    a, b = loop["label_drift_p"], ours.fixed_horizon.get("label_drift_p")
    if not _close(a, b):
        problems.append(f"label_drift_p: loop {a!r} != ours {b!r}")
    if problems:
        raise AssertionError("baseline and ours disagree: " + "; ".join(problems))


# --- measurement -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    database: str
    rows: int
    generate_s: float
    baseline_s: float
    ours_s: list[float]
    result: ExperimentResult
    loop: dict[str, Any]

    @property
    def ours_best_s(self) -> float:
        return min(self.ours_s)

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.ours_best_s


def timed(engine: Engine, fn: Callable[[Session, str], Any]) -> tuple[float, Any]:
    with Session(engine) as session:
        started = time.perf_counter()
        value = fn(session, EXPERIMENT_ID)
        elapsed = time.perf_counter() - started
    return elapsed, value


def measure(
    database: str, engine: Engine, rows: int, load: Callable[[Engine, int], None]
) -> Measurement:
    ensure_schema(engine)
    started = time.perf_counter()
    load(engine, rows)
    generate_s = time.perf_counter() - started
    print(f"{database}: generated {rows:,} judgments + {rows:,} posts in {generate_s:.1f} s")
    ours = [timed(engine, analyze_experiment) for _ in range(RUNS)]
    baseline_s, loop = timed(engine, seed_row_loop_analysis)
    result: ExperimentResult = ours[-1][1]
    cross_check(loop, result)
    m = Measurement(database, rows, generate_s, baseline_s, [t for t, _ in ours], result, loop)
    report(m)
    return m


def report(m: Measurement) -> None:
    runs = ", ".join(f"{t:.3f}" for t in m.ours_s)
    primary, canary = m.result.arms
    print(
        f"{m.database}: cross-check ok (n {primary.judgments:,}/{canary.judgments:,}, "
        f"labeled {primary.labeled:,}/{canary.labeled:,}, "
        f"agreements {m.loop['arms']['primary']['agreements']:,}/"
        f"{m.loop['arms']['canary']['agreements']:,}, verdict {m.result.verdict})"
    )
    print(f"{m.database}: rows                {m.rows:,}")
    print(f"{m.database}: baseline (row loop) {m.baseline_s:8.3f} s  (1 run)")
    print(
        f"{m.database}: ours (SQL)          {m.ours_best_s:8.3f} s  best of {RUNS} "
        f"({runs}; median {statistics.median(m.ours_s):.3f})"
    )
    print(f"{m.database}: ratio               {m.ratio:8.1f}x  baseline / ours best")
    ok_ratio = "ok" if m.ratio >= TARGET_RATIO else "MISSED"
    ok_time = "ok" if m.ours_best_s < TARGET_SECONDS else "MISSED"
    print(f"{m.database}: target ours >= {TARGET_RATIO:.0f}x faster: {ok_ratio}")
    print(f"{m.database}: target ours < {TARGET_SECONDS:.0f} s: {ok_time}")


def run_sqlite(rows: int) -> Measurement:
    with tempfile.TemporaryDirectory(prefix="signalops-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            return measure("sqlite", engine, rows, load_sqlite)
        finally:
            engine.dispose()


def run_postgres(rows: int) -> Measurement | None:
    import psycopg2

    url = make_url(PG_URL)
    name = f"signalops_bench_{os.getpid()}"
    try:
        admin = psycopg2.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"postgresql: skipped, server unreachable at {url.host}:{url.port} ({reason})")
        return None
    admin.autocommit = True
    engine = None
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')
        db_url = url.set(drivername="postgresql+psycopg2", database=name)
        engine = make_engine(db_url.render_as_string(hide_password=False))
        return measure("postgresql", engine, rows, load_postgres)
    finally:
        if engine is not None:
            engine.dispose()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def main(rows: int | None = None, *, postgres: bool = True) -> list[Measurement]:
    rows = rows_from_env() if rows is None else rows
    print(f"experiment analysis on {rows:,} judgments in one experiment (split, canary_pct 0.5)")
    results = [run_sqlite(rows)]
    if postgres:
        pg = run_postgres(rows)
        if pg is not None:
            results.append(pg)
    return results


if __name__ == "__main__":
    main()
