"""The judgment the pipeline acts on for each post (drafts are written for it, reviewers see it
as the suggestion): the latest primary judgment without an error that nothing superseded."""

from __future__ import annotations

from sqlalchemy import Subquery, func, select

from signalops_assets.db.models import Judgment


def acted_on_judgment_ids(project_id: str) -> Subquery:
    """One row per judged post of the project, column `judgment_id`."""
    return (
        select(func.max(Judgment.id).label("judgment_id"))
        .where(
            Judgment.project_id == project_id,
            Judgment.is_primary.is_(True),
            Judgment.error.is_(None),
            Judgment.superseded.is_(False),
        )
        .group_by(Judgment.post_id)
        .subquery()
    )
