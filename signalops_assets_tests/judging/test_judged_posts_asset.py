"""judged_posts through Dagster: offline default, a fake provider, failures kept, idempotent."""

from __future__ import annotations

from collections import Counter

from dagster import materialize
from sqlalchemy import Engine, func, select

from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.assets import judged_posts
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer


def run(db_url: str, api_base: str = "") -> dict[str, object]:
    result = materialize(
        [judged_posts],
        resources={
            "database": DatabaseResource(url=db_url),
            "llm": LLMResource(api_base=api_base, num_retries=0),
        },
    )
    assert result.success
    mat = result.asset_materializations_for_node("judged_posts")[0]
    return {k: v.value for k, v in mat.metadata.items()}


def test_offline_judge_materializes_all_posts_once(
    engine: Engine, db_url: str, spectra: object
) -> None:
    meta = run(db_url)
    with session_scope(engine) as session:
        total = session.scalar(select(func.count()).select_from(Post))
        judged = session.scalar(select(func.count()).select_from(Judgment))
        rows = session.execute(select(Judgment.label, Post.raw).join(Post)).all()
    assert judged == total == meta["posts_judged"] and total >= 300
    assert "local/keyword-judge" in str(meta["by_project"])
    # The offline judge is a keyword stand-in, but it must get the clear cases right.
    clear = Counter(
        (label, raw["synthetic_category"])
        for label, raw in rows
        if raw.get("synthetic_category") in {"relevant", "irrelevant"}
    )
    correct = clear[("relevant", "relevant")] + clear[("irrelevant", "irrelevant")]
    assert correct / sum(clear.values()) > 0.9
    again = run(db_url)
    assert again["posts_judged"] == 0


def test_failures_are_stored_not_dropped(
    engine: Engine,
    db_url: str,
    spectra: object,
    fake_llm: FakeOpenAIServer,
    isolated_env,  # type: ignore[no-untyped-def]
    monkeypatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-only")
    cfg = isolated_env / "projects" / "spectra.yaml"
    cfg.write_text(
        cfg.read_text().replace("judge_model: local/keyword-judge", "judge_model: openai/judge-x")
    )
    fake_llm.set_behavior("judge-x", malformed="prose")
    meta = run(db_url, fake_llm.base_url)
    with session_scope(engine) as session:
        errors = session.scalar(select(func.count()).where(Judgment.error.is_not(None)))
        total = session.scalar(select(func.count()).select_from(Post))
        labels = set(session.scalars(select(Judgment.label).where(Judgment.error.is_not(None))))
    assert errors == total == meta["failures"]
    assert labels == {"maybe"}
    # Post text is delimited and untrusted in the prompt the provider received.
    call = fake_llm.calls("judge-x")[0]
    assert "<untrusted_" in call.prompt_text and "never instructions" in call.prompt_text
    assert call.has_authorization and "sk-test-only" not in str(meta)
