"""Accounts under attack (issue #18): a user's token and anything typed as a secret are kept
nowhere but as a slow hash; the stored hash is scrypt; failed sign-ins are rate-limited per name
and address and per address; the CSRF, Host and Origin checks hold with a session cookie; and no
sign-in body, cookie or Authorization header, however odd, is a server error."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from itertools import count

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from starlette.websockets import WebSocketDisconnect

from testkit.net import free_port, wait_for_http
from tests.test_accounts import COOKIE, LOCAL, TOKEN, Team, set_cookie
from workbench.service.workspace import sample_path
from workbench.store.schema import users
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LIVE = "ws://localhost/api/workbench/live"
PASSWORD = "hunter2-Planted-Secret-4c7d9e"  # what someone might type as a token: never kept
FUZZ = hypothesis_settings(max_examples=60, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
addresses = count(1)


def fresh_address() -> tuple[str, int]:
    n = next(addresses)
    return (f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", 40000)


@pytest.fixture
def app(settings, store):
    return create_app(settings, store=store, execute_runs=False)


@pytest.fixture
def team(app, store):
    with TestClient(app, headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
        yield Team(c, store)


def from_address(app, address: tuple[str, int] | None = None, **kwargs) -> TestClient:
    """A client whose requests come from ``address`` (the rate limit's "address")."""
    return TestClient(app, headers=CLIENT, base_url=LOCAL, client=address or fresh_address(), **kwargs)


def database_text(store) -> str:
    """Every row of every table, as text: a dump of the database whatever its dialect."""
    meta = sa.MetaData()
    meta.reflect(store.engine)
    parts = []
    with store.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


# --- Secrets are kept nowhere -----------------------------------------------------------------------------

def test_a_planted_token_and_typed_secrets_appear_nowhere(team, settings, store, cli_runner, caplog):
    """A user's token, a session id, a password-like secret typed as a token, and a token pasted into
    the name field: none of them is in the database (file or rows), the data dir, the log, an export,
    the audit log or any API answer."""
    caplog.set_level(logging.DEBUG)
    token = team.add("ann", "annotator")
    session = team.sessions["ann"]
    secrets = {"token": token, "session": session, "password": PASSWORD,
               "token's random half": token.split(".", 1)[1], "root's token": team.tokens["root"]}
    seen: list[str] = []
    bearer = {"Authorization": f"Bearer {token}"}
    # Used every way there is: sign-in, bearer, ?token=, the socket, and mistakes.
    seen.append(team.raw("GET", "/api/session", headers=bearer).text)
    seen.append(team.raw("GET", f"/api/datasets?token={token}").text)
    seen.append(team.raw("POST", "/api/annotations", headers=bearer, json={
        "dataset_id": "cands", "record_id": "cand-000001", "field": "note", "value": "by token"}).text)
    with team.client.websocket_connect(f"{LIVE}?token={token}"):
        pass
    with team.client.websocket_connect(LIVE, headers=team.cookie(session)):
        pass
    seen.append(team.sign_in_answer("ann", token=PASSWORD).text)  # a password where the token goes
    seen.append(team.sign_in_answer("root", token=token).text)  # someone else's token
    pasted = team.raw("POST", "/api/session", json={"name": token, "token": token})  # both fields
    assert pasted.status_code == 401
    seen.append(pasted.text)
    seen.append(team.raw("GET", "/api/datasets", headers={"Authorization": f"Bearer {PASSWORD}"}).text)
    for odd in ({"name": 5, "token": token}, {"name": "ann", "token": token, "extra": True},
                {"name": "ann\x00", "token": token}):
        refused = team.raw("POST", "/api/session", json=odd)  # a 422 about another field
        assert refused.status_code == 422, refused.text
        seen.append(refused.text)
    # Everything an admin or a viewer can read back.
    root = team.cookie(team.sessions["root"])
    for path in ("/api/users", "/api/audit?limit=1000", "/api/audit/export?format=jsonl",
                 "/api/audit/export?format=csv", "/api/session", "/api/annotations?dataset_id=cands",
                 "/api/workbench?dataset_id=cands", "/openapi.json"):
        answer = team.raw("GET", path, headers=root)
        assert answer.status_code == 200, (path, answer.text)
        seen.append(answer.text)
    for kind in ("results", "golden", "training", "few-shot"):
        seen.append(team.raw("GET", f"/api/exports/{kind}", headers=root, params={"dataset_id": "cands"}).text)
    seen.append(cli_runner("audit").output + cli_runner("audit", "--format", "csv").output
                + cli_runner("users", "list").output)
    dump = database_text(store)
    # What the server logged (the test client's own request lines, httpx's, are not the server's).
    server_log = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                           if not r.name.startswith(("httpx", "httpcore")))
    assert "scrypt$" in dump  # the dump is real: the hashes are in it
    for what, secret in secrets.items():
        assert [text[:400] for text in seen if secret in text] == [], what
        assert secret not in server_log, what
        assert secret not in dump, what
        for path in settings.data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), (what, path)


