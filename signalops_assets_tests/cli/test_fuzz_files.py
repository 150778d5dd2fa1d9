"""Property-based fuzzing of the file entry points (`posts import`, `judgments import-labels`,
project YAML) through the CLI, on SQLite and PostgreSQL: exit 0 or 2, never a traceback, at
most one stderr line per bad record, the database unchanged for rejected input and changed
only by what the command reports."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Judgment, Post, Project
from signalops_assets.db.session import session_scope
from signalops_assets_tests.cli.fuzz_helpers import (
    EXAMPLES,
    any_text,
    check_cli,
    json_scalars,
    json_values,
    jsonl_file,
    physical_lines,
)
from signalops_assets_tests.cli.helpers import invoke
from signalops_assets_tests.preferences.review_helpers import judge, post_ids

post_record = st.fixed_dictionaries(
    {},
    optional={
        "platform_id": any_text | json_scalars | st.text(min_size=190, max_size=210),
        "author": any_text | json_scalars | st.text(min_size=195, max_size=205),
        "author_bio": json_scalars,
        "bio": json_scalars,
        "text": any_text | json_values,
        "created_at": st.sampled_from(
            ["2026-11-01T10:00:00Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]
        )
        | any_text
        | json_scalars,
        "raw": json_values,
    },
)


def count(engine: Engine, model: Any) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_fuzz_posts_import(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"

    @given(jsonl_file(post_record))
    def run(data: bytes) -> None:
        EXAMPLES["posts import"] = EXAMPLES.get("posts import", 0) + 1
        path.write_bytes(data)
        before = count(engine, Post)
        result = invoke("posts", "import", str(path), "--project", "spectra")
        check_cli(result, min(physical_lines(data), 51))
        after = count(engine, Post)
        if result.exit_code == 2:
            assert after == before
            return
        inserted = int(re.search(r"imported (\d+) posts", result.stdout).group(1))  # type: ignore[union-attr]
        assert after - before == inserted

    run()


label_row = st.fixed_dictionaries(
    {},
    optional={
        "judgment_id": json_scalars,
        "post_id": json_scalars,
        "platform_id": json_scalars,
        "label": st.sampled_from(["relevant", "irrelevant", "maybe", " Maybe "]) | json_scalars,
    },
)


def _labels(engine: Engine) -> list[str | None]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Judgment.human_label).order_by(Judgment.id)))


@st.composite
def csv_file(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(label_row, max_size=6))
    out = io.StringIO()
    header = draw(st.sampled_from([["judgment_id", "label"], ["post_id", "label", "platform_id"]]))
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row.get(k) is None else str(row.get(k)) for k in header])
    text = out.getvalue()
    codec = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252"]))
    return text.encode(codec, "surrogatepass" if codec.startswith("utf-8") else "replace")


def test_fuzz_import_labels(engine: Engine, spectra: ProjectConfig, tmp_path: Path) -> None:
    for pid in post_ids(engine, 3):
        judge(engine, pid, "irrelevant")

    @given(st.booleans(), jsonl_file(label_row), csv_file())
    def run(as_csv: bool, jsonl: bytes, csv_bytes: bytes) -> None:
        EXAMPLES["import-labels"] = EXAMPLES.get("import-labels", 0) + 1
        data = csv_bytes if as_csv else jsonl
        path = tmp_path / ("labels.csv" if as_csv else "labels.jsonl")
        path.write_bytes(data)
        before = _labels(engine)
        result = invoke("judgments", "import-labels", str(path))
        check_cli(result, min(physical_lines(data), 51))
        after = _labels(engine)
        if result.exit_code == 2:
            assert after == before
        assert set(after) <= {None, "relevant", "irrelevant", "maybe"}

    run()


project_doc = st.fixed_dictionaries(
    {"project_id": st.just("demo") | any_text, "relevance_prompt": any_text | json_values},
    optional={
        "name": any_text | json_values | st.text(min_size=199, max_size=202),
        "description": any_text | json_values,
        "persona": any_text,
        "positive_signals": json_values,
        "llm": st.dictionaries(
            st.sampled_from(
                ["model", "judge_model", "temprature", "temperature", "max_tokens", "fallbacks"]
            )
            | any_text,
            json_values,
            max_size=3,
        )
        | json_values,
        "quality": json_values,
    },
)
project_doc_extra = st.builds(
    lambda doc, extra: {**extra, **doc},
    project_doc,
    st.dictionaries(any_text, json_values, max_size=2),
)


@st.composite
def yaml_file(draw: st.DrawFn) -> bytes:
    doc = draw(project_doc_extra)
    try:
        text = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()))
    except yaml.YAMLError:
        text = draw(any_text)
    codec = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    data = text.encode(codec, "surrogatepass" if codec.startswith("utf-8") else "replace")
    return draw(st.sampled_from([data, data[: len(data) // 2], data + b"\x00\xff"]))


def test_fuzz_project_yaml(engine: Engine, isolated_env: Path) -> None:
    empty = isolated_env / "empty.jsonl"
    empty.write_text("")
    config = isolated_env / "projects" / "demo.yaml"

    @given(yaml_file())
    def run(data: bytes) -> None:
        EXAMPLES["project yaml"] = EXAMPLES.get("project yaml", 0) + 1
        config.write_bytes(data)
        before = count(engine, Project)
        result = invoke("posts", "import", str(empty), "--project", "demo")
        check_cli(result, 1)
        if result.exit_code == 2:
            assert count(engine, Project) == before
            assert str(config) in result.stderr or "demo" in result.stderr
        else:
            with session_scope(engine) as session:
                assert session.get(Project, "demo") is not None

    run()
