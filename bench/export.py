"""DPO export of 100,000 pairs (BENCH_EXPORT_PAIRS) in each format, on a fresh SQLite file.

ours: `export_dpo` — rows streamed in `yield_per` batches, each record written to its split's
temp file as it is built, both files replaced atomically at the end.
baseline, same run: the seed's naive export — every pair loaded as an ORM object into a list,
every JSON line built with json.dumps into a list, each file written in one go (no temp file,
no fsync). It writes the same records as ours (checked line by line), so the race is fair.
reference: ours' query and fetch alone, without JSON or files: the ceiling of any export here.
Targets: ≥ 50,000 pairs/s and peak memory growth < 100 MB, in every format.

Each (implementation, format) runs in a fresh child process, after a warm-up export of an empty
project (lazy imports, mapper set-up, the connection and the compiled query are one-off costs):
- time: median of BENCH_EXPORT_RUNS exports (default 3; the slow baseline once), reported as
  pairs exported per wall-clock second (the target), and per CPU second of the process (less
  sensitive to other load on the machine);
- RSS: peak RSS (VmHWM, reset just before) of the first export minus the RSS before it (the
  whole process: Python heap, SQLite page cache, allocator slack);
- tracemalloc: traced peak minus traced start over one more export (Python allocations only;
  tracing slows the code, so that export is not timed).
"peak memory growth" is the larger of the two.

Data: one project; posts with one draft each, whose stored prompt is the real draft prompt;
BENCH_EXPORT_PAIRS exportable pairs (edit ~60%, reject ~20%, manual ~20%; posts and replies of
200-400 characters, 15% of them with an emoji or accented words), plus ~10% filtered pairs and
a few drafts with a malformed stored prompt (skipped by the export). Generation uses bulk Core
inserts and is timed on its own, outside the measurement.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sqlalchemy import Engine, insert, select  # noqa: E402

from signalops_assets.config import load_project_config  # noqa: E402
from signalops_assets.db.migrate import ensure_schema  # noqa: E402
from signalops_assets.db.models import Draft, Post, PreferencePair, Project  # noqa: E402
from signalops_assets.db.session import make_engine, session_scope  # noqa: E402
from signalops_assets.judging.prompts import PostInput  # noqa: E402
from signalops_assets.preferences.drafts import draft_messages  # noqa: E402
from signalops_assets.preferences.export import export_dpo, exportable_pairs_query  # noqa: E402
from signalops_assets.preferences.formats import (  # noqa: E402
    EXPORT_FORMATS,
    build_record,
    prompt_to_messages,
    split_bucket,
    validate_file,
)

PAIRS = int(os.environ.get("BENCH_EXPORT_PAIRS", "100000"))
RUNS = int(os.environ.get("BENCH_EXPORT_RUNS", "3"))
TARGET_PAIRS_S = 50_000
TARGET_GROWTH_MB = 100.0
PROJECT = "spectra"
EVAL_FRACTION = 0.1
SOURCE_SETS = [("edit",), ("edit", "manual"), ("reject",), ("edit",)]  # per draft, cycled
MALFORMED_EVERY = 5003  # one draft in this many has an unusable stored prompt
BAD_PROMPT = json.dumps([{"role": "user", "content": 42}])
WORDS = (  # mostly ASCII, like real posts; NON_ASCII adds the rest
    *("p99", "latency", "tracing", "spans", "collector", "sampling", "exporter", "dashboard"),
    *("alert", "retention", "query", "cardinality", "histogram", "OTLP", "pipeline", "agent"),
    *("Kubernetes", "cost", "budget", "incident", "on-call", "service", "mesh", "logs"),
    *("metrics", "flame", "graph", "regression", "deploy", "rollback", "the", "a", "of", "to"),
    *("and", "for", "with", "our", "your", "we", "it", "is", "was", "slow", "fast", "again"),
    *("after", "since", "every", "on", "in", "why", "how"),
)
NON_ASCII = (" 🚀", " — déjà vu", " (naïve café setup)", " 🙏", " über-slow")
NON_ASCII_SHARE = 0.15  # texts carrying an emoji or accented words


@dataclass
class Expected:
    exported: int = 0
    filtered: int = 0
    skipped: int = 0
    posts: int = 0


def _text(rng: random.Random, low: int = 200, high: int = 400) -> str:
    size = rng.randint(low, high)
    text = " ".join(rng.choices(WORDS, k=size // 3))[:size].rstrip().capitalize()
    return text + (rng.choice(NON_ASCII) if rng.random() < NON_ASCII_SHARE else "") + "."


def _chosen(rng: random.Random, source: str, rejected: str) -> str:
    if source == "edit":  # the reviewer rewrote the opening and the disclosure
        return f"Happy to help! {rejected[30:]} (I work on Spectra.)"
    return _text(rng)  # reject with a better reply, or a manual reply: a different text


def generate(engine: Engine, pairs: int, seed: int = 7) -> Expected:
    """Schema, one project, posts, drafts and pairs until `pairs` of them are exportable."""
    ensure_schema(engine)
    rng, expected = random.Random(seed), Expected()
    cfg = load_project_config(ROOT / "data" / "projects" / f"{PROJECT}.yaml")
    now = datetime(2025, 1, 1, tzinfo=UTC)
    posts: list[dict[str, Any]] = []
    drafts: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    draft_no = 0
    while expected.exported < pairs:
        draft_no += 1
        platform_id, text = f"x:{draft_no}", _text(rng)
        post = PostInput(draft_no, platform_id, f"@dev{draft_no % 997}", "SRE, coffee", text)
        malformed = draft_no % MALFORMED_EVERY == MALFORMED_EVERY // 2
        prompt = BAD_PROMPT if malformed else json.dumps(draft_messages(cfg, post))
        rejected = _text(rng)
        created = now + timedelta(seconds=draft_no)
        posts.append(
            {"id": draft_no, "project_id": PROJECT, "platform_id": platform_id, "text": text}
            | {"author": post.author, "created_at": created, "imported_at": created, "raw": {}}
        )
        drafts.append(
            {"id": draft_no, "post_id": draft_no, "project_id": PROJECT, "model_id": "bench"}
            | {"prompt": prompt, "text_generated": rejected, "status": "edited"}
            | {"created_at": created, "updated_at": created}
        )
        for source in SOURCE_SETS[draft_no % len(SOURCE_SETS)]:
            filtered = len(rows) % 11 == 10
            chosen = rejected + "  " if filtered else _chosen(rng, source, rejected)
            rows.append(
                {"project_id": PROJECT, "draft_id": draft_no, "post_id": draft_no}
                | {"prompt": prompt, "chosen": chosen, "rejected": rejected, "source": source}
                | {"filtered": filtered, "created_at": created, "edit_ratio": 0.4}
                | {"filter_reason": "identical_after_normalization" if filtered else None}
            )
            if filtered:
                expected.filtered += 1
            elif malformed:
                expected.skipped += 1
            else:
                expected.exported += 1
                if expected.exported == pairs:
                    break
    expected.posts = draft_no
    with engine.begin() as conn:
        conn.execute(insert(Project), [{"project_id": PROJECT, "name": "Spectra"}])
        for table, values in ((Post, posts), (Draft, drafts), (PreferencePair, rows)):
            for start in range(0, len(values), 10_000):
                conn.execute(insert(table), values[start : start + 10_000])
    return expected


def naive_export(
    engine: Engine, project_id: str, out_dir: Path, fmt: str, eval_fraction: float
) -> dict[str, int]:
    """The seed's approach: everything in lists, then each file written in one go."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(PreferencePair, Post.platform_id)
            .join(Post, Post.id == PreferencePair.post_id)
            .where(PreferencePair.project_id == project_id, PreferencePair.filtered.is_(False))
            .order_by(PreferencePair.id)
        ).all()
    lines: dict[str, list[str]] = {"train": [], "eval": []}
    for pair, platform_id in rows:
        try:
            messages = prompt_to_messages(pair.prompt)
        except ValueError:
            continue
        split = "eval" if split_bucket(f"{project_id}/{platform_id}") < eval_fraction else "train"
        record = build_record(messages, pair.chosen, pair.rejected, fmt)
        lines[split].append(json.dumps(record, ensure_ascii=False, allow_nan=False))
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, items in lines.items():
        (out_dir / f"{split}.jsonl").write_text("".join(f"{x}\n" for x in items), "utf-8")
    return {split: len(items) for split, items in lines.items()}