def test_a_refused_sign_in_body_does_not_echo_the_secret(team):
    """A 422 about the token field names the problem, not the value: the page shows the detail, and
    a token (or a password typed for one) on the screen is one shoulder away from leaking."""
    token = team.add("ann", "annotator", sign_in=False)
    for odd in ({"name": "ann", "token": [token]}, {"name": "ann", "token": {"t": token}},
                {"name": "ann", "token": token + "\x00"}, {"name": "ann", "token": PASSWORD * 10},
                {"name": [token], "token": "x"}, {"name": token + "\x00", "token": "x"}):
        refused = team.raw("POST", "/api/session", json=odd)
        assert refused.status_code == 422, refused.text
        assert token not in refused.text and PASSWORD not in refused.text, refused.text


def test_the_stored_hash_is_salted_scrypt_of_the_token(team, store):
    first = team.add("a1", "viewer", sign_in=False)
    second = team.add("a2", "viewer", sign_in=False)
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(users.c.name, users.c.secret_hash)).all())
    assert all(token not in json.dumps(stored) for token in (first, second))

    def check(token: str, hashed: str) -> None:
        scheme, params, salt, digest = hashed.split("$")
        assert scheme == "scrypt"
        cost = {k: int(v) for k, v in (p.split("=") for p in params.split(","))}
        assert cost["n"] >= 2**14 and cost["r"] >= 8 and cost["p"] >= 1, cost  # OWASP's floor
        salt_bytes = base64.urlsafe_b64decode(salt + "==")
        expected = base64.urlsafe_b64decode(digest + "==")
        assert len(salt_bytes) >= 16 and len(expected) >= 32
        assert hashlib.scrypt(token.encode(), salt=salt_bytes, n=cost["n"], r=cost["r"], p=cost["p"],
                              dklen=len(expected), maxmem=256 * 1024**2) == expected
        assert hashlib.scrypt(b"not" + token.encode(), salt=salt_bytes, n=cost["n"], r=cost["r"], p=cost["p"],
                              dklen=len(expected), maxmem=256 * 1024**2) != expected

    check(first, stored["a1"])
    check(second, stored["a2"])
    assert stored["a1"].split("$")[2] != stored["a2"].split("$")[2]  # salted per user
    reset = team.as_("root", "POST", "/api/users/a1/reset").json()["token"]
    with store.engine.connect() as conn:
        now = conn.execute(sa.select(users.c.secret_hash).where(users.c.name == "a1")).scalar_one()
    check(reset, now)
    assert now.split("$")[2] != stored["a1"].split("$")[2]
    # A token is long random text: 32 bytes or more after its prefix.
    for token in (first, second, reset):
        assert TOKEN.fullmatch(token) and len(re.sub(r"^wb_\d+\.", "", token)) >= 43


# --- Rate limits ----------------------------------------------------------------------------------------

def retry_after(answer) -> int:
    assert answer.status_code == 429, answer.text
    seconds = int(answer.headers["Retry-After"])
    assert 1 <= seconds <= 15 * 60 + 1, seconds
    return seconds


