"""`signalops judgments label` and `import-labels`: the two terminal paths by which ground truth
arrives. Every label lands on the post and on every judgment of it (both arms)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select

from signalops_assets.cli.main import cli
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets_tests.factories import (
    Seeded,
    judgment,
    seed_experiment,
    seed_judgments,
    seed_posts,
)


def _labels(engine: Engine) -> tuple[dict[int, str | None], dict[int, str | None]]:
    with session_scope(engine) as session:
        posts = {p.id: p.human_label for p in session.scalars(select(Post))}
        judged = {j.id: j.human_label for j in session.scalars(select(Judgment))}
    return posts, judged


def _seed(engine: Engine, tmp_path: Path) -> tuple[Seeded, list[int]]:
    seeded = seed_posts(engine, tmp_path, ["p99 latency alerts", "my cat", "grafana tips"])
    a, b, c = seeded.post_ids
    exp = seed_experiment(engine)
    ids = seed_judgments(
        engine,
        "spectra",
        [
            judgment(a, "relevant", f"{exp}:primary", experiment_id=exp, arm="primary"),
            judgment(a, "irrelevant", f"{exp}:shadow", experiment_id=exp, arm="canary"),
            judgment(b, error="RateLimitError: slow down", judge_key=f"{exp}:primary"),
            judgment(c, "maybe"),
        ],
    )
    return seeded, ids


def test_label_lands_on_the_post_and_every_judgment_of_it(engine: Engine, tmp_path: Path) -> None:
    seeded, (a_primary, a_canary, b_failed, c_only) = _seed(engine, tmp_path)
    result = CliRunner().invoke(cli, ["judgments", "label", str(a_canary), "maybe"])
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip() == f"judgment {a_canary}: human label maybe (judge said irrelevant)"
    )
    posts, judged = _labels(engine)
    assert posts[seeded.post_ids[0]] == "maybe"
    assert judged[a_primary] == judged[a_canary] == "maybe"  # both arms, from one label
    assert judged[b_failed] is None and judged[c_only] is None  # other posts untouched

    relabel = CliRunner().invoke(cli, ["judgments", "label", str(a_primary), "RELEVANT"])
    assert relabel.exit_code == 2  # click.Choice is exact: no silent case folding on the CLI
    again = CliRunner().invoke(cli, ["judgments", "label", str(a_primary), "relevant"])
    assert again.exit_code == 0, again.output
    assert _labels(engine)[1][a_canary] == "relevant"  # a relabel replaces, everywhere


def test_label_of_a_failed_judgment_says_the_judge_said_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    _, (_, _, b_failed, _) = _seed(engine, tmp_path)
    result = CliRunner().invoke(cli, ["judgments", "label", str(b_failed), "irrelevant"])
    assert result.exit_code == 0, result.output
    assert "judge said nothing: the judgment failed" in result.output
    assert _labels(engine)[1][b_failed] == "irrelevant"


def test_label_errors_are_one_line_and_change_nothing(engine: Engine, tmp_path: Path) -> None:
    _seed(engine, tmp_path)
    before = _labels(engine)
    for args, expected in (
        (["judgments", "label", "999999", "relevant"], "unknown judgment id 999999"),
        (
            ["judgments", "label", "1", "spam"],
            "'spam' is not one of 'relevant', 'irrelevant', 'maybe'",
        ),
        (["judgments", "label", "0", "relevant"], "Invalid value"),
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], (args, result.output)
        assert "Traceback" not in result.output
    assert _labels(engine) == before


def test_import_labels_csv_applies_good_rows_and_reports_bad_ones_by_line(
    engine: Engine, tmp_path: Path
) -> None:
    seeded, (a_primary, a_canary, b_failed, c_only) = _seed(engine, tmp_path)
    a, b, c = seeded.post_ids
    path = tmp_path / "labels.csv"
    path.write_text(
        "label,judgment_id,post_id,platform_id\n"
        f"relevant,{a_canary},,\n"  # line 2: by judgment id -> post a
        f"Irrelevant,,{b},\n"  # line 3: by post id, case and spaces normalised
        "maybe,,,spectra:2\n"  # line 4: by platform id -> post c
        "spam,,1,\n"  # line 5: bad label
        ",,,\n"  # line 6: no label, no id
        "relevant,424242,,\n"  # line 7: unknown judgment
        "relevant,,,nope:1\n"  # line 8: unknown platform id
        "relevant,,,\n",  # line 9: no id at all
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["judgments", "import-labels", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "applied 3 labels (5 bad rows)"
    bad = result.stderr.splitlines()
    assert [line.split(":")[1] for line in bad] == ["5", "6", "7", "8", "9"]
    assert "label must be one of relevant, irrelevant, maybe, got 'spam'" in bad[0]
    assert "unknown judgment id 424242" in bad[2]
    assert "post not found" in bad[3]
    assert "row needs judgment_id, post_id or platform_id" in bad[4]
    posts, judged = _labels(engine)
    assert (posts[a], posts[b], posts[c]) == ("relevant", "irrelevant", "maybe")
    assert judged == {a_primary: "relevant", a_canary: "relevant", b_failed: "irrelevant",
                      c_only: "maybe"}  # fmt: skip

    rerun = CliRunner().invoke(cli, ["judgments", "import-labels", str(path)])
    assert rerun.exit_code == 0 and "applied 3 labels" in rerun.stdout
    assert _labels(engine) == (posts, judged)  # idempotent


def test_import_labels_jsonl_and_ambiguous_platform_ids(engine: Engine, tmp_path: Path) -> None:
    seeded, _ = _seed(engine, tmp_path)
    # A second project with the same platform id: resolving it needs --project.
    other = tmp_path / "projects" / "other.yaml"
    other.write_text(
        (tmp_path / "projects" / "spectra.yaml")
        .read_text()
        .replace("project_id: spectra", "project_id: other")
    )
    twin = seed_posts(engine, tmp_path, ["p99 latency alerts"], project_id="other")
    with session_scope(engine) as session:
        session.get(Post, twin.post_ids[0]).platform_id = "spectra:0"  # type: ignore[union-attr]
    path = tmp_path / "labels.jsonl"
    path.write_text(
        json.dumps({"platform_id": "spectra:0", "label": "relevant"})
        + "\n[1, 2]\n{broken\n"
        + json.dumps({"post_id": seeded.post_ids[1], "label": 3})
        + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["judgments", "import-labels", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "applied 0 labels (4 bad rows)"
    assert "ambiguous: give --project" in result.stderr.splitlines()[0]
    assert "expected a JSON object" in result.stderr.splitlines()[1]
    assert "label must be a string, got int" in result.stderr.splitlines()[3]

    scoped = CliRunner().invoke(
        cli, ["judgments", "import-labels", str(path), "--project", "spectra"]
    )
    assert scoped.stdout.strip() == "applied 1 labels (3 bad rows)"
    posts, _ = _labels(engine)
    assert posts[seeded.post_ids[0]] == "relevant" and posts[twin.post_ids[0]] is None


def test_import_labels_refuses_a_file_it_cannot_use(engine: Engine, tmp_path: Path) -> None:
    _seed(engine, tmp_path)
    before = _labels(engine)
    no_label = tmp_path / "nolabel.csv"
    no_label.write_text("judgment_id,verdict\n1,relevant\n", encoding="utf-8")
    for path, expected in (
        (no_label, "CSV header has no 'label' column"),
        (tmp_path / "missing.csv", "file not found"),
    ):
        result = CliRunner().invoke(cli, ["judgments", "import-labels", str(path)])
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
    assert _labels(engine) == before
