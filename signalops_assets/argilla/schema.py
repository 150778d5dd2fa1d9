"""The DPO review dataset's schema: names, guidelines, Argilla settings and the check that an
existing dataset has them. SDK objects are built here; the SDK is passed in, never imported."""

from __future__ import annotations

from typing import Any, Final

from signalops_assets.argilla.client import ArgillaError
from signalops_assets.redaction import display_url
from signalops_assets.vocab import PairSource, ReviewDecision, values

SOURCES: Final[tuple[str, ...]] = values(PairSource)
SIDES: Final[tuple[str, ...]] = ("a", "b")

FIELD_PROMPT: Final = "prompt"
FIELD_POST: Final = "post"
FIELD_A: Final = "response_a"
FIELD_B: Final = "response_b"
QUESTION_RANKING: Final = "ranking"
QUESTION_DECISION: Final = "verdict"  # the question's name in datasets already created
META_PAIR_ID: Final = "pair_id"
META_PROJECT: Final = "project"
META_SOURCE: Final = "source"
META_EDIT_RATIO: Final = "edit_ratio"
META_LENGTH_DELTA: Final = "length_delta"
META_CHOSEN_SIDE: Final = "chosen_side"

_FIELDS: Final = (FIELD_PROMPT, FIELD_POST, FIELD_A, FIELD_B)
_QUESTIONS: Final = (QUESTION_RANKING, QUESTION_DECISION)
_METADATA: Final = (
    META_PAIR_ID,
    META_PROJECT,
    META_SOURCE,
    META_EDIT_RATIO,
    META_LENGTH_DELTA,
    META_CHOSEN_SIDE,
)

GUIDELINES: Final = """\
Each record is one preference pair: a reply drafted by an LLM and the version a reviewer
produced from it (an edit, or a rewrite after rejecting the draft). The two appear as
Response A and Response B in an order that varies from record to record on purpose.

1. Read the prompt (and the original post, when shown).
2. Ranking: put the better reply first. Leave it empty only if you cannot tell.
3. Decision: "discard" when the pair should not be used for training (both replies are bad,
   they are equally good, or the post is off-topic or unsafe). Otherwise choose "keep":
   your ranking decides which reply is preferred. "swap" is for reviewers who know the
   stored order and want to flip it without ranking.
"""


def check_schema(dataset: Any, name: str, url: str) -> None:
    settings = dataset.settings
    present = {
        "field": {f.name for f in settings.fields},
        "question": {q.name for q in settings.questions},
        "metadata property": {m.name for m in settings.metadata},
    }
    wanted = {"field": _FIELDS, "question": _QUESTIONS, "metadata property": _METADATA}
    missing = [
        f"{kind} {n!r}" for kind, names in wanted.items() for n in names if n not in present[kind]
    ]
    if missing:
        raise ArgillaError(
            f"Argilla at {display_url(url)}: dataset {name!r} exists with another schema "
            f"(missing {', '.join(missing)}); use another dataset name"
        )


def build_settings(rg: Any, client: Any, min_submitted: int = 1) -> Any:
    # Every property gets the client explicitly: without it the SDK falls back to a global
    # default client (``Argilla._get_default()``), which may point elsewhere.
    return rg.Settings(
        guidelines=GUIDELINES,
        allow_extra_metadata=False,
        # A record is complete after this many reviewers; the sync takes their majority.
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        fields=[
            rg.ChatField(name=FIELD_PROMPT, title="Prompt", use_markdown=False, _client=client),
            rg.TextField(name=FIELD_POST, title="Original post", required=False, client=client),
            rg.TextField(name=FIELD_A, title="Response A", client=client),
            rg.TextField(name=FIELD_B, title="Response B", client=client),
        ],
        questions=[
            rg.RankingQuestion(
                name=QUESTION_RANKING,
                title="Rank the responses (best first)",
                values={"a": "Response A", "b": "Response B"},
                required=False,
                client=client,
            ),
            rg.LabelQuestion(
                name=QUESTION_DECISION,
                title="Decision",
                description="discard drops the pair; otherwise your ranking decides.",
                labels={decision.value: decision.value.title() for decision in ReviewDecision},
                required=True,
                client=client,
            ),
        ],
        metadata=[
            rg.IntegerMetadataProperty(
                name=META_PAIR_ID, title="Pair id", visible_for_annotators=False, client=client
            ),
            rg.TermsMetadataProperty(name=META_PROJECT, title="Project", client=client),
            rg.TermsMetadataProperty(
                name=META_SOURCE, title="Source", options=list(SOURCES), client=client
            ),
            rg.FloatMetadataProperty(name=META_EDIT_RATIO, title="Edit ratio", client=client),
            rg.IntegerMetadataProperty(
                name=META_LENGTH_DELTA,
                title="Length delta (chosen - rejected)",
                visible_for_annotators=False,
                client=client,
            ),
            rg.TermsMetadataProperty(
                name=META_CHOSEN_SIDE,
                title="Chosen side",
                options=list(SIDES),
                visible_for_annotators=False,
                client=client,
            ),
        ],
    )
