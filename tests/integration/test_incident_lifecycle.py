"""Filing and working incidents through signed Slack requests over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from bot.app.asgi import Tripwire
from db.models import Incident, OutboxMessage, TimelineEntry
from localslack import LocalSlack
from tests.conftest import LEAD, REPORTER, TRIAGE_CHANNEL, TRIAGER

FORM = {
    "title": "Model gave synthesis route",
    "description": "Transcript attached; the refusal classifier missed it.",
    "category": "cyber",
    "severity": "sev2",
    "model": "frontier-x",
    "checkpoint": "ckpt-0412",
    "deployment": "internal research",
    "links": "https://evals.example/run/12",
}


def open_form(slack: LocalSlack, user: str = REPORTER, title: str = "") -> dict[str, Any]:
    """Run `/incident new` and return the modal it opened."""
    response = slack.slash_command(user, f"new {title}".strip(), channel_id=TRIAGE_CHANNEL)
    assert response.status_code == 200
    views = slack.open_views(user)
    assert views, "no modal was opened"
    return _as_dict(views[-1])


def _as_dict(view: Any) -> dict[str, Any]:
    return view if isinstance(view, dict) else dict(vars(view))


def submit_form(slack: LocalSlack, view: dict[str, Any], user: str = REPORTER, **fields: str) -> Any:
    """Fill the report form and submit it."""
    values = {block_id: {"value": value} for block_id, value in {**FORM, **fields}.items()}
    return slack.submit_view(user, view["id"], values)


def file_incident(slack: LocalSlack, bot: Tripwire, **fields: str) -> Any:
    """File through the modal, deliver the outbox, and return the posted card."""
    submit_form(slack, open_form(slack), **fields)
    bot.outbox.drain()
    cards = [m for m in slack.messages(TRIAGE_CHANNEL) if _field(m, "blocks")]
    assert cards, "no card was posted"
    return cards[-1]


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def incidents(bot: Tripwire) -> list[Incident]:
    with Session(bot.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())  # type: ignore[arg-type]


def timeline(bot: Tripwire, incident_id: int = 1) -> list[TimelineEntry]:
    with Session(bot.engine) as session:
        statement = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
        return list(session.exec(statement.order_by(TimelineEntry.id)).all())  # type: ignore[arg-type]


def card_text(message: Any) -> str:
    """Every text in a message's blocks, joined (for assertions)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_field(message, "blocks"))
    return "\n".join(parts)


def last_ephemeral(slack: LocalSlack, user: str) -> str:
    messages = slack.ephemerals(user)
    assert messages, f"{user} was shown nothing"
    last = messages[-1]
    return str(_field(last, "text")) + "\n" + (card_text(last) if _field(last, "blocks") else "")


