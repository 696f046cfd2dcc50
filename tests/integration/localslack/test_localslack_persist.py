"""A workspace saved to its file and read back by a new LocalSlack with new tokens: cards, threads, DMs, files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from localslack import LocalSlack, WorkspaceClock
from localslack.persist import WorkspaceKeeper, load, save
from tests.integration.localslack.conftest import REPORTER, START, TOKEN, TRIAGE, section

WAIT = 10.0


@pytest.fixture
def reborn(tmp_path: Path) -> Iterator[LocalSlack]:
    """A second, empty workspace (same team) with a different token and signing secret, as after a restart."""
    slack = LocalSlack(signing_secret="another-secret", bot_token="xoxb-next-run", clock=WorkspaceClock(START + 60))
    with slack:
        yield slack


def test_restored_workspace_takes_edits_and_replies_on_earlier_cards_with_a_new_token(
    ls: LocalSlack, web: WebClient, reborn: LocalSlack, tmp_path: Path
) -> None:
    card = web.chat_postMessage(channel=TRIAGE, text="INC-1 triggered", blocks=[section("*INC-1* triggered")])
    web.chat_postMessage(channel=TRIAGE, text="paged tom", thread_ts=card["ts"])
    page = web.chat_postMessage(channel=REPORTER, text="You are paged for INC-1")
    web.views_publish(user_id=REPORTER, view={"type": "home", "blocks": [section("Waiting on you: INC-1")]})
    web.files_upload_v2(channel=TRIAGE, content=b"\x89PNG chart", filename="chart.png", title="Chart")
    path = tmp_path / "dev.workspace.json"
    save(ls.workspace, path)

    assert load(reborn.workspace, path) is None
    client = WebClient(token=reborn.bot_token, base_url=reborn.api_url)
    edited = client.chat_update(channel=TRIAGE, ts=card["ts"], text="INC-1 acknowledged")
    reply = client.chat_postMessage(channel=TRIAGE, text="tom acknowledged INC-1", thread_ts=card["ts"])
    assert edited["ok"] and reply["ok"]
    assert float(reply["ts"]) > float(card["ts"])
    replies = client.conversations_replies(channel=TRIAGE, ts=card["ts"])["messages"]
    assert [m["text"] for m in replies] == ["INC-1 acknowledged", "paged tom", "tom acknowledged INC-1"]
    # The bot's DM with the person is the same conversation, so its page can still be edited.
    dm = client.conversations_open(users=REPORTER)["channel"]["id"]
    assert dm == page["channel"]
    assert client.chat_update(channel=dm, ts=page["ts"], text="Acknowledged")["ok"]
    home = reborn.home_view(REPORTER)
    assert home is not None and "INC-1" in json.dumps(home.blocks)
    shared = next(m for m in reborn.messages(TRIAGE) if m.files)
    link = shared.files[0]["url_private"]
    assert link.startswith(reborn.url + "/")
    assert httpx.get(link, timeout=5, trust_env=False).content == b"\x89PNG chart"
    # Ids handed out after the restart do not collide with ones the file holds.
    again = client.files_getUploadURLExternal(filename="next.png", length=3)["file_id"]
    assert again not in {f["id"] for f in ls.files()}


def test_old_token_is_refused_after_a_restore(
    ls: LocalSlack, web: WebClient, reborn: LocalSlack, tmp_path: Path
) -> None:
    web.chat_postMessage(channel=TRIAGE, text="hello")
    path = tmp_path / "dev.workspace.json"
    save(ls.workspace, path)
    assert load(reborn.workspace, path) is None
    stale = WebClient(token=TOKEN, base_url=reborn.api_url)
    with pytest.raises(SlackApiError, match="invalid_auth"):
        stale.chat_postMessage(channel=TRIAGE, text="from the last run")


def test_unreadable_file_is_set_aside_and_the_workspace_starts_empty(reborn: LocalSlack, tmp_path: Path) -> None:
    path = tmp_path / "dev.workspace.json"
    path.write_text('{"format": 1, "users": [', encoding="utf-8")
    before = reborn.snapshot()

    warning = load(reborn.workspace, path)

    assert warning is not None and str(path) in warning and "empty workspace" in warning
    assert "\n" not in warning
    assert not path.exists()
    assert path.with_name(path.name + ".unreadable").read_text(encoding="utf-8") == '{"format": 1, "users": ['
    after = reborn.snapshot()
    assert after["channels"] == before["channels"] and after["users"] == before["users"]


def test_dump_of_another_workspace_is_refused_and_changes_nothing(ls: LocalSlack, web: WebClient) -> None:
    web.chat_postMessage(channel=TRIAGE, text="kept")
    other = LocalSlack(team_id="T0OTHER")
    foreign = other.workspace.dump()
    with pytest.raises(ValueError, match="T0OTHER"):
        ls.workspace.restore(foreign)
    dump = ls.workspace.dump()
    for messages in ([{"channel": TRIAGE, "nonsense": 1}], [{**dump["messages"][0], "files": ["not a file"]}]):
        with pytest.raises(ValueError, match="not a usable workspace dump"):
            ls.workspace.restore({**dump, "messages": messages})
    assert [m.text for m in ls.messages(TRIAGE)] == ["kept"]


def test_keeper_saves_after_a_change_and_once_more_on_stop(ls: LocalSlack, web: WebClient, tmp_path: Path) -> None:
    path = tmp_path / "dev.workspace.json"
    keeper = WorkspaceKeeper(ls.workspace, path, debounce=0.05).start()
    try:
        web.chat_postMessage(channel=TRIAGE, text="first")
        assert keeper.wait_saved(ls.workspace.version, WAIT), "the keeper did not save the change"
        assert "first" in path.read_text(encoding="utf-8")
        web.chat_postMessage(channel=TRIAGE, text="last word")
    finally:
        keeper.stop()
    texts = [m["text"] for m in json.loads(path.read_text(encoding="utf-8"))["messages"]]
    assert texts == ["first", "last word"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file is left behind"
