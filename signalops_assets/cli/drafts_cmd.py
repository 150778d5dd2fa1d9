"""`signalops drafts`: review LLM-drafted replies; edits and rejections become DPO pairs."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from signalops_assets.cli import common
from signalops_assets.vocab import DraftStatus, values

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from signalops_assets.preferences.review import Transition


collect_option = click.option(
    "--collect-dpo/--no-collect-dpo",
    default=True,
    show_default=True,
    help="Collect the DPO pair now, in the same transaction (off: the sensor/asset collects it).",
)


def _preview(text: str | None, width: int = 60) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@click.group()
def drafts() -> None:
    """Review drafted replies: list, show, approve, edit, reject, send."""


@drafts.command("list")
@click.option(
    "--status", type=click.Choice(values(DraftStatus)), default=None, help="Only this status"
)
@click.option("--project", "project_id", default=None, help="Only this project")
@click.option("--limit", type=common.LIMIT, default=200, show_default=True)
def list_cmd(status: str | None, project_id: str | None, limit: int) -> None:
    """Drafts as a table, oldest first."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.preferences.queries import list_drafts
    from signalops_assets.reporting import text_table

    with session_scope(common.engine()) as session:
        rows = [
            [
                d.id,
                d.project_id,
                d.post_id,
                d.status,
                d.model_id,
                _preview(d.text_final or d.text_generated),
            ]
            for d in list_drafts(session, status, project_id, limit)
        ]
    if not rows:
        click.echo("no drafts")
        return
    click.echo(text_table(["id", "project", "post", "status", "model", "text"], rows))


@drafts.command("show")
@click.argument("draft_id", type=common.ROW_ID)
def show(draft_id: int) -> None:
    """The post, the exact prompt, generated and final text, status and events."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.preferences.queries import draft_detail

    with session_scope(common.engine()) as session:
        d = draft_detail(session, draft_id)
        draft, post = d.draft, d.post
        lines = [
            f"draft {draft.id}  project {draft.project_id}  status {draft.status}  "
            f"model {draft.model_id}",
            f"post {post.id} ({post.platform_id}) by {post.author}:",
            _indent(post.text),
            "prompt (as sent):",
            *(_indent(f"[{m['role']}] {m['content']}") for m in _messages(draft.prompt)),
            "generated:",
            _indent(draft.text_generated),
            "final:",
            _indent(draft.text_final if draft.text_final is not None else "–"),
            "events:",
            *(
                f"  #{e.id} {e.created_at:%Y-%m-%d %H:%M:%S} {e.kind}"
                + (f" {json.dumps(e.detail, ensure_ascii=False)}" if e.detail else "")
                for e in d.events
            ),
            *(
                f"pair {p.id}: source {p.source}, "
                + (f"filtered ({p.filter_reason})" if p.filtered else "kept")
                for p in d.pairs
            ),
        ]
    click.echo("\n".join(lines))


def _indent(text: str) -> str:
    return textwrap.indent(text, "  ", lambda _line: True)


def _messages(prompt: str) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(prompt)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and all(isinstance(m, dict) for m in parsed):
        return [{"role": m.get("role", "?"), "content": m.get("content", "")} for m in parsed]
    return [{"role": "prompt", "content": prompt}]


def _review(draft_id: int, collect: bool, change: Callable[[Session], Transition]) -> None:
    """Run one transition (and, with collect, its pair) in one transaction, then report."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.preferences.collector import PAIR_KINDS, DPOCollector

    with session_scope(common.engine()) as session:
        done = change(session)
        message = f"draft {draft_id}: {done.draft.status}"
        if collect and done.event.kind in PAIR_KINDS:
            outcome = DPOCollector().collect_event(session, done.event, done.draft)
            if outcome.status == "no_pair":
                message += " (no DPO pair: no better text given)"
            else:
                kept = f"filtered: {outcome.filter_reason}" if outcome.filter_reason else "kept"
                message += f" (DPO pair {outcome.pair_id}, source {outcome.source}, {kept})"
        elif done.event.kind in PAIR_KINDS:
            message += " (DPO pair left to the collector)"
    click.echo(message)


@drafts.command("approve")
@click.argument("draft_id", type=common.ROW_ID)
@collect_option
def approve_cmd(draft_id: int, collect_dpo: bool) -> None:
    """pending → approved (the generated text is sent as is; no DPO pair)."""
    from signalops_assets.preferences.review import approve

    _review(draft_id, collect_dpo, lambda s: approve(s, draft_id))


@drafts.command("edit")
@click.argument("draft_id", type=common.ROW_ID)
@click.option("--text", "new_text", default=None, help="The reviewer's reply text")
@click.option("--editor", is_flag=True, help="Write the reply in $EDITOR")
@collect_option
def edit_cmd(draft_id: int, new_text: str | None, editor: bool, collect_dpo: bool) -> None:
    """pending|approved|edited → edited; the edit becomes a DPO pair (source edit)."""
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.preferences.review import edit

    if (new_text is None) == (not editor):
        raise SignalOpsError("give exactly one of --text TEXT or --editor")
    if editor:
        new_text = _from_editor(draft_id)
    text = new_text or ""
    _review(draft_id, collect_dpo, lambda s: edit(s, draft_id, text))


def _from_editor(draft_id: int) -> str:
    from signalops_assets.db.session import session_scope
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.preferences.review import get_draft

    with session_scope(common.engine()) as session:
        draft = get_draft(session, draft_id)
        start = draft.text_final or draft.text_generated
    try:
        edited = click.edit(start)
    except click.ClickException as exc:  # the editor is missing or exited non-zero
        raise SignalOpsError(f"--editor: {exc.format_message()}; nothing changed") from None
    if edited is None:
        raise SignalOpsError("editor closed without saving: nothing changed")
    return edited


@drafts.command("reject")
@click.argument("draft_id", type=common.ROW_ID)
@click.option("--better-text", default=None, help="A better reply: makes a DPO pair (reject)")
@collect_option
def reject_cmd(draft_id: int, better_text: str | None, collect_dpo: bool) -> None:
    """pending → rejected; with --better-text the better reply becomes a DPO pair."""
    from signalops_assets.preferences.review import reject

    _review(draft_id, collect_dpo, lambda s: reject(s, draft_id, better_text))


@drafts.command("send")
@click.argument("draft_id", type=common.ROW_ID)
def send_cmd(draft_id: int) -> None:
    """approved|edited → sent: the final text was posted (no DPO pair)."""
    from signalops_assets.preferences.review import mark_sent

    _review(draft_id, False, lambda s: mark_sent(s, draft_id))
