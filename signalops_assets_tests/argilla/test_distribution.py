"""`review.min_submitted` reaches datasets that already exist: through the real argilla SDK, an
existing dataset's TaskDistribution is changed to the configured one, and a server that refuses
(argilla-server does once a dataset has responses) is a one-line error saying how to fix it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from signalops_assets.argilla.client import ArgillaError
from signalops_assets.argilla.labels import labelling_dataset_name, push_for_labelling
from signalops_assets.argilla.records import default_dataset_name, record_id_for
from signalops_assets.argilla.settings import ArgillaSettings
from signalops_assets.argilla.sync import pairs_for_review, push_project
from signalops_assets.cli.main import cli
from signalops_assets.config import ProjectConfig
from signalops_assets_tests.argilla import test_labels, test_sync
from signalops_assets_tests.fakes.argilla_server import FakeArgillaServer


def min_submitted(fake: FakeArgillaServer, dataset: str) -> int:
    found = fake.dataset(dataset)
    assert found is not None
    return int(found["distribution"]["min_submitted"])


def test_an_existing_review_dataset_takes_the_configured_min_submitted(
    engine: Engine, fake_argilla: FakeArgillaServer
) -> None:
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    test_sync.seed_pairs(engine, 2)
    dataset = default_dataset_name("p")
    assert push_project(engine, "p", settings, min_submitted=1).created_dataset
    again = push_project(engine, "p", settings, min_submitted=3)
    assert not again.created_dataset and min_submitted(fake_argilla, dataset) == 3
    assert fake_argilla.record_count(dataset) == 2  # the records stay
    fake_argilla.requests.clear()
    push_project(engine, "p", settings, min_submitted=3)  # already right: no PATCH
    assert not [r for r in fake_argilla.requests if r[0] == "PATCH"]


def test_a_refused_change_is_one_line_saying_how_to_fix_it(
    engine: Engine, fake_argilla: FakeArgillaServer
) -> None:
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    test_sync.seed_pairs(engine, 1)
    dataset = default_dataset_name("p")
    push_project(engine, "p", settings, min_submitted=1)
    record = record_id_for(pairs_for_review(engine, "p")[0])
    fake_argilla.add_response(dataset, record, {"verdict": "keep"}, username="r1")
    with pytest.raises(ArgillaError) as refused:
        push_project(engine, "p", settings, min_submitted=2)
    message = str(refused.value)
    assert "\n" not in message and fake_argilla.api_key not in message
    assert f"refused to change dataset {dataset!r} from 1 to 2" in message
    assert "set review.min_submitted: 1" in message and "delete the dataset" in message
    assert min_submitted(fake_argilla, dataset) == 1


def test_the_labelling_dataset_follows_too(
    engine: Engine, spectra: ProjectConfig, fake_argilla: FakeArgillaServer
) -> None:
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    (post_id,) = test_labels.seed(engine, 1)
    dataset = labelling_dataset_name("spectra")
    push_for_labelling(engine, "spectra", settings, min_submitted=1, limit=10)
    push_for_labelling(engine, "spectra", settings, min_submitted=2, limit=10)
    assert min_submitted(fake_argilla, dataset) == 2
    fake_argilla.add_response(dataset, test_labels.record_id(engine, post_id), {"label": "maybe"})
    with pytest.raises(ArgillaError, match=r"set review\.min_submitted: 2"):
        push_for_labelling(engine, "spectra", settings, min_submitted=3, limit=10)


def test_the_cli_reports_a_refusal_as_a_usage_error(
    engine: Engine,
    spectra: ProjectConfig,
    fake_argilla: FakeArgillaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from signalops_assets_tests.preferences.review_helpers import EDITED, make_drafts

    (draft,) = make_drafts(engine, spectra, 1)
    assert CliRunner().invoke(cli, ["drafts", "edit", str(draft), "--text", EDITED]).exit_code == 0
    settings = ArgillaSettings(fake_argilla.url, fake_argilla.api_key)
    dataset = default_dataset_name("spectra")
    push_project(engine, "spectra", settings, min_submitted=spectra.review.min_submitted + 1)
    record = record_id_for(pairs_for_review(engine, "spectra")[0])
    fake_argilla.add_response(dataset, record, {"verdict": "keep"})
    monkeypatch.setenv("ARGILLA_API_URL", fake_argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", fake_argilla.api_key)
    result = CliRunner().invoke(
        cli, ["export", "training-data", "--type", "dpo", "--output", "argilla"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "refused to change dataset" in result.stderr
    assert "Traceback" not in result.output
