"""The lifecycle table: which action is allowed from which status."""

from __future__ import annotations

import pytest

from bot.common.errors import InvalidInput, InvalidTransition
from bot.common.vocabulary import Action, Severity, Status
from bot.incidents.lifecycle import next_status, parse_ref, parse_severity, validate_draft


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        pytest.param(Action.ACKNOWLEDGE, Status.TRIGGERED, Status.ACKNOWLEDGED, id="ack-triggered"),
        pytest.param(Action.ESCALATE, Status.ACKNOWLEDGED, Status.TRIGGERED, id="escalate-needs-new-ack"),
        pytest.param(Action.ESCALATE, Status.TRIGGERED, Status.TRIGGERED, id="escalate-triggered"),
        pytest.param(Action.MITIGATE, Status.ACKNOWLEDGED, Status.MITIGATED, id="mitigate"),
        pytest.param(Action.RESOLVE, Status.TRIGGERED, Status.RESOLVED, id="resolve-from-triggered"),
        pytest.param(Action.RESOLVE, Status.MITIGATED, Status.RESOLVED, id="resolve-from-mitigated"),
        pytest.param(Action.DISMISS, Status.ACKNOWLEDGED, Status.DISMISSED, id="dismiss"),
        pytest.param(Action.REOPEN, Status.RESOLVED, Status.TRIGGERED, id="reopen-resolved"),
        pytest.param(Action.REOPEN, Status.DISMISSED, Status.TRIGGERED, id="reopen-dismissed"),
        pytest.param(Action.SEVERITY, Status.MITIGATED, Status.MITIGATED, id="sev-keeps-status"),
        pytest.param(Action.NOTE, Status.RESOLVED, Status.RESOLVED, id="note-on-closed"),
    ],
)
def test_next_status_allowed(action: Action, current: Status, expected: Status) -> None:
    assert next_status(action, current, "INC-1") == expected


@pytest.mark.parametrize(
    ("action", "current", "phrase"),
    [
        pytest.param(Action.ACKNOWLEDGE, Status.ACKNOWLEDGED, "already acknowledged", id="double-ack"),
        pytest.param(Action.ACKNOWLEDGE, Status.RESOLVED, "reopen INC-1", id="ack-resolved"),
        pytest.param(Action.RESOLVE, Status.RESOLVED, "reopen INC-1", id="resolve-twice"),
        pytest.param(Action.REOPEN, Status.TRIGGERED, "needs it to be dismissed or resolved", id="reopen-open"),
        pytest.param(Action.ESCALATE, Status.MITIGATED, "already mitigated", id="escalate-mitigated"),
        pytest.param(Action.ASSIGN, Status.DISMISSED, "reopen INC-1", id="assign-dismissed"),
    ],
)
def test_next_status_refused_explains(action: Action, current: Status, phrase: str) -> None:
    with pytest.raises(InvalidTransition, match=phrase):
        next_status(action, current, "INC-1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("INC-42", 42, id="canonical"),
        pytest.param("inc-7", 7, id="lower"),
        pytest.param("INC7", 7, id="no-dash"),
        pytest.param(" 12 ", 12, id="bare-number"),
    ],
)
def test_parse_ref_accepts(text: str, expected: int) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", ["INC-", "foo", "INC-4x", "-3", "INC-1234567890123"])
def test_parse_ref_rejects_with_example(text: str) -> None:
    with pytest.raises(InvalidInput, match="IDs look like INC-42"):
        parse_ref(text)


def test_parse_severity_case_insensitive_and_rejects_unknown() -> None:
    assert parse_severity("SEV2") is Severity.SEV2
    with pytest.raises(InvalidInput, match="sev1, sev2, sev3 or sev4"):
        parse_severity("sev5")


def test_validate_draft_reports_each_field() -> None:
    draft, errors = validate_draft(title="  ", severity="sev9", links="https://ok.example\nnot a url")
    assert draft is None
    assert set(errors) == {"title", "severity", "links"}
    assert "not a url" in errors["links"]


def test_validate_draft_normalises() -> None:
    draft, errors = validate_draft(
        title="  Model   wrote\nexploit ", severity="sev2", category="", links="\nhttps://a.example/x\n"
    )
    assert errors == {}
    assert draft is not None
    assert draft.title == "Model wrote exploit"
    assert draft.category == "unclassified"
    assert draft.links == ("https://a.example/x",)
    assert draft.severity is Severity.SEV2


def test_validate_draft_title_too_long() -> None:
    _, errors = validate_draft(title="x" * 151)
    assert "150 characters" in errors["title"]