def ours_export(
    engine: Engine, project_id: str, out_dir: Path, fmt: str, eval_fraction: float
) -> dict[str, int]:
    return dict(export_dpo(engine, project_id, out_dir, fmt, eval_fraction).counts)


def read_only(
    engine: Engine, project_id: str, out_dir: Path, fmt: str, eval_fraction: float
) -> dict[str, int]:
    """Reference: ours' query and fetch alone, no JSON and no file: the ceiling of any export."""
    query = exportable_pairs_query(project_id)
    with engine.connect() as conn:
        return {"rows": sum(1 for _ in conn.execute(query))}


EXPORTS: dict[str, Callable[[Engine, str, Path, str, float], dict[str, int]]] = {
    "ours": ours_export,
    "baseline": naive_export,
    "read-only": read_only,
}


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> float:
    """The current RSS in MB, with the peak reset to it where Linux allows ("5" > clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS") or _peak_rss()


def _peak_rss() -> float:
    # VmHWM, not ru_maxrss, where there is one: ru_maxrss also carries the pre-exec peak of the
    # forked parent and survives the reset, so it would count the parent's generated data.
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(impl: str, fmt: str, db: Path, out_dir: Path, runs: int) -> dict[str, Any]:
    """In a fresh process: timed exports, RSS growth of the first, one traced export."""
    engine, export = make_engine(f"sqlite:///{db}"), EXPORTS[impl]
    # Warm-up on a project without pairs: lazy imports, mapper set-up, the connection and the
    # compiled query are one-off costs of the process, not growth with the export.
    export(engine, "no-such-project", out_dir.parent / "warm-up", fmt, EVAL_FRACTION)
    times, cpu_times, counts, rss_growth = [], [], {}, 0.0
    for run in range(runs):
        rss_before = _reset_peak_rss()
        started, cpu_started = time.perf_counter(), time.process_time()
        counts = export(engine, PROJECT, out_dir, fmt, EVAL_FRACTION)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        if run == 0:
            rss_growth = _peak_rss() - rss_before
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    export(engine, PROJECT, out_dir, fmt, EVAL_FRACTION)
    traced = (tracemalloc.get_traced_memory()[1] - start) / 2**20
    tracemalloc.stop()
    figures = {"times": times, "cpu": cpu_times, "rss_mb": rss_growth, "traced_mb": traced}
    return {**figures, "counts": counts}


def measure(impl: str, fmt: str, db: Path, out_dir: Path, runs: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", impl, fmt, str(db), str(out_dir), str(runs)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} {fmt} export failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def check_output(fmt: str, ours: Path, baseline: Path, counts: dict[str, int], want: int) -> None:
    """Line counts add up to the exportable pairs, every line validates, both wrote the same
    records. Compared over both files together: ours keys the split on post content, the
    seed on platform id, so a record may sit in the other file."""
    records: dict[str, list[str]] = {"ours": [], "baseline": []}
    for split in ("train", "eval"):
        report = validate_file(ours / f"{split}.jsonl", fmt)
        if not report.ok or report.lines != counts[split]:
            raise RuntimeError(f"{fmt} {split}: {report.lines} lines, {report.errors[:3]}")
        for who, root in (("ours", ours), ("baseline", baseline)):
            with (root / f"{split}.jsonl").open(encoding="utf-8") as fh:
                # Re-encoded: ours is compact orjson, the seed's json.dumps spaced.
                records[who] += [json.dumps(json.loads(line), sort_keys=True) for line in fh]
    if sorted(records["ours"]) != sorted(records["baseline"]):
        raise RuntimeError(f"{fmt}: ours and the baseline wrote different records")
    if counts["train"] + counts["eval"] != want:
        raise RuntimeError(f"{fmt}: exported {counts} but {want:,} pairs are exportable")


def _line(label: str, result: dict[str, Any], pairs: int) -> tuple[float, float]:
    median = statistics.median(result["times"])
    runs = ", ".join(f"{t:.2f}" for t in result["times"])
    rate, cpu_rate = pairs / median, pairs / statistics.median(result["cpu"])
    print(
        f"  {label:<8} {median:6.2f} s median of {len(result['times'])} ({runs}): "
        f"{rate:9,.0f} pairs/s ({cpu_rate:,.0f} per CPU second); memory growth: "
        f"RSS {result['rss_mb']:.1f} MB, tracemalloc peak {result['traced_mb']:.1f} MB"
    )
    return rate, max(result["rss_mb"], result["traced_mb"])


def run(pairs: int, runs: int, workdir: Path) -> dict[str, dict[str, Any]]:
    """Generate, export every format with both implementations, check, print; return figures."""
    db = workdir / "bench.db"
    engine = make_engine(f"sqlite:///{db}")
    started = time.perf_counter()
    expected = generate(engine, pairs)
    engine.dispose()
    total = expected.exported + expected.filtered + expected.skipped
    print(
        f"data: {total:,} pairs in SQLite ({expected.exported:,} exportable, "
        f"{expected.filtered:,} filtered, {expected.skipped:,} with a malformed prompt), "
        f"{expected.posts:,} posts; {db.stat().st_size / 2**20:.0f} MB; "
        f"generated in {time.perf_counter() - started:.1f} s (not measured)",
        flush=True,
    )
    reference = measure("read-only", "trl", db, workdir / "read-only", runs)
    if reference["counts"]["rows"] != pairs + expected.skipped:
        raise RuntimeError(f"read {reference['counts']} rows, expected {pairs + expected.skipped}")
    print("reference, the query and fetch alone (no JSON, no file), the ceiling of any export:")
    _line("read", reference, pairs)
    figures: dict[str, dict[str, Any]] = {"read-only": reference}
    for fmt in EXPORT_FORMATS:
        ours = measure("ours", fmt, db, workdir / "ours" / fmt, runs)
        baseline = measure("baseline", fmt, db, workdir / "baseline" / fmt, 1)
        counts = ours["counts"]
        check_output(fmt, workdir / "ours" / fmt, workdir / "baseline" / fmt, counts, pairs)
        print(
            f"format {fmt}: {pairs:,} pairs exported (train {counts['train']:,}, "
            f"eval {counts['eval']:,}), every line valid, same records as the baseline's files"
        )
        rate, growth = _line("ours", ours, pairs)
        base_rate, base_growth = _line("baseline", baseline, pairs)
        print(
            f"  ours/baseline: throughput {rate / base_rate:.2f}x, peak memory growth "
            f"{growth / base_growth:.3f}x ({growth:.1f} MB vs {base_growth:.1f} MB)"
        )
        speed_ok = "ok" if rate >= TARGET_PAIRS_S else "MISSED"
        memory_ok = "ok" if growth < TARGET_GROWTH_MB else "MISSED"
        print(f"  ≥ {TARGET_PAIRS_S:,} pairs/s: {speed_ok}")
        print(f"  peak memory growth < {TARGET_GROWTH_MB:.0f} MB: {memory_ok}", flush=True)
        figures[fmt] = {"ours": ours, "baseline": baseline, "rate": rate, "growth": growth}
    return figures


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        impl, fmt, db, out_dir, runs = sys.argv[2:]
        print(json.dumps(child(impl, fmt, Path(db), Path(out_dir), int(runs))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        run(PAIRS, RUNS, Path(tmp))


if __name__ == "__main__":
    main()
