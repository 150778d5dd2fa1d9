"""judged_posts partitioned by post day: a backfill-like run judges exactly its days' posts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC

from dagster import DagsterInstance, materialize
from sqlalchemy import Engine, select

from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.partitions import (
    build_partitioned_judged_posts,
    daily_posts_partitions,
)
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.conftest import REPO


def _day(value: object) -> str:
    # SQLite hands back naive datetimes (stored in UTC), PostgreSQL aware ones.
    from datetime import datetime

    assert isinstance(value, datetime)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def test_two_partitions_judge_only_their_days(engine: Engine, db_url: str, spectra: object) -> None:
    asset = build_partitioned_judged_posts()
    resources = {"database": DatabaseResource(url=db_url), "llm": LLMResource(num_retries=0)}
    with session_scope(engine) as session:
        per_day = Counter(_day(created) for created in session.scalars(select(Post.created_at)))
    days = ["2026-10-21", "2026-10-22"]
    assert all(per_day[d] > 0 for d in days)
    keys = set(daily_posts_partitions().get_partition_keys())
    assert set(days) <= keys

    with DagsterInstance.ephemeral() as instance:
        for day in days:
            result = materialize([asset], partition_key=day, resources=resources, instance=instance)
            assert result.success
            mat = result.asset_materializations_for_node("judged_posts")[0]
            assert mat.partition == day
            assert mat.metadata["posts_judged"].value == per_day[day]
            assert day in str(mat.metadata["window"].value)
        # Re-running a partition is idempotent: nothing left to judge that day.
        again = materialize([asset], partition_key=days[0], resources=resources, instance=instance)
        mat = again.asset_materializations_for_node("judged_posts")[0]
        assert mat.metadata["posts_judged"].value == 0
        materialized = instance.get_materialized_partitions(asset.key)
    assert materialized == set(days)

    with session_scope(engine) as session:
        judged_days = Counter(
            _day(created)
            for created in session.scalars(
                select(Post.created_at).join(Judgment, Judgment.post_id == Post.id)
            )
        )
    assert dict(judged_days) == {d: per_day[d] for d in days}


def _judging_node(defs: object) -> tuple[str, list[str]]:
    from dagster import AssetKey, Definitions

    assert isinstance(defs, Definitions)
    node = defs.resolve_asset_graph().get(AssetKey("judged_posts"))
    return type(node.partitions_def).__name__, sorted(node.pools)


def test_the_factory_builds_either_variant() -> None:
    from dagster import in_process_executor

    from signalops_assets.definitions import build_definitions

    assert _judging_node(build_definitions()) == ("NoneType", ["llm"])
    partitioned = build_definitions(partitioned=True)
    assert _judging_node(partitioned) == ("DailyPartitionsDefinition", ["llm"])
    assert partitioned.executor is in_process_executor  # the embedded default


def test_the_code_location_reads_signalops_partitioned() -> None:
    """What `dagster dev` loads: the module-level defs, in a process with the variable set."""
    code = (
        "from signalops_assets.definitions import defs\n"
        "from signalops_assets_tests.judging.test_partitions import _judging_node\n"
        "print(*_judging_node(defs))\n"
    )
    env = {**os.environ, "SIGNALOPS_PARTITIONED": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "DailyPartitionsDefinition ['llm']"