def test_file_via_modal_posts_card_and_records_timeline(slack: LocalSlack, bot: Tripwire) -> None:
    view = open_form(slack, title="Model gave synthesis route")
    assert view["callback_id"] == "incident_new"
    title_input = next(b for b in view["blocks"] if b.get("block_id") == "title")
    assert title_input["element"]["initial_value"] == "Model gave synthesis route"

    response = submit_form(slack, view)
    assert response.status_code == 200
    confirmation = _as_dict(slack.open_views(REPORTER)[-1])
    assert "INC-1" in card_text(confirmation)

    stored = incidents(bot)
    assert [(i.title, i.severity, i.category, i.status, i.reporter, i.level) for i in stored] == [
        ("Model gave synthesis route", "sev2", "cyber", "triggered", REPORTER, "alert")
    ]
    assert stored[0].policy_version == "it-1" and len(stored[0].policy_hash) == 64
    assert stored[0].links == ["https://evals.example/run/12"]
    assert stored[0].created_at.tzinfo is not None
    assert [e.action for e in timeline(bot)] == ["create"]

    assert slack.calls_to("chat.postMessage") == []  # nothing is sent before the outbox delivers
    result = bot.outbox.drain()
    assert result.sent == 1
    card = slack.messages(TRIAGE_CHANNEL)[-1]
    text_ = card_text(card)
    assert "INC-1" in text_ and "sev2" in text_ and "frontier-x @ ckpt-0412" in text_
    actions = [e["action_id"] for b in _field(card, "blocks") if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["incident_acknowledge", "incident_escalate", "incident_snooze", "incident_resolve"]
    assert incidents(bot)[0].card_ts == _field(card, "ts")


def test_modal_shows_field_errors_and_stores_nothing(slack: LocalSlack, bot: Tripwire) -> None:
    view = open_form(slack)
    response = submit_form(slack, view, title="   ", links="https://ok.example\nftp:/nope")
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    errors = response.json()["errors"]
    assert set(errors) == {"title", "links"}
    assert "ftp:/nope" in errors["links"]
    assert incidents(bot) == []


def test_list_shows_open_incidents(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    file_incident(slack, bot, title="Second one", severity="sev4")
    slack.slash_command(TRIAGER, "list")
    shown = last_ephemeral(slack, TRIAGER)
    assert "INC-1" in shown and "INC-2" in shown and "Second one" in shown
    slack.slash_command(TRIAGER, "list mine")
    assert "No mine incidents" in last_ephemeral(slack, TRIAGER)


def test_ack_by_button_updates_card_in_place_and_threads(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    response = slack.click_button(TRIAGER, TRIAGE_CHANNEL, _field(card, "ts"), "incident_acknowledge")
    assert response.status_code == 200
    bot.outbox.drain()

    # The click's own response_url replaced the card: no chat.update, none of its Tier 3 quota spent.
    assert not slack.calls_to("chat.update")
    assert [(p.ok, p.args.get("replace_original")) for p in slack.response_posts] == [(True, True)]
    updated = slack.message(TRIAGE_CHANNEL, _field(card, "ts"))
    assert "acknowledged" in card_text(updated) and f"<@{TRIAGER}>" in card_text(updated)
    replies = slack.replies(TRIAGE_CHANNEL, _field(card, "ts"))
    assert [_field(r, "text") for r in replies] == [f"<@{TRIAGER}> acknowledged INC-1."]
    [incident] = incidents(bot)
    assert (incident.status, incident.assignee) == ("acknowledged", TRIAGER)
    entry = timeline(bot)[-1]
    assert (entry.action, entry.actor, entry.before, entry.after) == (
        "acknowledge",
        TRIAGER,
        {"status": "triggered", "assignee": None},
        {"status": "acknowledged", "assignee": TRIAGER},
    )


def test_ack_by_command_then_resolve_and_reopen(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    slack.slash_command(TRIAGER, "ack INC-1")
    assert "INC-1 is now acknowledged" in last_ephemeral(slack, TRIAGER)
    slack.slash_command(TRIAGER, "resolve INC-1 classifier retrained")
    slack.slash_command(TRIAGER, "reopen inc-1")
    bot.outbox.drain()

    assert [e.action for e in timeline(bot)] == ["create", "acknowledge", "resolve", "reopen"]
    assert timeline(bot)[2].note == "classifier retrained"
    assert incidents(bot)[0].status == "triggered"
    replies = [_field(r, "text") for r in slack.replies(TRIAGE_CHANNEL, _field(card, "ts"))]
    assert replies == [
        f"<@{TRIAGER}> acknowledged INC-1.",
        f"<@{TRIAGER}> resolved INC-1. classifier retrained",
        f"<@{TRIAGER}> reopened INC-1.",
    ]
    # Three changes, three card edits at most (coalesced when queued together), and always the same message.
    assert {c.args["ts"] for c in slack.calls_to("chat.update")} == {_field(card, "ts")}
    assert "triggered" in card_text(slack.message(TRIAGE_CHANNEL, _field(card, "ts")))


def test_invalid_transition_is_refused_and_changes_nothing(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    slack.slash_command(TRIAGER, "resolve INC-1")
    bot.outbox.drain()
    calls_before, entries_before = len(slack.calls), len(timeline(bot))

    response = slack.click_button(TRIAGER, TRIAGE_CHANNEL, _field(card, "ts"), "incident_reopen")
    assert response.status_code == 200
    slack.slash_command(TRIAGER, "ack INC-1")
    shown = last_ephemeral(slack, TRIAGER)
    assert "INC-1 is triggered" not in shown  # reopen via button worked first
    slack.slash_command(TRIAGER, "resolve INC-1")
    slack.slash_command(TRIAGER, "ack INC-1")
    shown = last_ephemeral(slack, TRIAGER)
    assert "INC-1 is resolved" in shown and "reopen INC-1" in shown
    assert incidents(bot)[0].status == "resolved"
    assert [e.action for e in timeline(bot)][entries_before:] == ["reopen", "acknowledge", "resolve"]
    bot.outbox.drain()
    assert len(slack.calls) > calls_before


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        pytest.param("ack INC-999", "No incident INC-999", id="unknown-incident"),
        pytest.param("ack banana", "Usage: `/incident ack INC-42`", id="bad-id"),
        pytest.param("ack", "Which incident?", id="missing-id"),
        pytest.param("dismiss INC-1", "Say why it is a false positive", id="dismiss-needs-reason"),
        pytest.param("sev INC-1 sev9", "sev1, sev2, sev3 or sev4", id="bad-severity"),
        pytest.param("assign INC-1 bob", "not a Slack user mention", id="assign-needs-mention"),
        pytest.param("fly INC-1", "`fly` is not a /incident subcommand", id="unknown-subcommand"),
        pytest.param("list soon", "choose open, mine or all", id="bad-list-scope"),
    ],
)
def test_bad_commands_answer_with_usage(slack: LocalSlack, bot: Tripwire, text: str, phrase: str) -> None:
    file_incident(slack, bot)
    entries_before = len(timeline(bot))
    response = slack.slash_command(TRIAGER, text)
    assert response.status_code == 200
    assert phrase in last_ephemeral(slack, TRIAGER)
    assert len(timeline(bot)) == entries_before


def test_other_subcommands_record_their_change(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    for command in (
        "sev INC-1 sev1",
        f"assign INC-1 <@{TRIAGER}|tom>",
        "note INC-1 weights & <b>logs</b>",
        "escalate INC-1",
        "mitigate INC-1 endpoint disabled",
        "dismiss INC-1 eval bug, not the model",
    ):
        slack.slash_command(LEAD, command)
        assert "INC-1" in last_ephemeral(slack, LEAD)
    entries = timeline(bot)
    assert [e.action for e in entries] == ["create", "severity", "assign", "note", "escalate", "mitigate", "dismiss"]
    assert entries[1].after == {"severity": "sev1"}
    assert entries[2].after == {"assignee": TRIAGER}
    assert entries[3].note == "weights & <b>logs</b>"
    assert entries[4].after == {"escalation_level": 1}
    [incident] = incidents(bot)
    assert (incident.status, incident.dismiss_reason) == ("dismissed", "eval bug, not the model")
    bot.outbox.drain()
    replies = [_field(r, "text") for r in slack.replies(TRIAGE_CHANNEL, incident.card_ts or "")]
    assert f"<@{LEAD}>: weights &amp; &lt;b&gt;logs&lt;/b&gt;" in replies


def test_show_lists_the_timeline(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    slack.slash_command(TRIAGER, "ack INC-1")
    slack.slash_command(TRIAGER, "show INC-1")
    shown = last_ephemeral(slack, TRIAGER)
    assert "Model gave synthesis route" in shown
    assert "filed INC-1 as sev2" in shown and "acknowledged INC-1" in shown


def test_channel_mention_in_title_is_escaped_everywhere(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot, title="<!channel> please look <@U0LEAD>", description="<!here> & co")
    posted = slack.calls_to("chat.postMessage")[-1].args
    assert "<!channel>" not in posted["text"] and "&lt;!channel&gt;" in posted["text"]
    mrkdwn = [
        obj["text"]
        for block in _field(card, "blocks")
        for obj in [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    ]
    assert mrkdwn
    joined = "\n".join(mrkdwn)
    assert "<!here>" not in joined and "&lt;!here&gt; &amp; co" in joined
    slack.slash_command(TRIAGER, "list")
    listed = last_ephemeral(slack, TRIAGER)
    assert "<!channel>" not in listed and "&lt;!channel&gt;" in listed


def test_twenty_thousand_character_description_is_truncated_not_refused(slack: LocalSlack, bot: Tripwire) -> None:
    long_text = ("The model kept going. " * 1000)[:20_000]
    card = file_incident(slack, bot, description=long_text)
    assert incidents(bot)[0].description == long_text.strip()
    assert all(c.ok for c in slack.calls), [c.error for c in slack.calls if not c.ok]
    assert "20,000 characters in all" in card_text(card)
    slack.slash_command(TRIAGER, "show INC-1")
    assert "characters in all" in last_ephemeral(slack, TRIAGER)


def test_message_shortcut_prefills_form_from_message(slack: LocalSlack, bot: Tripwire) -> None:
    message = slack.post_user_message(REPORTER, "C0GENERAL", "Jailbreak works again\nSee transcript below")
    response = slack.message_shortcut(REPORTER, "C0GENERAL", _field(message, "ts"), "report_safety_incident")
    assert response.status_code == 200
    view = _as_dict(slack.open_views(REPORTER)[-1])
    values = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"}
    assert values["title"] == "Jailbreak works again"
    assert "See transcript below" in values["description"]
    assert values["links"].startswith(slack.url)
    submit_form(slack, view, title=values["title"], links=values["links"])
    assert incidents(bot)[0].links == [values["links"]]


def test_app_home_lists_my_open_and_assigned_incidents(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot, title="Reported by Rita")
    file_incident(slack, bot, title="Given to Tom")
    slack.slash_command(TRIAGER, "ack INC-2")
    slack.app_home_opened(TRIAGER)
    home = card_text(slack.home_view(TRIAGER))
    assert "Given to Tom" in home and "Reported by Rita" not in home
    slack.app_home_opened(REPORTER)
    home = card_text(slack.home_view(REPORTER))
    assert "Reported by Rita" in home and "Given to Tom" in home


def test_slack_outage_delays_but_loses_nothing(slack: LocalSlack, bot: Tripwire, clock: Any) -> None:
    slack.fail("chat.postMessage", error="ratelimited", status=429, retry_after=7, times=1)
    submit_form(slack, open_form(slack))
    first = bot.outbox.drain()
    assert (first.sent, first.retried) == (0, 1)
    assert slack.messages(TRIAGE_CHANNEL) == []
    assert bot.outbox.drain().touched == 0  # not due before Retry-After has passed
    clock.advance(seconds=7)
    slack.fail(None, status=503, times=1)
    assert bot.outbox.drain().retried == 1
    clock.advance(seconds=300)
    assert bot.outbox.drain().sent == 1
    assert len(slack.messages(TRIAGE_CHANNEL)) == 1
    with Session(bot.engine) as session:
        [message] = session.exec(select(OutboxMessage)).all()
        assert (message.status, message.attempts) == ("sent", 3)


def test_permanent_slack_error_parks_the_message(slack: LocalSlack, bot: Tripwire) -> None:
    slack.fail("chat.postMessage", error="channel_not_found", times=1)
    submit_form(slack, open_form(slack))
    assert bot.outbox.drain().failed == 1
    with Session(bot.engine) as session:
        [message] = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "card.post")).all()
        assert (message.status, message.last_error) == ("failed", "chat.postMessage: channel_not_found")


def test_timeline_is_append_only_in_the_database(slack: LocalSlack, bot: Tripwire) -> None:
    file_incident(slack, bot)
    with bot.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text("UPDATE timeline_entry SET actor = 'someone else'"))
        connection.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text("DELETE FROM timeline_entry"))
        connection.rollback()
    assert timeline(bot)[0].actor == REPORTER


def test_every_slack_call_is_a_documented_method_with_its_arguments(slack: LocalSlack, bot: Tripwire) -> None:
    card = file_incident(slack, bot)
    slack.click_button(TRIAGER, TRIAGE_CHANNEL, _field(card, "ts"), "incident_acknowledge")
    slack.app_home_opened(TRIAGER)
    message = slack.post_user_message(REPORTER, "C0GENERAL", "odd output")
    slack.message_shortcut(REPORTER, "C0GENERAL", _field(message, "ts"), "report_safety_incident")
    bot.outbox.drain()
    required = {
        "views.open": {"trigger_id", "view"},
        "views.publish": {"user_id", "view"},
        "chat.postMessage": {"channel"},
        "chat.getPermalink": {"channel", "message_ts"},
        # The outbox learns the workspace URL once, for permalinks in its messages.
        "auth.test": set(),
    }
    methods = {c.method for c in slack.calls}
    assert methods == set(required)
    # The card's edit went through the click's response_url, which is no Web API method.
    assert [(p.ok, p.args.get("replace_original")) for p in slack.response_posts] == [(True, True)]
    for call in slack.calls:
        assert call.ok, (call.method, call.error)
        assert required[call.method] <= set(call.args), call.method
        if call.method in ("chat.postMessage", "chat.update"):
            assert call.args.get("text") or call.args.get("blocks")