def test_failed_sign_ins_are_limited_per_name_and_address(team, app, monkeypatch):
    team.add("ann", "annotator", sign_in=False)
    team.add("bob", "viewer", sign_in=False)
    attacker = from_address(app)
    for _ in range(5):
        wrong = attacker.post("/api/session", json={"name": "ann", "token": "wb_2.wrong-wrong-wrong-wrong-wrong"})
        assert wrong.status_code == 401, wrong.text
    refused = attacker.post("/api/session", json={"name": "ann", "token": "wb_2.wrong-wrong-wrong-wrong-wrong"})
    retry_after(refused)
    assert "too many" in refused.json()["detail"]
    # Locked for this name at this address, even with the right token...
    retry_after(attacker.post("/api/session", json={"name": "ann", "token": team.tokens["ann"]}))
    # ...while another name from it, and the same name from elsewhere, still sign in.
    assert attacker.post("/api/session", json={"name": "bob", "token": team.tokens["bob"]}).status_code == 200
    assert from_address(app).post("/api/session", json={"name": "ann", "token": team.tokens["ann"]}).status_code == 200
    # A header claiming another address changes nothing (the server is not behind a proxy it trusts).
    spoofed = attacker.post("/api/session", headers={"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"},
                            json={"name": "ann", "token": team.tokens["ann"]})
    retry_after(spoofed)
    # Fifteen minutes later the name is free again at that address.
    import workbench.service.accounts as accounts

    later = accounts._now() + accounts.WINDOW + accounts.timedelta(seconds=5)
    monkeypatch.setattr(accounts, "_now", lambda: later)
    assert attacker.post("/api/session", json={"name": "ann", "token": team.tokens["ann"]}).status_code == 200


@pytest.mark.parametrize("how", ["sign-in", "bearer"])
def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_a_sequence(team, app, how):
    """The limit counts a try before its slow check: 20 guesses sent at once from one address get the
    5 (sign-in, per name) or 30 (bearer tokens) checks a sequence would, not 20 (nor a scrypt each)."""
    import threading

    team.add("ann", "annotator", sign_in=False)
    attacker = from_address(app)
    total = 20 if how == "sign-in" else 45
    start, statuses = threading.Barrier(total), []

    def guess(i: int) -> None:
        start.wait(timeout=30)
        if how == "sign-in":
            answer = attacker.post("/api/session", json={"name": "ann", "token": f"wb_2.guess-{i:03d}-guess-guess-guess"})
        else:
            answer = attacker.get("/api/datasets", headers={"Authorization": f"Bearer wb_2.guess-{i:03d}-guess-guess"})
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(total)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    checked = statuses.count(401)
    assert set(statuses) <= {401, 429} and len(statuses) == total, statuses
    assert checked <= (5 if how == "sign-in" else 30), f"{checked} of {total} parallel guesses were checked"


def test_failed_sign_ins_are_limited_per_address(team, app):
    team.add("ann", "annotator", sign_in=False)
    sprayer = from_address(app)
    statuses = [sprayer.post("/api/session", json={"name": f"guess{i}", "token": "wb_9.spray-spray-spray-spray"}
                             ).status_code for i in range(30)]
    assert statuses == [401] * 30
    seconds = retry_after(sprayer.post("/api/session", json={"name": "guess-more", "token": "wb_9.spray-spray-spray"}))
    assert seconds > 60  # the window is 15 minutes; the oldest failure is seconds old
    # Every name is refused from that address now, the right token included; another address signs in.
    retry_after(sprayer.post("/api/session", json={"name": "ann", "token": team.tokens["ann"]}))
    assert from_address(app).post("/api/session", json={"name": "ann", "token": team.tokens["ann"]}).status_code == 200
    # A session made elsewhere still works from the sprayed address (the limit is on signing in).
    assert sprayer.get("/api/datasets", headers=team.cookie(team.sessions["root"])).status_code == 200


def test_guessing_bearer_tokens_gets_no_further_than_signing_in(team, app):
    """Every wrong well-formed token costs a slow hash, so bearer guesses are bounded too; whatever the
    answer, it is never a 2xx nor a 5xx."""
    guesser = from_address(app)
    statuses = [guesser.get("/api/datasets", headers={"Authorization": f"Bearer wb_1.guess-{i:04d}-guess-guess-guess"}
                            ).status_code for i in range(40)]
    assert set(statuses) <= {401, 429}, statuses
    assert 429 in statuses, "bearer guesses are never limited"
    assert from_address(app).get("/api/datasets", headers={"Authorization": f"Bearer {team.tokens['root']}"}
                                 ).status_code == 200


