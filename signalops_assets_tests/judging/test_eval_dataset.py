"""The held-out labelled posts mirrored as a Langfuse dataset through the real Langfuse SDK into
the local Langfuse fake: a stable hash split, one item per post however often it is mirrored."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import Engine, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.eval_dataset import eval_dataset_name, is_held_out
from signalops_assets.vocab import LABELS
from signalops_assets_tests.fakes.otlp_receiver import OTLPReceiver

DATASET = eval_dataset_name("spectra")


def label_first(engine: Engine, n: int) -> dict[str, tuple[int, str]]:
    with session_scope(engine) as session:
        posts = list(session.scalars(select(Post).order_by(Post.id).limit(n)))
        for i, post in enumerate(posts):
            post.human_label = LABELS[i % 3]
        return {p.platform_id: (p.id, str(p.human_label)) for p in posts}


def test_split_is_a_stable_hash_of_the_post() -> None:
    held = [is_held_out("spectra", "a", f"post {i}", 0.2) for i in range(2000)]
    assert 0.17 < sum(held) / len(held) < 0.23
    assert held == [is_held_out("spectra", "a", f"post {i}", 0.2) for i in range(2000)]
    assert held != [is_held_out("other", "a", f"post {i}", 0.2) for i in range(2000)]  # salted
    # The same rule as the judge training sets, on normalised content (crossposts together).
    from signalops_assets.fine_tuning.training_sets import eval_split

    assert held == [eval_split("spectra", "a", f"post {i}", 0.2) == "eval" for i in range(2000)]
    assert is_held_out("spectra", "A", "Post  7", 0.2) == is_held_out("spectra", "a", "post 7", 0.2)


def test_held_out_labels_become_one_dataset_item_each(
    engine: Engine, spectra: ProjectConfig, traced: OTLPReceiver
) -> None:
    labelled = label_first(engine, 60)
    with session_scope(engine) as session:
        content = {
            p.platform_id: (p.author, p.text)
            for p in session.scalars(select(Post).where(Post.platform_id.in_(list(labelled))))
        }
    held = {pid: v for pid, v in labelled.items() if is_held_out("spectra", *content[pid], 0.2)}
    assert 0 < len(held) < len(labelled)
    runner = CliRunner()
    for _ in range(2):  # mirroring again updates, never duplicates
        result = runner.invoke(cli, ["judgments", "eval-dataset", "--project", "spectra"])
        assert result.exit_code == 0, result.output
        assert f"{len(held)} held-out labelled posts in Langfuse dataset {DATASET}" in result.output
    assert list(traced.datasets()) == [DATASET]
    items = traced.dataset_items(DATASET)
    assert len(items) == len(held)
    for item in items:
        post_id, label = held[item["metadata"]["platform_id"]]
        assert item["expectedOutput"] == {"label": label}
        assert item["metadata"]["post_id"] == post_id and item["status"] == "ACTIVE"
        assert set(item["input"]) == {"author", "text"}
    body = b"".join(r.body for r in traced.requests)
    assert traced.secret_key.encode() not in body


def test_tracing_off_mirrors_nothing(
    engine: Engine, spectra: ProjectConfig, otlp_receiver: OTLPReceiver
) -> None:
    label_first(engine, 30)
    result = CliRunner().invoke(cli, ["judgments", "eval-dataset", "--project", "spectra"])
    assert result.exit_code == 0 and "nothing mirrored" in result.output
    assert otlp_receiver.requests == []
