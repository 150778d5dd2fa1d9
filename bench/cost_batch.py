"""Cost of one backlog judged interactively vs in batch mode, priced by LiteLLM's price map.

The same posts are judged twice by `openai/gpt-4o-mini` against the local fake provider (usage =
its word counts): once through `judge_pending` (every call priced by LiteLLM's
`response_cost`), once through batch mode (`submit_pending`, then `poll_batches` until the fake
completes the batches; every line priced by LiteLLM's `batch_cost_calculator`, the `*_batches`
keys). Dollars are the sum of the stored judgments' `cost_usd` on each side; the ratio is batch
over interactive (LiteLLM's map: 0.5 for gpt-4o-mini). `BENCH_COST_POSTS` sets the backlog.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "openai/gpt-4o-mini"


def _project(projects: Path, mode: str) -> Any:
    from signalops_assets.config import load_project_config

    text = (ROOT / "data" / "projects" / "spectra.yaml").read_text()
    text = text.replace("judge_model: local/keyword-judge", f"judge_model: {MODEL}")
    path = projects / "spectra.yaml"
    path.write_text(text.replace("llm:\n", f"llm:\n  mode: {mode}\n", 1))
    return load_project_config(path)


def _database(root: Path, name: str, project: Any, posts: int) -> Any:
    from signalops_assets.db.migrate import ensure_schema
    from signalops_assets.db.session import make_engine, session_scope
    from signalops_assets.posts import ensure_project, import_posts

    sample = (ROOT / "data" / "sample" / "posts.jsonl").read_text().splitlines()
    lines = []
    for i in range(posts):  # the sample, cycled, each copy a distinct post
        row = json.loads(sample[i % len(sample)])
        row["platform_id"] = f"{row.get('platform_id', 'p')}-{i}"
        lines.append(json.dumps(row))
    source = root / f"{name}.jsonl"
    source.write_text("\n".join(lines) + "\n")
    engine = make_engine(f"sqlite:///{root / name}.db")
    ensure_schema(engine)
    with session_scope(engine) as session:
        ensure_project(session, project)
        import_posts(session, project.project_id, source)
    return engine


def _cost(engine: Any) -> tuple[float, int]:
    from sqlalchemy import func, select

    from signalops_assets.db.models import Judgment
    from signalops_assets.db.session import session_scope

    with session_scope(engine) as session:
        total, n = session.execute(
            select(func.sum(Judgment.cost_usd), func.count()).where(
                Judgment.error.is_(None), Judgment.superseded.is_(False)
            )
        ).one()
    return float(total or 0.0), int(n)


def run(posts: int = 200) -> dict[str, float]:
    """Judge `posts` posts both ways; dollars of each and their ratio."""
    from signalops_assets.judging.batch_poll import poll_batches
    from signalops_assets.judging.batches import submit_pending
    from signalops_assets.judging.judges import LLMPromptJudge
    from signalops_assets.judging.service import judge_pending
    from signalops_assets.llm.settings import LLMSettings
    from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-key")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as fake:
        root = Path(tmp)
        (root / "projects").mkdir()
        os.environ["SIGNALOPS_PROJECTS_DIR"] = str(root / "projects")
        settings = LLMSettings(api_base=fake.base_url, num_retries=0, max_concurrency=32)
        interactive = _project(root / "projects", "interactive")
        engine = _database(root, "interactive", interactive, posts)
        judge = LLMPromptJudge(settings.gateway(), interactive)
        judge_pending(engine, "spectra", judge, max_concurrency=settings.max_concurrency)
        interactive_usd, interactive_n = _cost(engine)

        batch = _project(root / "projects", "batch")  # the file poll_batches loads
        engine = _database(root, "batch", batch, posts)
        submitted = submit_pending(
            engine, batch, LLMPromptJudge(settings.gateway(), batch), settings
        )
        assert not isinstance(submitted, str), submitted
        for _ in range(5):  # the fake moves a batch one state per poll
            if poll_batches(engine, lambda _p: settings).describe() == "no open batches":
                break
        batch_usd, batch_n = _cost(engine)
    if interactive_n != posts or batch_n != posts:
        raise SystemExit(f"judged {interactive_n} interactively, {batch_n} in batch, of {posts}")
    return {
        "posts": posts,
        "interactive_usd": interactive_usd,
        "batch_usd": batch_usd,
        "ratio": batch_usd / interactive_usd,
        "interactive_calls": fake.call_count(),
    }


def main() -> None:
    posts = int(os.environ.get("BENCH_COST_POSTS", "200"))
    r = run(posts)
    print(
        f"{posts} posts by {MODEL}: interactive ${r['interactive_usd']:.4f} "
        f"({r['interactive_usd'] / posts * 1000:.4f} $/1k), batch ${r['batch_usd']:.4f} "
        f"({r['batch_usd'] / posts * 1000:.4f} $/1k); batch/interactive = {r['ratio']:.3f}x "
        "(LiteLLM price map *_batches keys)"
    )


if __name__ == "__main__":
    main()