# --- CSRF, Host and Origin with cookies --------------------------------------------------------------------

def test_changes_need_the_client_header_even_with_a_session(team, app):
    """A cookie rides along on any cross-site request; the custom header can't, so it decides."""
    bare = TestClient(app, base_url=LOCAL)  # no X-Workbench-Client
    root = team.cookie(team.sessions["root"])
    refused = bare.post("/api/session", json={"name": "root", "token": team.tokens["root"]})
    assert refused.status_code == 403 and "X-Workbench-Client" in refused.json()["detail"]
    assert COOKIE not in refused.cookies
    form = bare.post("/api/session", data={"name": "root", "token": team.tokens["root"]})  # a cross-site form
    assert form.status_code == 403
    assert bare.delete("/api/session", headers=root).status_code == 403
    assert team.raw("GET", "/api/datasets", headers=root).status_code == 200  # not signed out
    for method, path, body in (("POST", "/api/models", {"id": "csrf", "provider": "baseline"}),
                               ("POST", "/api/users", {"name": "csrf", "role": "admin"}),
                               ("POST", "/api/annotations", {"dataset_id": "cands", "record_id": "cand-000001",
                                                             "field": "note", "value": "csrf"}),
                               ("PATCH", "/api/datasets/cands", {"name": "csrf"}),
                               ("DELETE", "/api/datasets/cands", None),
                               ("POST", "/api/users/root/reset", None)):
        bare.cookies.clear()
        answer = bare.request(method, path, headers=root, json=body)
        assert answer.status_code == 403 and "X-Workbench-Client" in answer.json()["detail"], (path, answer.text)
    assert team.raw("GET", "/api/models/csrf", headers=root).status_code == 404
    assert [u["name"] for u in team.as_("root", "GET", "/api/users").json()] == ["root"]
    assert team.as_("root", "GET", "/api/datasets/cands").json()["name"] != "csrf"
    assert team.as_("root", "GET", "/api/annotations", params={"dataset_id": "cands"}).json() == []
    assert team.raw("GET", "/api/datasets", headers=root).status_code == 200  # root's token wasn't reset


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4080", "localhost.evil.example"])
def test_a_valid_cookie_does_not_get_past_the_host_check(team, host):
    root = {**team.cookie(team.sessions["root"]), "Host": host, "Origin": f"http://{host}"}
    for method, path in (("GET", "/api/datasets"), ("GET", "/api/session"), ("POST", "/api/models"),
                         ("DELETE", "/api/session"), ("POST", "/api/session")):
        answer = team.raw(method, path, headers=root, json={"id": "h", "provider": "baseline"})
        assert answer.status_code == 421, (method, path, answer.text)
    with pytest.raises(WebSocketDisconnect) as refused:
        with team.client.websocket_connect(LIVE, headers=root) as ws:
            ws.receive_text()
    assert refused.value.code == 4421
    assert team.raw("GET", "/api/datasets", headers=team.cookie(team.sessions["root"])).status_code == 200


def test_the_socket_refuses_another_origin_whatever_the_session(team):
    team.add("vi", "viewer")
    cookie = team.cookie(team.sessions["vi"])
    for origin in ("https://evil.example", "http://localhost.evil.example", "null", "http://localhost:1"):
        with pytest.raises(WebSocketDisconnect) as refused:
            with team.client.websocket_connect(LIVE, headers={**cookie, "Origin": origin}) as ws:
                ws.receive_text()
        assert refused.value.code in (4401, 4403), (origin, refused.value.code)
    with pytest.raises(WebSocketDisconnect):
        with team.client.websocket_connect(f"{LIVE}?token={team.tokens['vi']}",
                                           headers={"Origin": "https://evil.example"}) as ws:
            ws.receive_text()
    with team.client.websocket_connect(LIVE, headers={**cookie, "Origin": "http://localhost"}):
        pass


