"""The model registry through `signalops model ...` on SQLite and PostgreSQL."""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from signalops_assets.cli import model_cmd
from signalops_assets.cli.main import cli
from signalops_assets.db.models import ModelRegistryEntry
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.experiments import registry

FT = "ft:gpt-4o-mini:org::abc"


def invoke(*args: str) -> Result:
    """`invoke("list --active")` or `invoke("activate", model_id)`."""
    argv = shlex.split(args[0]) + list(args[1:]) if args else []
    return CliRunner().invoke(cli, ["model", *argv])


def assert_one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def rows(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(ModelRegistryEntry)) or 0)


def test_register_list_activate_deactivate(engine: Engine) -> None:
    ok = invoke(
        f"register --model-id {FT} --provider openai --type judge --base-model gpt-4o-mini "
        "--version 3 --training-file exports/dpo.jsonl --training-examples 1200 "
        "--display-name 'spectra judge v3'"
    )
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == f"registered judge model {FT} (openai)"
    drafter = invoke("register --model-id local/template-drafter --provider local --type drafter")
    assert drafter.exit_code == 0, drafter.output
    with session_scope(engine) as session:
        entry = registry.get_model(session, FT)
        assert entry is not None and entry.is_active
        assert (entry.base_model, entry.version) == ("gpt-4o-mini", "3")
        assert entry.training_examples == 1200
        assert entry.display_name == "spectra judge v3"
        assert entry.training_file == "exports/dpo.jsonl"

    listed = invoke("list")
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].split()[:3] == ["model", "type", "provider"]
    assert FT in listed.output and "local/template-drafter" in listed.output
    judges = invoke("list --type judge")
    assert FT in judges.output and "template-drafter" not in judges.output

    assert invoke("deactivate", FT).output.strip() == f"deactivated {FT}"
    active = invoke("list --active")
    assert FT not in active.output and "local/template-drafter" in active.output
    assert invoke("deactivate", FT).exit_code == 0  # twice is harmless
    assert invoke("activate", FT).output.strip() == f"activated {FT}"
    assert FT in invoke("list --active --type judge").output


def test_empty_registry_lists_nothing(engine: Engine) -> None:
    result = invoke("list")
    assert result.exit_code == 0 and result.output.strip() == "no models registered"


def test_bad_input_is_exit_2_one_line_and_changes_nothing(engine: Engine) -> None:
    assert invoke(f"register --model-id {FT} --provider openai --type judge").exit_code == 0
    before = rows(engine)
    duplicate = invoke(f"register --model-id {FT} --provider anthropic --type judge")
    assert_one_line_error(duplicate, f"model '{FT}' is already registered")
    bad_provider = invoke("register --model-id x/y --provider acme --type judge")
    assert_one_line_error(bad_provider, "unknown provider 'acme' (one of: openai, anthropic")
    negative = invoke("register --model-id m --provider openai --type judge --training-examples -1")
    assert_one_line_error(negative, "training examples must be >= 0")
    assert_one_line_error(invoke("activate", "ghost"), "unknown model 'ghost'")
    assert_one_line_error(invoke("deactivate", "ghost"), "unknown model 'ghost'")
    assert rows(engine) == before
    with session_scope(engine) as session:
        entry = registry.get_model(session, FT)
        assert entry is not None and entry.provider == "openai"


def test_bad_type_is_refused(engine: Engine) -> None:
    result = invoke("register --model-id m --provider openai --type critic")
    assert result.exit_code == 2 and "Traceback" not in result.output
    with (
        session_scope(engine) as session,
        pytest.raises(SignalOpsError, match="unknown model type"),
    ):
        registry.register_model(session, "m", "openai", "critic")
    assert rows(engine) == 0


def test_cli_choices_match_the_registry() -> None:
    assert model_cmd.MODEL_TYPES == registry.MODEL_TYPES


@pytest.mark.parametrize(
    ("model_id", "provider"),
    [
        (FT, "openai"),
        ("openai/ft:gpt-4o-mini:org::abc", "openai"),
        ("gpt-4o-mini", "openai"),
        ("anthropic/claude-3-5-haiku", "anthropic"),
        ("claude-3-5-haiku", "anthropic"),
        ("together_ai/meta-llama/Llama-3-8b", "together_ai"),
        ("local/keyword-judge", "local"),
        ("ollama/llama3", "ollama"),
        ("mystery-model", "litellm_proxy"),
    ],
)
def test_guess_provider(model_id: str, provider: str) -> None:
    assert registry.guess_provider(model_id) == provider
    assert provider in registry.PROVIDERS
