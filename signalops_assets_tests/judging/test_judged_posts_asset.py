"""judged_posts through Dagster: offline default, a fake provider, failures kept, idempotent."""

from __future__ import annotations

from collections import Counter

from dagster import materialize
from sqlalchemy import Engine, func, select

from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.assets import judged_posts
from signalops_assets.judging.checks import judged_posts_failure_rate
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets.vocab import LABELS
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer


def run(db_url: str, api_base: str = "", observed: list[object] | None = None) -> dict[str, object]:
    result = materialize(
        [judged_posts, judged_posts_failure_rate],
        resources={
            "database": DatabaseResource(url=db_url),
            "llm": LLMResource(api_base=api_base, num_retries=0),
        },
    )
    assert result.success
    if observed is not None:
        observed += [
            e.asset_observation_data.asset_observation
            for e in result.all_events
            if e.is_asset_observation
        ]
    mat = result.asset_materializations_for_node("judged_posts")[0]
    (check,) = result.get_asset_check_evaluations()
    return {**{k: v.value for k, v in mat.metadata.items()}, "check": check}


def test_offline_judge_materializes_all_posts_once(
    engine: Engine, db_url: str, spectra: object
) -> None:
    observed: list[object] = []
    meta = run(db_url, observed=observed)
    with session_scope(engine) as session:
        total = session.scalar(select(func.count()).select_from(Post))
        judged = session.scalar(select(func.count()).select_from(Judgment))
        rows = session.execute(select(Judgment.label, Post.raw).join(Post)).all()
    assert judged == total == meta["posts_judged"] and total >= 300
    (row,) = meta["this_run"].records  # type: ignore[attr-defined]
    assert "local/keyword-judge" in row.data["judge"] and row.data["posts_judged"] == total
    assert meta["dagster/row_count"] == judged
    (posts,) = observed
    assert posts.asset_key.to_user_string() == "posts"  # type: ignore[attr-defined]
    assert posts.metadata["dagster/row_count"].value == total  # type: ignore[attr-defined]
    columns = {c.name for c in meta["dagster/column_schema"].columns}  # type: ignore[attr-defined]
    assert {"post_id", "judge_key", "label", "arm", "latency_ms"} <= columns
    # The offline judge is a keyword stand-in, but it must get the clear cases right.
    clear = Counter(
        (label, raw["synthetic_category"])
        for label, raw in rows
        if raw.get("synthetic_category") in {"relevant", "irrelevant"}
    )
    correct = clear[("relevant", "relevant")] + clear[("irrelevant", "irrelevant")]
    assert correct / sum(clear.values()) > 0.9
    assert meta["check"].passed  # type: ignore[attr-defined]
    again = run(db_url)
    # Nothing pending: the run says so and still reports the current totals.
    assert again["posts_judged"] == 0 and again["spectra/pending"] == 0
    assert again["spectra/primary/judgments"] == meta["spectra/primary/judgments"] == total
    assert again["dagster/row_count"] == judged


def test_a_shadow_experiment_reports_each_arm_separately(
    engine: Engine, db_url: str, spectra: object
) -> None:
    from signalops_assets.experiments.service import create_experiment

    with session_scope(engine) as session:
        create_experiment(
            session,
            "spectra",
            "local/keyword-judge",
            "local/keyword-judge-strict",
            0.5,
            mode="shadow",
        )
        posts = session.scalar(select(func.count()).select_from(Post)) or 0
    meta = run(db_url)
    assert meta["posts_judged"] == posts and meta["judgments_stored"] == 2 * posts
    for arm in ("primary", "canary"):
        labels = sum(int(meta[f"spectra/{arm}/{label}"]) for label in LABELS)  # type: ignore[call-overload]
        assert (
            meta[f"spectra/{arm}/judgments"] == labels + int(meta[f"spectra/{arm}/errors"]) == posts
        )  # type: ignore[call-overload]
    # The strict variant calls fewer posts relevant: the arms differ, not a pooled blend.
    assert meta["spectra/canary/relevant"] < meta["spectra/primary/relevant"]  # type: ignore[operator]
    arms = {r.data["arm"]: r.data for r in meta["by_arm"].records}  # type: ignore[attr-defined]
    assert arms["primary"]["judgments"] == arms["canary"]["judgments"] == posts


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
    assert errors == total == meta["failures"] == meta["provider_calls"]
    assert meta["parse_failures"] == total and meta["parse_failures_per_1k_calls"] == 1000.0
    check = meta["check"]
    assert not check.passed and check.severity.value == "WARN"  # type: ignore[attr-defined]
    assert check.metadata["failure_rate"].value == 1.0  # type: ignore[attr-defined]
    assert labels == {None}  # a failure is not a label
    # Post text is delimited and untrusted in the prompt the provider received.
    call = fake_llm.calls("judge-x")[0]
    assert "<untrusted_" in call.prompt_text and "never instructions" in call.prompt_text
    assert call.has_authorization and "sk-test-only" not in str(meta)


def test_starting_a_shadow_experiment_reuses_what_the_primary_judged(
    engine: Engine,
    db_url: str,
    spectra: object,
    fake_llm: FakeOpenAIServer,
    isolated_env,  # type: ignore[no-untyped-def]
    monkeypatch,
) -> None:
    """The user's path: judged_posts, `experiment create --mode shadow`, judged_posts again."""
    from signalops_assets.experiments.service import create_experiment

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-only")
    cfg = isolated_env / "projects" / "spectra.yaml"
    cfg.write_text(
        cfg.read_text().replace("judge_model: local/keyword-judge", "judge_model: openai/judge-x")
    )
    first = run(db_url, fake_llm.base_url)
    posts = int(first["posts_judged"])  # type: ignore[call-overload]
    assert first["provider_calls"] == posts and first["reused_judgments"] == 0
    with session_scope(engine) as session:
        create_experiment(
            session, "spectra", "openai/judge-x", "openai/judge-y", 0.5, mode="shadow"
        )
    second = run(db_url, fake_llm.base_url)
    assert second["reused_judgments"] == posts and second["provider_calls"] == posts
    assert fake_llm.call_count("judge-x") == posts and fake_llm.call_count("judge-y") == posts