# --- No odd input is a server error ------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=10), inner, max_size=4), max_leaves=12)
FIELD = (SCALARS | JSON | st.sampled_from(["", "\x00", "\ud800", "x" * 70, "x" * 300, "x" * 200_000, "wb_1.",
                                           "wb_1." + "a" * 43, "wb_99999999999999999999.aaaaaaaaaaaaaaaaaaaaaaa",
                                           "root", "root\x00", "ROOT", " root", "é" * 64, "🙂" * 40]))
BODIES = (JSON | st.fixed_dictionaries({"name": FIELD, "token": FIELD}) | st.fixed_dictionaries(
    {"name": FIELD, "token": FIELD}, optional={"extra": JSON, "role": FIELD}) | st.sampled_from(
    [[] , "", 0, None, {"name": "root"}, {"token": "x"}, json.loads("[" * 200 + "]" * 200)]))


@FUZZ
@given(body=BODIES)
def test_any_sign_in_body_is_a_4xx(team, app, body):
    text = json.dumps(body)
    client = from_address(app)
    answer = client.post("/api/session", content=text.encode("utf-8", "surrogatepass"),
                         headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert isinstance(answer.json()["detail"], (str, list))
    assert COOKIE not in answer.cookies


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_sign_in_bytes_are_a_4xx(team, app, raw):
    answer = from_address(app).post("/api/session", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])


HEADER = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300)


@FUZZ
@given(cookie=HEADER, authorization=HEADER, query=st.text(max_size=100))
def test_odd_cookies_and_authorizations_are_a_401_never_a_5xx(team, app, cookie, authorization, query):
    from urllib.parse import quote

    client = from_address(app)
    for headers in ({"Cookie": cookie}, {"Cookie": f"{COOKIE}={cookie}"}, {"Authorization": authorization},
                    {"Authorization": f"Bearer {authorization}"}):
        encoded = {k: v.encode("latin-1") for k, v in headers.items()}
        answer = client.get(f"/api/datasets?token={quote(query)}", headers=encoded)
        assert answer.status_code in (401, 429), (headers, answer.status_code, answer.text[:300])


# --- A real server --------------------------------------------------------------------------------------

def test_a_real_server_keeps_tokens_out_of_its_output(tmp_path):
    """`workbench users add` prints the token once; `workbench serve` takes it as a session, a bearer
    and on the socket's query, and writes it nowhere: not its output, not the data dir."""
    import urllib.request

    from websockets.sync.client import connect

    data = ["--data-dir", str(tmp_path / "data")]
    cli = [sys.executable, "-m", "workbench"]
    added = subprocess.run([*cli, "users", "add", "root", "--role", "admin", *data], capture_output=True, text=True,
                           timeout=60, check=True)
    tokens = TOKEN.findall(added.stdout)
    assert len(tokens) == 1 and tokens[0] not in added.stderr, (added.stdout, added.stderr)
    token = tokens[0]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-warm-up", *data], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/api/health", 30, proc)

            def request(method, path, body=None, headers=None):
                req = urllib.request.Request(base + path, method=method, data=None if body is None else
                                             json.dumps(body).encode(), headers={
                                                 "X-Workbench-Client": "tests", "Content-Type": "application/json",
                                                 **(headers or {})})
                try:
                    with urllib.request.urlopen(req, timeout=30) as answer:
                        return answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    return error.code, error.headers, error.read()

            assert request("GET", "/api/datasets")[0] == 401
            status, headers, _ = request("POST", "/api/session", {"name": "root", "token": token})
            assert status == 200
            session = re.search(rf"{COOKIE}=([^;]+)", headers["Set-Cookie"]).group(1)
            assert request("GET", "/api/datasets", headers={"Cookie": f"{COOKIE}={session}"})[0] == 200
            assert request("GET", f"/api/datasets?token={token}")[0] == 200
            assert request("GET", "/api/users", headers={"Authorization": f"Bearer {token}"})[0] == 200
            assert request("POST", "/api/session", {"name": "root", "token": PASSWORD})[0] == 401
            assert request("POST", "/api/session", {"name": token, "token": token})[0] == 401
            with connect(f"ws://127.0.0.1:{port}/api/workbench/live?token={token}", open_timeout=10):
                pass
            with connect(f"ws://127.0.0.1:{port}/api/workbench/live",
                         additional_headers={"Cookie": f"{COOKIE}={session}"}, open_timeout=10):
                pass
            # A loopback client's X-Forwarded-For is no address: the limit counts the connection's
            # (root failed once above; four more make five, and the next is refused).
            answers = [request("POST", "/api/session", {"name": "root", "token": "wb_1.wrong-wrong-wrong-wrong"},
                               {"X-Forwarded-For": f"203.0.113.{i}"})[0] for i in range(5)]
            assert answers == [401] * 4 + [429], answers
            time.sleep(0.3)
        finally:
            proc.terminate()
            proc.wait(15)
    output = log.read_text()
    for secret in (token, session, PASSWORD):
        assert secret not in output, output[-2000:]
        for path in (tmp_path / "data").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


