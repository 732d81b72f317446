"""Accounts (issue #18): signing in and out, the session cookie, server-side expiry, rotation,
disable and reset, bearer tokens, the `workbench users` CLI, the last admin, authors that can't be
claimed, and the append-only audit log. The contract is /tmp/brief/common18.md's."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from workbench.cli import main
from workbench.service.curation import local_author
from workbench.service.workspace import sample_path
from workbench.store.schema import audit_log, sessions
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"  # TestClient's own host name, "testserver", is not on the allow-list
COOKIE = "workbench_session"
TOKEN = re.compile(r"\bwb_[A-Za-z0-9_.-]{20,}")


class Team:
    """A client of an app with accounts on: "root" is the first admin (added with accounts off, as
    the local user). Requests go as whoever's headers are passed; the cookie jar is never used, so
    each request carries exactly the credentials it names."""

    def __init__(self, client: TestClient, store):
        self.client, self.store = client, store
        self.tokens: dict[str, str] = {}
        added = self.raw("POST", "/api/users", json={"name": "root", "role": "admin"})
        assert added.status_code == 201, added.text
        self.tokens["root"] = added.json()["token"]
        self.sessions = {"root": self.sign_in("root")}

    def raw(self, method: str, url: str, headers: dict | None = None, **kwargs):
        self.client.cookies.clear()
        answer = self.client.request(method, url, headers=headers or {}, **kwargs)
        self.client.cookies.clear()
        return answer

    def as_(self, name: str, method: str, url: str, **kwargs):
        return self.raw(method, url, headers=self.cookie(self.sessions[name]), **kwargs)

    @staticmethod
    def cookie(session: str) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={session}"}

    def add(self, name: str, role: str, *, sign_in: bool = True) -> str:
        added = self.as_("root", "POST", "/api/users", json={"name": name, "role": role})
        assert added.status_code == 201, added.text
        self.tokens[name] = added.json()["token"]
        if sign_in:
            self.sessions[name] = self.sign_in(name)
        return self.tokens[name]

    def sign_in_answer(self, name: str, token: str | None = None, headers: dict | None = None):
        return self.raw("POST", "/api/session", headers=headers,
                        json={"name": name, "token": self.tokens[name] if token is None else token})

    def sign_in(self, name: str, headers: dict | None = None) -> str:
        answer = self.sign_in_answer(name, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.cookies[COOKIE]

    def audit(self) -> list[dict]:
        answer = self.as_("root", "GET", "/api/audit", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store, execute_runs=False), headers=CLIENT, base_url=LOCAL) as c:
        yield c


@pytest.fixture
def team(client, store):
    client.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
    return Team(client, store)


def set_cookie(answer) -> str:
    headers = [v for k, v in answer.headers.multi_items() if k.lower() == "set-cookie" and v.startswith(COOKIE)]
    assert len(headers) == 1, answer.headers
    return headers[0]


# --- Signing in and out --------------------------------------------------------------------------------

def test_sign_in_who_am_i_and_sign_out(team):
    team.add("ann", "annotator", sign_in=False)
    assert team.raw("GET", "/api/session").json() == {"accounts": True, "user": None}
    assert team.raw("GET", "/api/datasets").status_code == 401
    wrong = team.sign_in_answer("ann", token="wb_2.not-the-token-not-the-token-not")
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong name or token"
    assert COOKIE not in wrong.cookies
    assert team.sign_in_answer("nobody", token=team.tokens["ann"]).json()["detail"] == "wrong name or token"

    answer = team.sign_in_answer("ann")
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"] == {"name": "ann", "role": "annotator"}
    expires = datetime.fromisoformat(answer.json()["expires_at"])
    assert timedelta(hours=11.9) < expires - datetime.now(timezone.utc) <= timedelta(hours=12)
    session = answer.cookies[COOKIE]
    me = team.raw("GET", "/api/session", headers=team.cookie(session)).json()
    assert me == {"accounts": True, "user": {"name": "ann", "role": "annotator"}}
    assert team.raw("GET", "/api/datasets", headers=team.cookie(session)).status_code == 200

    out = team.raw("DELETE", "/api/session", headers=team.cookie(session))
    assert out.status_code == 204
    cleared = set_cookie(out)
    assert re.search(r"(?i)max-age=0|expires=[^;]*19[67]0", cleared), cleared  # the browser drops it
    assert team.raw("GET", "/api/datasets", headers=team.cookie(session)).status_code == 401
    assert team.raw("GET", "/api/session", headers=team.cookie(session)).json()["user"] is None
    # The same name and token sign in again: signing out ends a session, not the account.
    assert team.sign_in_answer("ann").status_code == 200


def test_the_session_cookie_is_http_only_strict_and_secure_only_over_https(team, settings, store):
    header = set_cookie(team.sign_in_answer("root"))
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert "httponly" in attributes, header
    assert attributes["samesite"].lower() == "samesite=strict", header
    assert attributes["path"] == "Path=/", header
    assert "secure" not in attributes, header  # over http a Secure cookie would never come back
    assert "domain" not in attributes, header  # this host only
    with TestClient(create_app(settings, store=store, execute_runs=False), headers=CLIENT,
                    base_url="https://localhost") as https:
        answer = https.post("/api/session", json={"name": "root", "token": team.tokens["root"]})
        assert answer.status_code == 200, answer.text
        assert "secure" in [p.strip().lower() for p in set_cookie(answer).split(";")], set_cookie(answer)


def test_sessions_expire_on_the_server(team, monkeypatch):
    """Whatever the cookie says: a session the store holds as expired answers 401, and so does one
    whose time has passed."""
    session = team.sign_in("root")
    assert team.raw("GET", "/api/datasets", headers=team.cookie(session)).status_code == 200
    with team.store.engine.begin() as conn:
        conn.execute(sa.update(sessions).values(expires_at="2000-01-01T00:00:00.000+00:00"))
    assert team.raw("GET", "/api/datasets", headers=team.cookie(session)).status_code == 401
    assert team.raw("GET", "/api/datasets", headers=team.cookie(team.sessions["root"])).status_code == 401

    fresh = team.sign_in("root")
    assert team.raw("GET", "/api/datasets", headers=team.cookie(fresh)).status_code == 200
    later = datetime.now(timezone.utc) + timedelta(hours=12, minutes=1)
    import workbench.store.db as db

    monkeypatch.setattr(db, "utcnow", lambda: later.isoformat(timespec="milliseconds"))
    for module in ("workbench.store.accounts", "workbench.service.accounts"):
        if hasattr(__import__(module, fromlist=["x"]), "utcnow"):
            monkeypatch.setattr(f"{module}.utcnow", lambda: later.isoformat(timespec="milliseconds"))
    assert team.raw("GET", "/api/datasets", headers=team.cookie(fresh)).status_code == 401


def test_the_session_length_is_a_setting(settings, store):
    from dataclasses import replace

    short = replace(settings, session_hours=0.5)
    with TestClient(create_app(short, store=store, execute_runs=False), headers=CLIENT, base_url=LOCAL) as c:
        team = Team(c, store)
        answer = team.sign_in_answer("root")
        expires = datetime.fromisoformat(answer.json()["expires_at"]) - datetime.now(timezone.utc)
        assert timedelta(minutes=29) < expires <= timedelta(minutes=30)
        assert re.search(r"(?i)max-age=1800\b", set_cookie(answer)), set_cookie(answer)
        assert team.raw("GET", "/api/datasets", headers=team.cookie(answer.cookies[COOKIE])).status_code == 200


def test_each_sign_in_is_a_new_session_and_ends_the_one_it_carried(team):
    first = team.sign_in("root")
    second = team.sign_in("root", headers=team.cookie(first))
    assert second != first
    assert team.raw("GET", "/api/datasets", headers=team.cookie(first)).status_code == 401
    assert team.raw("GET", "/api/datasets", headers=team.cookie(second)).status_code == 200
    # A session planted in the browser beforehand (session fixation) is worthless after sign-in,
    # even when it was someone else's.
    team.add("eve", "viewer")
    planted = team.sessions["eve"]
    mine = team.sign_in("root", headers=team.cookie(planted))
    assert team.raw("GET", "/api/session", headers=team.cookie(mine)).json()["user"]["name"] == "root"
    assert team.raw("GET", "/api/datasets", headers=team.cookie(planted)).status_code == 401
    # Another browser signing in (carrying nothing) leaves this one's session alone.
    other = team.sign_in("root")
    assert other not in (mine, second)
    for session in (mine, other):
        assert team.raw("GET", "/api/datasets", headers=team.cookie(session)).status_code == 200
    # An unknown or garbled cookie is no session (401), and signing in over one still works.
    for junk in ("nope", "x" * 5000, '"quoted"', "a;b"):
        assert team.raw("GET", "/api/datasets", headers=team.cookie(junk)).status_code == 401
        assert team.sign_in_answer("root", headers=team.cookie(junk)).status_code == 200


def test_disable_and_reset_end_sessions_and_old_tokens(team):
    old_token = team.add("vic", "annotator")
    bearer = {"Authorization": f"Bearer {old_token}"}
    assert team.raw("GET", "/api/datasets", headers=bearer).status_code == 200

    reset = team.as_("root", "POST", "/api/users/vic/reset")
    assert reset.status_code == 200, reset.text
    new_token = reset.json()["token"]
    assert TOKEN.fullmatch(new_token) and new_token != old_token
    assert reset.json()["user"]["name"] == "vic"
    assert team.as_("vic", "GET", "/api/datasets").status_code == 401  # the session ended
    assert team.raw("GET", "/api/datasets", headers=bearer).status_code == 401  # the old token too
    assert team.sign_in_answer("vic", token=old_token).status_code == 401
    team.tokens["vic"] = new_token
    team.sessions["vic"] = team.sign_in("vic")
    new_bearer = {"Authorization": f"Bearer {new_token}"}
    assert team.raw("GET", "/api/datasets", headers=new_bearer).status_code == 200

    disabled = team.as_("root", "POST", "/api/users/vic/disable")
    assert disabled.status_code == 200 and disabled.json()["user"]["disabled"] is True, disabled.text
    assert team.as_("vic", "GET", "/api/datasets").status_code == 401
    assert team.raw("GET", "/api/datasets", headers=new_bearer).status_code == 401
    refused = team.sign_in_answer("vic")
    assert refused.status_code == 401 and COOKIE not in refused.cookies
    listed = {u["name"]: u for u in team.as_("root", "GET", "/api/users").json()}
    assert listed["vic"]["disabled"] is True and listed["vic"]["role"] == "annotator"

    enabled = team.as_("root", "POST", "/api/users/vic/enable")
    assert enabled.status_code == 200 and enabled.json()["user"]["disabled"] is False
    assert team.as_("vic", "GET", "/api/datasets").status_code == 401  # an ended session stays ended
    assert team.raw("GET", "/api/datasets", headers=new_bearer).status_code == 200  # the token they had
    assert team.sign_in_answer("vic").status_code == 200


def test_a_role_change_applies_to_the_live_session(team):
    team.add("rho", "viewer")
    note = {"dataset_id": "cands", "record_id": "cand-000001", "field": "note", "value": "x"}
    assert team.as_("rho", "POST", "/api/annotations", json=note).status_code == 403
    changed = team.as_("root", "POST", "/api/users/rho/role", json={"role": "annotator"})
    assert changed.status_code == 200 and changed.json()["user"]["role"] == "annotator", changed.text
    assert team.as_("rho", "POST", "/api/annotations", json=note).status_code == 201
    assert team.as_("root", "POST", "/api/users/rho/role", json={"role": "owner"}).status_code == 422


def test_users_api_answers(team):
    added = team.as_("root", "POST", "/api/users", json={"name": "a.b_c-d@e", "role": "viewer"})
    assert added.status_code == 201, added.text
    assert set(added.json()) == {"user", "token"} and TOKEN.fullmatch(added.json()["token"])
    assert added.json()["token"].startswith("wb_")
    user = added.json()["user"]
    assert set(user) == {"name", "role", "disabled", "created_at", "last_sign_in_at"}
    assert user["name"] == "a.b_c-d@e" and user["disabled"] is False and user["last_sign_in_at"] is None
    assert team.as_("root", "POST", "/api/users", json={"name": "a.b_c-d@e", "role": "admin"}).status_code == 409
    assert team.as_("root", "POST", "/api/users", json={"name": "A.B_C-D@E", "role": "viewer"}).status_code == 201
    for bad in ("", "x" * 65, "sp ace", "semi;colon", "é", "a/b", "\x00"):
        answer = team.as_("root", "POST", "/api/users", json={"name": bad, "role": "viewer"})
        assert answer.status_code == 422, (bad, answer.text)
    assert team.as_("root", "POST", "/api/users", json={"name": "ok", "role": "owner"}).status_code == 422
    assert team.as_("root", "POST", "/api/users/ghost/disable").status_code == 404
    listed = team.as_("root", "GET", "/api/users").json()
    assert [u["name"] for u in listed if u["name"] == "root"] == ["root"]
    assert all("token" not in u and "secret_hash" not in u for u in listed)
    assert next(u for u in listed if u["name"] == "root")["last_sign_in_at"] is not None


def test_bearer_tokens_work_and_the_shared_token_no_longer_does(tmp_path, monkeypatch):
    from workbench.config import Settings

    monkeypatch.setenv("WORKBENCH_TOKEN", "shared-t0ken")
    settings = Settings.load(data_dir=tmp_path / "tok")
    shared = {"Authorization": "Bearer shared-t0ken"}
    with TestClient(create_app(settings, execute_runs=False), headers=CLIENT, base_url=LOCAL) as c:
        assert c.get("/api/datasets").status_code == 401
        assert c.get("/api/datasets", headers=shared).status_code == 200
        first = c.post("/api/users", headers=shared, json={"name": "root", "role": "admin"})
        assert first.status_code == 201, first.text
        token = first.json()["token"]
        # Accounts are on: the shared token grants nothing, a user's token does.
        assert c.get("/api/datasets", headers=shared).status_code == 401
        assert c.get("/api/datasets?token=shared-t0ken").status_code == 401
        mine = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/datasets", headers=mine).status_code == 200
        assert c.get(f"/api/datasets?token={token}").status_code == 200
        assert c.post("/api/models", headers=mine, json={"id": "b", "provider": "baseline"}).status_code == 201
        assert c.get("/api/session", headers=mine).json() == {"accounts": True,
                                                              "user": {"name": "root", "role": "admin"}}
        assert c.get("/api/datasets", headers={"Authorization": f"Bearer {token[:-1]}x"}).status_code == 401
        assert c.get("/api/datasets", headers={"Authorization": f"Basic {token}"}).status_code == 401


# --- The CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def cli(settings):
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, [*args, "--data-dir", str(settings.data_dir)], catch_exceptions=False)
        assert "Traceback" not in result.output
        assert (result.exit_code == 0) == ok, result.output
        return result

    return run


def test_users_cli_add_list_disable_enable_reset(cli, settings, store):
    added = cli("users", "add", "alice", "--role", "admin")
    tokens = TOKEN.findall(added.stdout)
    assert len(tokens) == 1, added.output
    cli("users", "add", "bob", "--role", "viewer")
    listing = cli("users", "list").stdout
    assert re.search(r"alice\s+admin\s+enabled", listing) and re.search(r"bob\s+viewer\s+enabled", listing), listing
    assert tokens[0] not in listing
    with TestClient(create_app(settings, store=store, execute_runs=False), headers=CLIENT, base_url=LOCAL) as c:
        def signs_in(name, token):
            c.cookies.clear()
            signed_in = c.post("/api/session", json={"name": name, "token": token}).status_code == 200
            c.cookies.clear()  # the requests after it carry only what they name
            return signed_in

        assert signs_in("alice", tokens[0])
        assert c.get("/api/datasets", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 200
        cli("users", "disable", "bob")
        assert re.search(r"bob\s+viewer\s+disabled", cli("users", "list").stdout)
        cli("users", "enable", "bob")
        reset = TOKEN.findall(cli("users", "reset", "alice").stdout)
        assert len(reset) == 1 and reset[0] != tokens[0]
        assert not signs_in("alice", tokens[0]) and signs_in("alice", reset[0])
        assert c.get("/api/datasets", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 401
        # The CLI's changes are in the audit log as the OS user's.
        c.cookies.clear()
        log = c.get("/api/audit", headers={"Authorization": f"Bearer {reset[0]}"}, params={"limit": 1000}).json()
        cli_entries = [(e["actor"], e["action"], e["target"]) for e in log if e["actor"].startswith("cli:")]
        me = f"cli:{local_author()}"
        assert sorted(cli_entries) == sorted([(me, "user.add", "alice"), (me, "user.add", "bob"),
                                              (me, "user.disable", "bob"), (me, "user.enable", "bob"),
                                              (me, "user.reset", "alice")])
    # One-line refusals.
    assert "exists" in cli("users", "add", "alice", "--role", "viewer", ok=False).output
    assert len(cli("users", "disable", "ghost", ok=False).output.strip().splitlines()) == 1
    assert cli("users", "add", "bad name", "--role", "viewer", ok=False).output.strip()
    assert cli("users", "add", "carol", "--role", "owner", ok=False).exit_code != 0


def test_the_cli_never_disables_the_last_admin(cli):
    cli("users", "add", "alice", "--role", "admin")
    refused = cli("users", "disable", "alice", ok=False)
    assert "last" in refused.output and "admin" in refused.output
    assert len(refused.output.strip().splitlines()) == 1, refused.output
    assert "alice" in cli("users", "role", "alice", "viewer", ok=False).output
    cli("users", "add", "bea", "--role", "admin")
    cli("users", "disable", "alice")
    assert "last" in cli("users", "disable", "bea", ok=False).output


def test_the_api_never_leaves_no_enabled_admin(team):
    for refused in (("POST", "/api/users/root/disable", None), ("POST", "/api/users/root/role", {"role": "annotator"}),
                    ("POST", "/api/users/root/role", {"role": "viewer"})):
        answer = team.as_("root", refused[0], refused[1], json=refused[2])
        assert answer.status_code == 409 and "admin" in answer.json()["detail"], answer.text
    team.add("second", "admin")
    assert team.as_("root", "POST", "/api/users/second/disable").status_code == 200
    # A disabled admin is no admin: root is still the last enabled one.
    assert team.as_("root", "POST", "/api/users/root/disable").status_code == 409
    assert team.as_("root", "POST", "/api/users/second/enable").status_code == 200
    team.sessions["second"] = team.sign_in("second")  # disabling ended the session it had
    assert team.as_("root", "POST", "/api/users/root/role", json={"role": "viewer"}).status_code == 200
    assert team.as_("root", "GET", "/api/users").status_code == 403  # root is a viewer now
    assert team.as_("second", "POST", "/api/users/second/disable").status_code == 409
    assert team.as_("second", "POST", "/api/users/second/role", json={"role": "annotator"}).status_code == 409


# --- Authors -------------------------------------------------------------------------------------------

def note(record: str, value: str, **extra) -> dict:
    return {"dataset_id": "cands", "record_id": record, "field": "note", "value": value, **extra}


def log_of(team: Team, record: str | None = None) -> list[dict]:
    params = {"dataset_id": "cands", **({"record_id": record} if record else {})}
    return team.as_("root", "GET", "/api/annotations", params=params).json()


def test_a_claimed_author_is_ignored(team):
    """With accounts on, no annotation, bulk mark or undo can be written under another name."""
    team.add("ann", "annotator")
    made = team.as_("ann", "POST", "/api/annotations", json=note("cand-000001", "mine", author="root"))
    assert made.status_code == 201, made.text
    assert made.json()["author"] == "ann"
    assert [e["author"] for e in log_of(team, "cand-000001")] == ["ann"]

    bulk = team.as_("ann", "POST", "/api/annotations/bulk", json={
        "dataset_id": "cands", "action": "reviewed", "q": "cand-00000", "confirm": True, "author": "root"})
    assert bulk.status_code == 200 and bulk.json()["changed"] > 0, bulk.text
    marked = [e for e in log_of(team) if e["field"] == "reviewed"]
    assert marked and {e["author"] for e in marked} == {"ann"}

    # root's own change, then ann undoes "root's latest" by claiming to be root: ann's latest is undone.
    team.as_("root", "POST", "/api/annotations", json=note("cand-000050", "root's")).raise_for_status()
    undo = team.as_("ann", "POST", "/api/annotations/undo", json={"dataset_id": "cands", "author": "root"})
    assert undo.status_code == 200, undo.text
    assert undo.json()["author"] == "ann"
    assert undo.json()["undoes_group"] == bulk.json()["group_id"]  # ann's latest: her bulk mark
    assert log_of(team, "cand-000050")[0]["value"] == "root's"  # root's note stands
    again = team.as_("ann", "POST", "/api/annotations/undo", json={"dataset_id": "cands", "author": "root"})
    assert again.status_code == 200 and again.json()["undoes"] == made.json()["event_id"], again.text
    assert log_of(team, "cand-000050")[0]["value"] == "root's"
    assert {e["author"] for e in log_of(team)} == {"ann", "root"}


def test_an_annotator_undoes_only_their_own_events(team):
    team.add("ann", "annotator")
    team.add("ben", "annotator")
    theirs = team.as_("ben", "POST", "/api/annotations", json=note("cand-000005", "ben's")).json()
    event = theirs.get("event_id", theirs.get("id"))
    refused = team.as_("ann", "POST", "/api/annotations/undo", json={"dataset_id": "cands", "event_id": event})
    assert refused.status_code == 403, refused.text
    assert "admin" in refused.json()["detail"]
    assert log_of(team, "cand-000005")[0]["value"] == "ben's"
    # ann's default undo finds nothing of hers; ben's own works; an admin may undo anyone's.
    assert team.as_("ann", "POST", "/api/annotations/undo", json={"dataset_id": "cands"}).status_code == 409
    mine = team.as_("ann", "POST", "/api/annotations", json=note("cand-000006", "ann's")).json()
    undone = team.as_("root", "POST", "/api/annotations/undo",
                      json={"dataset_id": "cands", "event_id": mine.get("event_id", mine.get("id"))})
    assert undone.status_code == 200 and undone.json()["author"] == "root", undone.text
    assert team.as_("ben", "POST", "/api/annotations/undo", json={"dataset_id": "cands", "event_id": event}
                    ).status_code == 200
    # A bulk group of ben's is ben's too.
    group = team.as_("ben", "POST", "/api/annotations/bulk", json={
        "dataset_id": "cands", "action": "reviewed", "q": "cand-00001", "confirm": True})
    assert group.status_code == 200 and group.json()["group_id"], group.text
    grouped = next(e for e in log_of(team) if e["field"] == "reviewed")
    grouped_id = grouped.get("event_id", grouped.get("id"))
    assert team.as_("ann", "POST", "/api/annotations/undo",
                    json={"dataset_id": "cands", "event_id": grouped_id}).status_code == 403


def test_with_accounts_off_the_claimed_or_local_author_stands(client):
    client.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
    claimed = client.post("/api/annotations", json=note("cand-000001", "hers", author="alice"))
    assert claimed.status_code == 201 and claimed.json()["author"] == "alice", claimed.text
    local = client.post("/api/annotations", json=note("cand-000002", "mine"))
    assert local.status_code == 201 and local.json()["author"] == local_author()
    undo = client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "alice"})
    assert undo.status_code == 200 and undo.json()["author"] == "alice"
    assert client.get("/api/session").json() == {"accounts": False,
                                                 "user": {"name": local_author(), "role": "admin"}}
    assert client.post("/api/session", json={"name": "x", "token": "y"}).status_code == 409
    assert client.get("/api/users").json() == []


# --- Audit ---------------------------------------------------------------------------------------------

def test_every_admin_action_is_one_audit_entry_naming_its_actor(team):
    team.add("ad", "admin")
    team.add("vi", "viewer")
    before = {e["id"] for e in team.audit()}
    task = team.as_("ad", "GET", "/api/tasks/candidate-screening").json()
    task.pop("verdict_fields", None)
    task.pop("version", None)
    body = b'{"id": "r1", "name": "x"}\n'
    steps = [
        ("dataset.import", "small", lambda: team.as_("ad", "POST", "/api/datasets", data={"name": "small"},
                                                     files={"file": ("small.jsonl", body)})),
        ("dataset.rename", "small", lambda: team.as_("ad", "PATCH", "/api/datasets/small", json={"name": "Tiny"})),
        ("model.add", "b1", lambda: team.as_("ad", "POST", "/api/models", json={"id": "b1", "provider": "baseline"})),
        ("model.add", "b2", lambda: team.as_("ad", "POST", "/api/models", json={"id": "b2", "provider": "baseline"})),
        ("model.edit", "b1", lambda: team.as_("ad", "PUT", "/api/models/b1", json={"provider": "baseline",
                                                                                  "name": "B one"})),
        ("model.test", "b1", lambda: team.as_("ad", "POST", "/api/models/b1/test")),
        ("task.save", "audited", lambda: team.as_("ad", "POST", "/api/tasks", json=task | {"name": "audited"})),
        ("task.try", None, lambda: team.as_("ad", "POST", "/api/tasks/try", json={
            "task": task, "dataset_id": "cands", "model_id": "b1", "count": 1})),
        ("run.start", None, lambda: team.as_("ad", "POST", "/api/runs", json={"dataset_id": "cands",
                                                                              "model_ids": ["b1"], "limit": 3})),
        ("run.start", None, lambda: team.as_("ad", "POST", "/api/runs", json={"dataset_id": "cands",
                                                                              "model_ids": ["b2"], "limit": 3})),
    ]
    done = []
    for action, target, step in steps:
        answer = step()
        assert answer.status_code < 300, (action, answer.status_code, answer.text)
        done.append((action, target, answer.json() if answer.content else None))
    run_id = done[-2][2][0]["id"]
    for action in ("pause", "resume", "cancel"):
        answer = team.as_("ad", "POST", f"/api/runs/{run_id}/{action}")
        assert answer.status_code == 200, answer.text
        done.append((f"run.{action}", str(run_id), None))
    judge = team.as_("ad", "POST", "/api/judges", json={"dataset_id": "cands", "models": ["b1", "b2"], "judge": "b1"})
    assert judge.status_code == 201, judge.text
    done.append(("judge.create", None, None))
    assert team.as_("ad", "DELETE", "/api/models/b2").status_code == 204
    done.append(("model.delete", "b2", None))
    assert team.as_("ad", "DELETE", "/api/datasets/small").status_code == 204
    done.append(("dataset.delete", "small", None))
    for path, action in (("/api/users", "user.add"), ("/api/users/u1/disable", "user.disable"),
                         ("/api/users/u1/enable", "user.enable"), ("/api/users/u1/reset", "user.reset"),
                         ("/api/users/u1/role", "user.role")):
        answer = team.as_("ad", "POST", path, json={"name": "u1", "role": "viewer"} if path == "/api/users"
                          else {"role": "annotator"} if action == "user.role" else None)
        assert answer.status_code < 300, (path, answer.text)
        done.append((action, "u1", None))
    # Reading, annotating and refused calls are no admin actions.
    team.as_("vi", "GET", "/api/datasets")
    team.as_("vi", "POST", "/api/models", json={"id": "nope", "provider": "baseline"})
    team.as_("root", "POST", "/api/annotations", json=note("cand-000001", "not audited"))

    entries = [e for e in reversed(team.audit()) if e["id"] not in before]  # oldest first
    assert [(e["actor"], e["action"]) for e in entries] == [("ad", action) for action, _, _ in done]
    for entry, (_, target, _) in zip(entries, done, strict=True):
        assert set(entry) == {"id", "at", "actor", "action", "target", "detail"}
        if target is not None:
            assert entry["target"] == target, entry
        assert datetime.fromisoformat(entry["at"]) <= datetime.now(timezone.utc)


def test_sign_ins_sign_outs_and_failures_are_audited(team):
    team.add("ann", "annotator", sign_in=False)
    before = {e["id"] for e in team.audit()}
    session = team.sign_in("ann")
    assert team.sign_in_answer("ann", token="wb_9.wrong-wrong-wrong-wrong-wrong").status_code == 401
    assert team.sign_in_answer("mallory", token="wb_9.wrong-wrong-wrong-wrong-wrong").status_code == 401
    assert team.raw("DELETE", "/api/session", headers=team.cookie(session)).status_code == 204
    entries = [(e["actor"], e["action"], e["target"]) for e in reversed(team.audit()) if e["id"] not in before]
    # A name that is no user's is not written down as typed (it may be a token pasted in the wrong
    # field): the LEAD's deliberate departure from "actor = the name tried", kept to users who exist.
    assert entries[:2] == [("ann", "session.sign_in", "ann"), ("ann", "session.sign_in_failed", "ann")]
    assert entries[2][1] == "session.sign_in_failed" and "mallory" not in entries[2]
    assert entries[3:] == [("ann", "session.sign_out", "ann")]


def test_the_audit_log_pages_newest_first_and_is_admin_only(team):
    for i in range(5):
        team.add(f"p{i}", "viewer", sign_in=False)
    page = team.as_("root", "GET", "/api/audit", params={"limit": 2}).json()
    assert len(page) == 2 and page[0]["id"] > page[1]["id"]
    assert [e["target"] for e in page] == ["p4", "p3"]
    more = team.as_("root", "GET", "/api/audit", params={"limit": 2, "before": page[-1]["id"]}).json()
    assert [e["target"] for e in more] == ["p2", "p1"]
    team.add("annie", "annotator")
    for path in ("/api/audit", "/api/audit/export"):
        assert team.as_("annie", "GET", path).status_code == 403
        assert team.raw("GET", path).status_code == 401


def test_the_audit_log_refuses_update_and_delete_in_the_database(team):
    entries = team.audit()
    assert entries
    for statement in (sa.update(audit_log).values(actor="someone else"),
                      sa.update(audit_log).where(audit_log.c.id == entries[0]["id"]).values(action="x"),
                      sa.delete(audit_log), sa.delete(audit_log).where(audit_log.c.id == entries[-1]["id"])):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with team.store.engine.begin() as conn:
                conn.execute(statement)
    if team.store.dialect == "postgresql":  # TRUNCATE skips UPDATE and DELETE triggers
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with team.store.engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE audit_log")
    assert team.audit() == entries
    # Appending still works.
    team.add("later", "viewer", sign_in=False)
    assert len(team.audit()) == len(entries) + 1


def test_audit_export_as_csv_and_jsonl(team, cli):
    team.add("-1-1", "viewer", sign_in=False)  # a name a spreadsheet would run as a formula
    team.add("@sum", "viewer", sign_in=False)
    newest_first = team.audit()
    jsonl = team.as_("root", "GET", "/api/audit/export", params={"format": "jsonl"})
    assert jsonl.status_code == 200 and "attachment" in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines == list(reversed(newest_first))  # oldest first, whole entries
    answer = team.as_("root", "GET", "/api/audit/export", params={"format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == ["id", "at", "actor", "action", "target", "detail"]
    def cell(text: str) -> str:
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    assert [(int(r["id"]), r["actor"], r["action"], r["target"]) for r in rows] == \
           [(e["id"], cell(e["actor"]), e["action"], cell(e["target"])) for e in lines]
    assert {"'-1-1", "'@sum"} <= {r["target"] for r in rows}
    assert [json.loads(r["detail"]) for r in rows] == [e["detail"] for e in lines]
    assert team.as_("root", "GET", "/api/audit/export", params={"format": "xml"}).status_code == 422
    # The CLI prints the same log.
    printed = [json.loads(line) for line in cli("audit").stdout.splitlines()]
    assert [e["id"] for e in printed] == [e["id"] for e in lines]
    printed_csv = list(csv.DictReader(io.StringIO(cli("audit", "--format", "csv").stdout)))
    assert [r["action"] for r in printed_csv] == [e["action"] for e in lines]


def test_refused_and_failed_admin_actions_leave_no_entry(team):
    team.add("vi", "viewer")
    before = team.audit()
    assert team.as_("root", "DELETE", "/api/datasets/no-such").status_code == 404
    assert team.as_("root", "POST", "/api/models", json={"id": "x", "provider": "nope"}).status_code == 422
    assert team.as_("root", "POST", "/api/users", json={"name": "root", "role": "admin"}).status_code == 409
    assert team.as_("root", "POST", "/api/users/root/disable").status_code == 409  # the last admin
    assert team.as_("vi", "DELETE", "/api/datasets/cands").status_code == 403
    assert team.raw("DELETE", "/api/datasets/cands").status_code == 401
    assert team.audit() == before


def test_with_accounts_off_admin_actions_are_audited_as_the_local_user(client, cli):
    assert client.post("/api/models", json={"id": "m", "provider": "baseline"}).status_code == 201
    assert client.delete("/api/models/m").status_code == 204
    cli("models", "add", "c", "--provider", "baseline")
    entries = [(e["actor"], e["action"], e["target"]) for e in reversed(client.get("/api/audit").json())]
    assert entries == [(local_author(), "model.add", "m"), (local_author(), "model.delete", "m"),
                       (f"cli:{local_author()}", "model.add", "c")]


def test_the_cli_audits_its_admin_actions(cli, tmp_path):
    data = tmp_path / "x.jsonl"
    data.write_text('{"id": "a", "t": 1}\n', encoding="utf-8")
    cli("import", str(data), "--name", "X")
    cli("models", "add", "rules", "--provider", "baseline")
    cli("models", "remove", "rules")
    cli("datasets", "delete", "x")
    printed = [json.loads(line) for line in cli("audit").stdout.splitlines()]
    me = f"cli:{local_author()}"
    assert [(e["actor"], e["action"], e["target"]) for e in printed] == [
        (me, "dataset.import", "x"), (me, "model.add", "rules"), (me, "model.delete", "rules"),
        (me, "dataset.delete", "x")]


def test_names_are_case_sensitive(team):
    assert team.as_("root", "POST", "/api/users", json={"name": "Root", "role": "viewer"}).status_code == 201
    assert team.sign_in_answer("ROOT", token=team.tokens["root"]).status_code == 401
    assert team.sign_in_answer("Root", token=team.tokens["root"]).status_code == 401
    assert team.sign_in_answer("root").json()["user"] == {"name": "root", "role": "admin"}


def test_the_shared_token_opens_no_socket_once_accounts_are_on(tmp_path, monkeypatch):
    from starlette.websockets import WebSocketDisconnect

    from workbench.config import Settings

    monkeypatch.setenv("WORKBENCH_TOKEN", "shared-t0ken")
    with TestClient(create_app(Settings.load(data_dir=tmp_path / "tok"), execute_runs=False), headers=CLIENT,
                    base_url=LOCAL) as c:
        live = "ws://localhost/api/workbench/live"
        with c.websocket_connect(f"{live}?token=shared-t0ken"):
            pass
        added = c.post("/api/users", headers={"Authorization": "Bearer shared-t0ken"},
                       json={"name": "root", "role": "admin"})
        assert added.status_code == 201
        with pytest.raises(WebSocketDisconnect) as refused:
            with c.websocket_connect(f"{live}?token=shared-t0ken") as ws:
                ws.receive_text()
        assert refused.value.code == 4401
        with c.websocket_connect(f"{live}?token={added.json()['token']}"):
            pass


def test_a_team_server_may_listen_beyond_loopback_without_the_shared_token(cli, settings, monkeypatch):
    """`serve --host 0.0.0.0` needs WORKBENCH_TOKEN, or accounts: with a user defined every call
    needs a sign-in anyway."""
    served: dict = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.update(app=app, **kw))
    refused = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--no-warm-up", "--data-dir",
                                        str(settings.data_dir)])
    assert refused.exit_code != 0 and "WORKBENCH_TOKEN" in refused.output and not served
    cli("users", "add", "root", "--role", "admin")
    cli("serve", "--host", "0.0.0.0", "--port", "4999", "--no-warm-up")
    assert served["host"] == "0.0.0.0"
    with TestClient(served["app"], base_url="http://192.168.1.20:4999") as c:
        assert c.get("/api/datasets").status_code == 401
        assert c.get("/api/health").status_code == 200


@pytest.mark.parametrize("text, hours", [("0.5", 0.5), ("48", 48.0), (None, 12.0), ("", 12.0), ("soon", 12.0),
                                         ("-1", 12.0), ("0", 12.0), ("nan", 12.0), ("1e9", 12.0)])
def test_the_session_length_comes_from_the_environment(tmp_path, monkeypatch, text, hours):
    from workbench.config import Settings

    if text is None:
        monkeypatch.delenv("WORKBENCH_SESSION_HOURS", raising=False)
    else:
        monkeypatch.setenv("WORKBENCH_SESSION_HOURS", text)
    assert Settings.load(data_dir=tmp_path).session_hours == hours


def test_the_cli_writes_the_audit_log_to_a_file(cli, tmp_path):
    cli("users", "add", "root", "--role", "admin")
    target = tmp_path / "audit.csv"
    cli("audit", "--format", "csv", "--output", str(target))
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [(f"cli:{local_author()}", "user.add", "root")]


def test_answers_holding_a_token_or_a_new_session_are_not_cached(team):
    """A one-time token (add, reset) or a fresh session cookie must not land in a cache."""
    team.add("cached", "viewer", sign_in=False)
    answers = [team.as_("root", "POST", "/api/users", json={"name": "nc", "role": "viewer"}),
               team.as_("root", "POST", "/api/users/nc/reset")]
    token = answers[-1].json()["token"]
    answers.append(team.raw("POST", "/api/session", json={"name": "nc", "token": token}))
    for answer in answers:
        assert answer.status_code < 300, answer.text
        assert answer.headers.get("cache-control") == "no-store", answer.request.url
