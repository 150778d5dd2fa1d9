"""Code versions follow the prompt and the model, so a change shows as unsynced in the UI."""

from __future__ import annotations

from pathlib import Path

import yaml

from signalops_assets.judging.versions import draft_version, judge_version


def test_a_changed_judge_model_or_prompt_changes_the_version(isolated_env: Path) -> None:
    config = isolated_env / "projects" / "spectra.yaml"
    original = config.read_text()
    first, drafting = judge_version(), draft_version()
    assert first and drafting and first == judge_version()
    config.write_text(original.replace("judge_model: local/keyword-judge", "judge_model: openai/x"))
    changed_model = judge_version()
    assert changed_model not in (None, first) and draft_version() == drafting
    data = yaml.safe_load(original)
    data["relevance_prompt"] = "Strictly. " + data["relevance_prompt"]
    config.write_text(yaml.safe_dump(data))
    assert judge_version() not in (None, first, changed_model)


def test_the_definitions_carry_the_versions_and_conventions() -> None:
    from dagster import AssetKey

    from signalops_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    judged = graph.get(AssetKey("judged_posts"))
    assert judged.code_version == judge_version() and judged.owners == ["team:signalops"]
    assert {"dagster/kind/litellm", "domain"} <= set(judged.tags)
    assert graph.get(AssetKey("experiment_analysis")).freshness_policy is not None
    # dpo_jsonl's freshness is measured against the reviews, by a check.
    assert "dpo_jsonl_fresh" in {k.name for k in graph.asset_check_keys}
    for name in ("ab_results", "experiment_analysis", "judge_promotion"):
        assert graph.get(AssetKey(name)).owners == ["team:signalops"]
    assert defs.resolve_job_def("judging_job").op_retry_policy is None  # per asset, not per job
    (node,) = [
        n for n in defs.resolve_job_def("judging_job").graph.node_defs if n.name == "judged_posts"
    ]
    assert node.retry_policy is not None and node.retry_policy.max_retries == 2