@pytest.fixture
def cli_runner(settings):
    from click.testing import CliRunner

    from workbench.cli import main

    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, [*args, "--data-dir", str(settings.data_dir)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    return run


def test_sign_in_answers_say_nothing_about_which_half_was_wrong(team):
    """Unknown name, wrong token, someone else's token, a disabled account's wrong token: one answer."""
    team.add("ann", "annotator", sign_in=False)
    team.add("off", "viewer", sign_in=False)
    team.as_("root", "POST", "/api/users/off/disable").raise_for_status()
    answers = [team.sign_in_answer(name, token=token) for name, token in (
        ("ghost", team.tokens["ann"]), ("ann", "wb_2.wrong-wrong-wrong-wrong-wrong"), ("ann", team.tokens["root"]),
        ("off", "wb_3.wrong-wrong-wrong-wrong-wrong"))]
    assert [(a.status_code, a.json()) for a in answers] == [(401, {"detail": "wrong name or token"})] * 4
    assert all("set-cookie" not in a.headers for a in answers)
    assert set_cookie(team.sign_in_answer("ann"))  # and the right pair works


# --- Ending a session ends what it opened ------------------------------------------------------------------

@pytest.mark.parametrize("how", ["disable", "reset", "sign out"])
def test_an_open_socket_closes_when_its_session_ends(team, how):
    """"Disabling a user or resetting their token ends their sessions at once": a page left open
    by someone who was just disabled stops hearing the team's annotations (it is told to sign in)."""
    team.add("vi", "viewer")
    team.add("an", "annotator")
    session = team.sessions["vi"]
    with team.client.websocket_connect(LIVE, headers=team.cookie(session)) as ws:
        note = {"dataset_id": "cands", "record_id": "cand-000001", "field": "note"}
        assert team.as_("an", "POST", "/api/annotations", json={**note, "value": "before"}).status_code == 201
        assert "before" in ws.receive_text()
        if how == "sign out":
            assert team.raw("DELETE", "/api/session", headers=team.cookie(session)).status_code == 204
        else:
            assert team.as_("root", "POST", f"/api/users/vi/{how}").status_code == 200
        time.sleep(1.5)  # "at once": within a second or so
        assert team.as_("an", "POST", "/api/annotations", json={**note, "value": "after"}).status_code == 201
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(20):  # an open socket hears "after" within a tick; a closed one says so
                text = ws.receive_text()
                assert "after" not in text, f"a {how} user's socket still hears the team"
        assert closed.value.code in (4401, 1008), closed.value.code


def test_two_admins_disabling_each_other_at_once_leave_one(team):
    """The last-admin rule holds under a race: each request alone sees another admin left."""
    import threading

    x, y = "root", "a0"
    team.add(y, "admin")
    for round_ in range(6):
        start, answers = threading.Barrier(2), {}

        def disable(actor: str, target: str) -> None:
            start.wait(timeout=30)
            answers[actor] = team.client.post(f"/api/users/{target}/disable", headers=team.cookie(team.sessions[actor]))

        threads = [threading.Thread(target=disable, args=(x, y)), threading.Thread(target=disable, args=(y, x))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses in ([200, 401], [200, 409]), (round_, statuses)  # one wins; the other is refused
        survivor = x if answers[x].status_code == 200 else y
        listed = team.raw("GET", "/api/users", headers=team.cookie(team.sessions[survivor])).json()
        assert [u["name"] for u in listed if u["role"] == "admin" and not u["disabled"]] == [survivor]
        newcomer = f"a{round_ + 1}"
        added = team.raw("POST", "/api/users", headers=team.cookie(team.sessions[survivor]),
                         json={"name": newcomer, "role": "admin"})
        assert added.status_code == 201, added.text
        team.tokens[newcomer] = added.json()["token"]
        team.sessions[newcomer] = team.sign_in(newcomer)
        x, y = survivor, newcomer


NAME_RULE = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # the contract's: 1-64 letters, digits, '.', '_', '-', '@'


@FUZZ
@given(name=st.text(max_size=70) | st.from_regex(NAME_RULE, fullmatch=True)
       | st.sampled_from(["a\n", "a ", "\u212a", "ａ", "x" * 64, "x" * 65, "ä", "a\x00", "..", "@", "-"]))
def test_user_names_follow_the_rule_exactly(team, name):
    """A name is taken exactly when it matches the rule (no Unicode look-alikes, no trailing newline),
    and is never a 5xx."""
    answer = team.as_("root", "POST", "/api/users", json={"name": name, "role": "viewer"})
    if NAME_RULE.fullmatch(name):
        assert answer.status_code in (201, 409), (name, answer.text)
    else:
        assert answer.status_code == 422, (name, answer.status_code, answer.text)


def test_session_ids_are_long_random_and_never_repeat(team):
    ids = [team.sign_in("root") for _ in range(8)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids), ids  # 256 bits, urlsafe


def test_an_unknown_name_costs_what_a_wrong_token_costs(team, app):
    """No timing tells which names exist: an unknown name is checked against a hash too."""
    team.add("ann", "annotator", sign_in=False)

    def took(name: str) -> float:
        client = from_address(app)
        start = time.perf_counter()
        assert client.post("/api/session", json={"name": name, "token": "wb_2.wrong-wrong-wrong-wrong-wrong"}
                           ).status_code == 401
        return time.perf_counter() - start

    took("warm-up")
    known = sorted(took("ann") for _ in range(5))[2]
    unknown = sorted(took(f"ghost{i}") for i in range(5))[2]
    assert unknown > known * 0.4, (known, unknown)  # scrypt is most of both; without it ~20x less


def _asgi(app, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request with this exact path (TestClient and httpx normalise "//" and dot segments away)."""
    import asyncio

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "localhost", **headers}.items()]}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("path", ["//api/datasets", "/api//datasets", "/api/health/../datasets", "/./api/datasets",
                                  "/api/./datasets", "/api/datasets/", "/api/session/../datasets", "/api/health/",
                                  "/api/session/../users", "//api/users", "/api/users/"])
def test_odd_paths_get_past_no_check(team, app, path):
    """A path the guard might take for the health check, the sign-in or a page: nothing is answered
    without a session (a 404 or a 401, never a 2xx)."""
    status, body = _asgi(app, "GET", path, CLIENT)
    assert status in (401, 404, 307), (status, body[:200])
    status, body = _asgi(app, "DELETE", path.replace("datasets", "datasets/cands"), CLIENT)
    assert status in (401, 404, 405, 307), (status, body[:200])
    assert team.as_("root", "GET", "/api/datasets/cands").status_code == 200


def test_a_socket_opened_before_accounts_were_on_closes_when_they_are(client_without_users):
    """The first user turns accounts on for everything, an open page's feed included: a socket that
    needed no credentials stops hearing the team once credentials are needed."""
    c = client_without_users
    with c.websocket_connect(LIVE) as ws:
        assert c.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001", "field": "note",
                                                "value": "before"}).status_code == 201
        assert "before" in ws.receive_text()
        added = c.post("/api/users", json={"name": "root", "role": "admin"})
        assert added.status_code == 201
        time.sleep(1.5)
        noted = c.post("/api/annotations", headers={"Authorization": f"Bearer {added.json()['token']}"},
                       json={"dataset_id": "cands", "record_id": "cand-000001", "field": "note", "value": "after"})
        assert noted.status_code == 201
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(20):
                assert "after" not in ws.receive_text(), "a socket with no credentials still hears the team"
        assert closed.value.code == 4401


@pytest.fixture
def client_without_users(app):
    with TestClient(app, headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
        yield c


JUNK_PARAM = st.sampled_from(["", "-1", "0", "1:2", "²", "9" * 23, "x" * 5000, "%00", "nan", "1e9", "true", "..",
                              "a/b", "\ud800"]) | st.text(max_size=30)


@FUZZ
@given(body=BODIES | st.fixed_dictionaries({"name": FIELD, "role": FIELD}) | st.fixed_dictionaries({"role": FIELD}),
       name=JUNK_PARAM, action=st.sampled_from(["disable", "enable", "reset", "role", "nope", ""]),
       limit=JUNK_PARAM, before=JUNK_PARAM, fmt=JUNK_PARAM)
def test_the_users_and_audit_routes_take_any_input_without_a_5xx(team, body, name, action, limit, before, fmt):
    from urllib.parse import quote

    def wire(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    root = team.cookie(team.sessions["root"])
    content = json.dumps(body).encode("utf-8", "surrogatepass")
    json_headers = {**root, "Content-Type": "application/json"}
    answers = [
        team.raw("POST", "/api/users", headers=json_headers, content=content),
        team.raw("POST", f"/api/users/{wire(name) or 'x'}/{action}", headers=json_headers, content=content),
        team.raw("GET", f"/api/audit?limit={wire(limit)}&before={wire(before)}", headers=root),
        team.raw("GET", f"/api/audit/export?format={wire(fmt)}", headers=root),
    ]
    for answer in answers:
        assert answer.status_code < 500, (answer.request.url, answer.status_code, answer.text[:300])
    # Whatever happened, an enabled admin is left and root can still sign in or is the one left.
    admins = [u for u in team.as_("root", "GET", "/api/users").json() if u["role"] == "admin" and not u["disabled"]]
    assert admins


def test_a_sign_in_checked_before_a_reset_or_disable_gets_no_session(team, monkeypatch):
    """The token is checked, then the user is reset (or disabled) before the session is written:
    no session may come of it (it would outlive the reset by hours)."""
    from workbench.domain import accounts as rules
    from workbench.domain.errors import NotSignedIn
    from workbench.service import accounts
    from workbench.store.schema import sessions

    for change in ("reset", "disable"):
        name = f"racer-{change}"
        token = team.add(name, "annotator", sign_in=False)
        checked = rules.verify_secret

        def verify_then_change(secret, stored, name=name, change=change):
            correct = checked(secret, stored)
            monkeypatch.setattr(rules, "verify_secret", checked)  # once
            if change == "reset":
                accounts.reset_token(team.store, name, actor="tests")
            else:
                accounts.set_disabled(team.store, name, True, actor="tests")
            return correct

        monkeypatch.setattr(rules, "verify_secret", verify_then_change)
        with pytest.raises(NotSignedIn):
            accounts.sign_in(team.store, name=name, token=token, address="10.9.9.9", carried=None, hours=1)
        user_id = rules.token_user_id(token)
        with team.store.engine.connect() as conn:
            assert not conn.execute(sa.select(sessions).where(sessions.c.user_id == user_id)).first(), change


def test_a_bearer_token_naming_no_user_costs_a_hash_too(team, monkeypatch):
    """Whether a user id exists can't be read from the answer's time: an unknown id is checked
    against a hash like a wrong token is."""
    from workbench.domain import accounts as rules

    checks: list[str] = []
    checked = rules.verify_secret
    monkeypatch.setattr(rules, "verify_secret", lambda secret, stored: checks.append(stored) or checked(secret, stored))
    for token in ("wb_999999.wrong-wrong-wrong-wrong-wrong", "wb_1.wrong-wrong-wrong-wrong-wrong"):
        assert team.raw("GET", "/api/datasets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert len(checks) == 2 and checks[0] == rules.dummy_hash(), checks
