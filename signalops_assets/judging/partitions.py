"""Scale-out: judged_posts partitioned by the day a post was created.

The demo keeps one unpartitioned `judged_posts`. `build_definitions(partitioned=True)` (what the
code location does when SIGNALOPS_PARTITIONED=1) takes the variant built here instead: same asset
key, group and `llm` pool, but each run judges only the posts created on its partition's UTC day,
so a backfill fans the judging out over many runs (and, with the K8s run launcher, many pods)
while the pool still caps concurrent LLM steps.
"""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    DailyPartitionsDefinition,
    MaterializeResult,
)

from signalops_assets.conventions import llm_asset
from signalops_assets.judging.assets import judge_configured_projects, posts
from signalops_assets.judging.versions import judge_version
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets.settings import settings


def daily_posts_partitions() -> DailyPartitionsDefinition:
    """One partition per UTC day from SIGNALOPS_PARTITIONS_START. end_offset=1 adds today's
    partition: posts keep arriving during the day and can be judged before it ends (re-running
    the partition later judges only the posts still pending)."""
    return DailyPartitionsDefinition(
        start_date=settings().partitions_start, timezone="UTC", end_offset=1
    )


def build_partitioned_judged_posts(
    partitions_def: DailyPartitionsDefinition | None = None,
) -> AssetsDefinition:
    """`judged_posts`, one partition per UTC day of `posts.created_at`."""
    partitions_def = partitions_def or daily_posts_partitions()

    @llm_asset(
        "judging",
        name="judged_posts",
        deps=[posts],
        partitions_def=partitions_def,
        code_version=judge_version(),
    )
    def judged_posts(
        context: AssetExecutionContext, database: DatabaseResource, llm: LLMResource
    ) -> MaterializeResult[None]:
        """Judge the posts created on this partition's day that the current judge has not
        judged."""
        window = context.partition_time_window
        result = judge_configured_projects(
            context, database, llm, created_from=window.start, created_to=window.end
        )
        metadata = dict(result.metadata or {})
        metadata["window"] = f"[{window.start.isoformat()}, {window.end.isoformat()})"
        return MaterializeResult(metadata=metadata)

    return judged_posts
