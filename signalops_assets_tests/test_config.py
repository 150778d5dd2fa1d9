from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from signalops_assets.cli.main import cli
from signalops_assets.config import ConfigError, load_project, load_project_config

GOOD = """
project_id: demo
name: Demo
relevance_prompt: judge it
positive_signals: [tracing]
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / "projects" / name
    path.write_text(text)
    return path


def test_sample_project_loads() -> None:
    cfg = load_project("spectra")
    assert cfg.llm.judge_model == "local/keyword-judge"
    assert cfg.experiments.enabled and 0 < cfg.experiments.default_canary_pct < 1
    assert cfg.positive_signals


def test_defaults_fill_missing_sections(tmp_path: Path) -> None:
    cfg = load_project_config(write(tmp_path, GOOD))
    assert cfg.llm.max_concurrency == 16 and cfg.llm.fallback_models == []


def test_legacy_free_form_llm_dict_still_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD + "llm:\n  model: gpt-4o-mini\n  fallbacks: claude-sonnet-4-6\n  temperature: 0.5\n",
    )
    cfg = load_project_config(path)
    assert cfg.llm.judge_model == "gpt-4o-mini"
    assert cfg.llm.fallback_models == ["claude-sonnet-4-6"]
    assert cfg.llm.temperature == 0.5


def test_typo_in_a_legacy_llm_dict_fails_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "llm:\n  model: gpt-4o-mini\n  temprature: 0.9\n")
    with pytest.raises(ConfigError) as info:
        load_project_config(path)
    message = str(info.value)
    assert str(path) in message and "field 'llm.temprature'" in message
    assert "did you mean 'temperature'?" in message and "\n" not in message


def test_legacy_key_and_its_new_name_together_fail(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "llm:\n  model: a\n  judge_model: b\n")
    with pytest.raises(ConfigError, match="field 'llm'"):
        load_project_config(path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "projects" / "demo.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_project_config(path).project_id == "demo"


def test_non_utf8_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "projects" / "demo.yaml"
    path.write_bytes(GOOD.encode() + b"persona: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_project_config(path)
    assert str(info.value) == f"{path}: not UTF-8 at line 6 (byte 0xe9)"
    result = CliRunner().invoke(cli, ["project", "reset-judge", "demo"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "not UTF-8 at line 6" in result.output


def test_deeply_nested_yaml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "persona: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_project_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("project_id: demo\nname: [unclosed\n", "invalid YAML at line"),
        (GOOD + "llm:\n  temperature: hot\n", "field 'llm.temperature'"),
        (GOOD + "colour: blue\n", "field 'colour'"),
        (GOOD + "llm:\n  judge_model: x\n  turbo: true\n", "field 'llm.turbo'"),
        ("- a list\n", "expected a mapping"),
        (GOOD.replace("relevance_prompt: judge it\n", ""), "field 'relevance_prompt'"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_field(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_project_config(path)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_project("nope")


def test_cli_config_error_exits_2_without_traceback(tmp_path: Path) -> None:
    write(tmp_path, GOOD + "llm:\n  max_concurrency: -3\n")
    posts = tmp_path / "p.jsonl"
    posts.write_text("")
    result = CliRunner().invoke(cli, ["posts", "import", str(posts), "--project", "demo"])
    assert result.exit_code == 2
    assert "field 'llm.max_concurrency'" in result.output
    assert "Traceback" not in result.output
