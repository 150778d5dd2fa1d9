"""Bad files through `posts import` and `judgments import-labels`, on SQLite and PostgreSQL:
good lines load, bad ones are reported by line number, both backends refuse the same lines."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets_tests.preferences.review_helpers import judge, post_ids

GOOD = {"author": "@a", "text": "p99 latency", "created_at": "2026-11-01T10:00:00Z"}


def post(platform_id: str, **fields: object) -> str:
    return json.dumps({**GOOD, "platform_id": platform_id, **fields})


def run_import(path: Path) -> Result:
    return CliRunner().invoke(cli, ["posts", "import", str(path), "--project", "spectra"])


def stored(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return sorted(session.scalars(select(Post.platform_id)))


def skipped(result: Result) -> dict[int, str]:
    """line number -> reason, from the stderr lines `FILE:LINE: skipped: REASON`."""
    out = {}
    for line in result.stderr.splitlines():
        head, reason = line.split(": skipped: ", 1)
        out[int(head.rsplit(":", 1)[1])] = reason
    return out


def write(tmp_path: Path, name: str, lines: list[bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_latin1_line_is_reported_and_good_lines_load(engine: Engine, tmp_path: Path) -> None:
    latin1 = json.dumps({**GOOD, "platform_id": "x:2", "text": "caf\u00e9"}, ensure_ascii=False)
    latin1 = latin1.encode("latin-1")
    path = write(
        tmp_path,
        "posts.jsonl",
        [
            post("x:1").encode(),
            latin1,
            post("x:3").encode(),
        ],
    )
    result = run_import(path)
    assert result.exit_code == 0, result.output
    reasons = skipped(result)
    assert list(reasons) == [2] and reasons[2].startswith("not UTF-8 (byte 0xe9 at column")
    assert stored(engine) == ["x:1", "x:3"] and "imported 2 posts" in result.stdout


def test_binary_file_every_line_reported_nothing_stored(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(bytes(b for b in range(256) if b != 10) * 4 + b"\n\xff\xfe\x00\x01\n")
    result = run_import(path)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert set(skipped(result)) == {1, 2} and stored(engine) == []


def test_utf8_bom_is_accepted(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path, "posts.jsonl", [b"\xef\xbb\xbf" + post("x:1").encode(), post("x:2").encode()]
    )
    result = run_import(path)
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert stored(engine) == ["x:1", "x:2"]


def test_deeply_nested_line_is_one_bad_line(engine: Engine, tmp_path: Path) -> None:
    deep = '{"platform_id": "x:2", "raw": ' + "[" * 100_000 + "]" * 100_000 + "}"
    nested: list[object] = []
    for _ in range(70):
        nested = [nested]
    too_deep_raw = post("x:3", raw={"a": nested})
    path = write(
        tmp_path, "posts.jsonl", [post("x:1").encode(), deep.encode(), too_deep_raw.encode()]
    )
    result = run_import(path)
    assert result.exit_code == 0, result.output
    reasons = skipped(result)
    assert set(reasons) == {2, 3} and "nested too deeply" in reasons[2]
    assert "nested deeper than" in reasons[3] and stored(engine) == ["x:1"]


def test_nul_and_overlong_fields_refused_alike_on_both_backends(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "posts.jsonl",
        [
            post("x:1").encode(),
            post("x:2", text="a\u0000b").encode(),
            post("p" * 201).encode(),
            post("x:4", author="@" + "a" * 200).encode(),
            post("x:5", raw={"k": "v\u0000"}).encode(),
            post("x:6", text="\ud800").encode(),
            post("x:7", author=7).encode(),
            post("x:8", created_at="9999-12-31T23:00:00-05:00").encode(),
            b'{"platform_id": "x:9", "created_at": "2026-11-01T10:00:00Z", "raw": {"n": NaN}}',
            post("p" * 200, author="a" * 200).encode(),
        ],
    )
    result = run_import(path)
    assert result.exit_code == 0, result.output
    reasons = skipped(result)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9], result.stderr
    assert "NUL" in reasons[2] and "NUL" in reasons[5]
    assert "'platform_id' is longer than 200" in reasons[3]
    assert "'author' is longer than 200" in reasons[4]
    assert "not valid UTF-8" in reasons[6] and "'author' must be a string" in reasons[7]
    assert "created_at" in reasons[8] and "NaN" in reasons[9]
    assert stored(engine) == ["p" * 200, "x:1"]
    assert "imported 2 posts" in result.stdout and "8 bad lines" in result.stdout


def _labels_setup(engine: Engine) -> list[int]:
    """Three posts, each judged once; the judgment ids."""
    for pid in post_ids(engine, 3):
        judge(engine, pid, "irrelevant")
    with session_scope(engine) as session:
        return list(session.scalars(select(Judgment.id).order_by(Judgment.id)))


def labels(engine: Engine) -> list[str | None]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Judgment.human_label).order_by(Judgment.id)))


def run_labels(path: Path) -> Result:
    return CliRunner().invoke(cli, ["judgments", "import-labels", str(path)])


def test_label_ids_must_be_integers_in_range(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    ids = _labels_setup(engine)
    rows = [
        {"judgment_id": ids[0], "label": "relevant"},
        {"judgment_id": ids[1] + 0.9, "label": "relevant"},
        {"judgment_id": 99999999999999999999999, "label": "relevant"},
        {"judgment_id": True, "label": "relevant"},
        {"post_id": "2.0", "label": "relevant"},
        {"platform_id": "a\u0000", "label": "relevant"},
        {"judgment_id": ids[2], "label": "maybe"},
    ]
    path = write(tmp_path, "labels.jsonl", [json.dumps(r).encode() for r in rows])
    result = run_labels(path)
    assert result.exit_code == 0, result.output
    reasons = skipped(result)
    assert sorted(reasons) == [2, 3, 4, 5, 6], result.stderr
    assert "judgment_id must be an integer" in reasons[2]
    assert "judgment_id must be between 1 and 2147483647" in reasons[3]
    assert "must be an integer" in reasons[4] and "must be an integer" in reasons[5]
    assert "NUL" in reasons[6]
    assert labels(engine) == ["relevant", None, "maybe"]


def test_label_files_with_bom_and_bad_encoding(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    ids = _labels_setup(engine)
    csv_path = write(
        tmp_path,
        "labels.csv",
        [
            b"\xef\xbb\xbfjudgment_id,label",
            f"{ids[0]},relevant".encode(),
            f"{ids[1]},relevant,caf\xe9".encode("latin-1"),
            f"{ids[2]},maybe".encode(),
        ],
    )
    result = run_labels(csv_path)
    assert result.exit_code == 0, result.output
    assert list(skipped(result)) == [3] and "not UTF-8" in skipped(result)[3]
    assert labels(engine) == ["relevant", None, "maybe"]
    jsonl = write(
        tmp_path,
        "labels.jsonl",
        [
            b"\xef\xbb\xbf" + json.dumps({"judgment_id": ids[1], "label": "maybe"}).encode(),
            b'{"judgment_id": 1, "label": "caf\xe9"}',
        ],
    )
    result = run_labels(jsonl)
    assert result.exit_code == 0 and list(skipped(result)) == [2], result.output
    assert labels(engine) == ["relevant", "maybe", "maybe"]


def test_csv_without_label_column_is_one_line(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "labels.csv", [b"judgment_id,lable", b"1,relevant"])
    result = run_labels(path)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "no 'label' column" in result.stderr


def test_cli_ids_out_of_range_are_usage_errors(engine: Engine) -> None:
    runner = CliRunner()
    for args in (
        ["drafts", "show", "99999999999999999999999"],
        ["drafts", "approve", "0"],
        ["judgments", "label", "99999999999999999999999", "relevant"],
        ["preferences", "add", "--draft", "2147483648", "--chosen", "x"],
        ["drafts", "list", "--limit", "99999999999999999999999"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and "range" in result.stderr, result.stderr
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Judgment)) == 0
