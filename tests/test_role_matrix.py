"""The role matrix (issue #18): every operation the app's OpenAPI schema documents, asked by nobody,
a viewer, an annotator, an admin and a disabled user, answers 401 / 403 / 2xx as its
``x-workbench-role`` says, and that role is the one the contract gives the route. A route without a
role, or without a request in the table below, fails the test: a new route can't slip through.
With accounts off (no user defined), the same table answers 2xx on loopback with no credentials.

One world per module (a dataset with records, baseline models, finished runs with results, a judge),
built through the API before any user exists; destructive operations get a fresh target per call."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.test_web_workbench import wait_for_runs
from workbench.config import Settings
from workbench.service.workspace import open_workspace, sample_path
from workbench.store import annotations as stored_annotations
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"  # TestClient's own host name, "testserver", is not on the allow-list
ROLE_KEY = "x-workbench-role"
RANK = {"viewer": 0, "annotator": 1, "admin": 2}
PRINCIPALS = ("nobody", "viewer", "annotator", "admin", "disabled")
USER_OF = {"viewer": "vi", "annotator": "an", "admin": "ad", "disabled": "gone"}
COOKIE = "workbench_session"
LIVE = "ws://localhost/api/workbench/live"


# --- The world ------------------------------------------------------------------------------------

@dataclass
class World:
    client: TestClient
    store: Any
    run_id: int = 0
    judge_id: int = 0
    task: dict = field(default_factory=dict)
    accounts: bool = False
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> token
    cookies: dict[str, str | None] = field(default_factory=dict)  # principal -> session id
    counter: Any = field(default_factory=lambda: itertools.count(1))

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    # Requests made to set things up: as root (accounts on) or as the local user (accounts off).
    def setup(self, method: str, url: str, **kwargs) -> Any:
        headers = {"Cookie": f"{COOKIE}={self.cookies['root']}"} if self.accounts else {}
        self.client.cookies.clear()
        answer = self.client.request(method, url, headers=headers, **kwargs)
        assert answer.status_code < 300, (method, url, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def sign_in(self, name: str) -> str:
        self.client.cookies.clear()
        answer = self.client.post("/api/session", json={"name": name, "token": self.tokens[name]})
        assert answer.status_code == 200, answer.text
        session = answer.cookies.get(COOKIE)
        self.client.cookies.clear()
        assert session
        return session

    def add_user(self, name: str, role: str, *, disabled: bool = False) -> str:
        self.tokens[name] = self.setup("POST", "/api/users", json={"name": name, "role": role})["token"]
        if disabled:
            self.setup("POST", f"/api/users/{name}/disable")
        return name

    def session_of(self, principal: str, *, fresh: bool = False) -> str | None:
        """The session id ``principal`` sends (None for nobody); ``fresh``: a new one, for the calls
        that end the session they carry."""
        if not self.accounts or principal == "nobody":
            return None
        if not fresh:
            return self.cookies[principal]
        if principal == "disabled":
            name = self.add_user(self.fresh("gone"), "admin")
            session = self.sign_in(name)
            self.setup("POST", f"/api/users/{name}/disable")
            return session
        return self.sign_in(USER_OF[principal])

    def author_of(self, principal: str) -> str:
        from workbench.service.curation import local_author

        return USER_OF.get(principal, "nobody") if self.accounts else local_author()


def build_world(tmp: Path, postgres_url: str | None) -> tuple[Settings, Any, dict]:
    """The data every request of the table needs, made through the API with accounts off."""
    if postgres_url:
        from testkit.postgres import create_database

        url = create_database(postgres_url)
    else:
        url = f"sqlite:///{tmp / 'data' / 'workbench.db'}"
    settings = Settings(data_dir=tmp / "data", database_url=url)
    store = open_workspace(settings)
    facts: dict[str, Any] = {}
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
        for model in ("base", "base2", "m-edit", "m-runs", "m-ctl"):
            c.post("/api/models", json={"id": model, "provider": "baseline"}).raise_for_status()
        c.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["base", "base2"], "limit": 10}).raise_for_status()
        facts["run_id"] = next(r["id"] for r in wait_for_runs(c) if r["model"]["id"] == "base")
        judge = c.post("/api/judges", json={"dataset_id": "cands", "models": ["base", "base2"], "judge": "base"})
        assert judge.status_code == 201, judge.text
        facts["judge_id"] = judge.json()["id"]
        wait_for_runs(c)
        task = c.get("/api/tasks/candidate-screening").json()
        task.pop("verdict_fields", None)
        task.pop("version", None)
        facts["task"] = task
    return settings, store, facts


def open_world(tmp: Path, postgres_url: str | None):
    settings, store, facts = build_world(tmp, postgres_url)
    client = TestClient(create_app(settings, store=store, execute_runs=False), headers=CLIENT, base_url=LOCAL)
    return client, World(client=client, store=store, **facts)


@pytest.fixture(scope="module")
def team(tmp_path_factory, postgres_url):
    """Accounts on: root (the first admin, made with accounts off), and one user of each role, and a
    disabled admin whose session was live when it was disabled."""
    client, world = open_world(tmp_path_factory.mktemp("team"), postgres_url)
    with client:
        world.tokens["root"] = world.setup("POST", "/api/users", json={"name": "root", "role": "admin"})["token"]
        world.accounts = True
        world.cookies["root"] = world.sign_in("root")
        for principal, name in USER_OF.items():
            world.add_user(name, "admin" if principal == "disabled" else principal)
            world.cookies[principal] = world.sign_in(name)
        world.add_user("signer", "viewer")  # whose sign-in POST /api/session makes in the table
        world.setup("POST", "/api/users/gone/disable")
        yield world
    world.store.close()


@pytest.fixture(scope="module")
def solo(tmp_path_factory, postgres_url):
    """Accounts off: no user at all, as every data dir was before issue #18."""
    client, world = open_world(tmp_path_factory.mktemp("solo"), postgres_url)
    with client:
        yield world
    world.store.close()


# --- The table: a valid request per operation -------------------------------------------------------

@dataclass(frozen=True)
class Op:
    role: str  # the contract's (common18.md), checked against the schema's x-workbench-role
    request: Callable[[World, str], dict]  # (world, principal) -> keywords of client.request + "url"
    fresh_session: bool = False  # the call ends the session it carries: the principal sends a new one
    accounts_off: tuple[int, str] | None = None  # with accounts off: what it answers instead of a 2xx, and why


def get(url: str, **params) -> Callable[[World, str], dict]:
    return lambda w, p: {"url": url.format(run=w.run_id, judge=w.judge_id), "params": params}


def post(url: str, body: Any = None) -> Callable[[World, str], dict]:
    return lambda w, p: {"url": url, "json": body}


def fresh_dataset(w: World, p: str) -> dict:
    name = w.fresh("doomed")
    made = w.setup("POST", "/api/datasets", files={"file": (f"{name}.jsonl", b'{"id": "d1", "x": 1}\n')})
    return {"url": f"/api/datasets/{made['id']}"}


def fresh_model(w: World, p: str) -> dict:
    model = w.setup("POST", "/api/models", json={"id": w.fresh("doomed-model"), "provider": "baseline"})
    return {"url": f"/api/models/{model['id']}"}


def fresh_run_control(w: World, p: str) -> dict:
    run = w.setup("POST", "/api/runs", json={"dataset_id": "cands", "model_ids": ["m-ctl"], "limit": 2})[0]
    return {"url": f"/api/runs/{run['id']}/cancel"}


def fresh_undo(w: World, p: str) -> dict:
    """An event of the principal's own (an annotator may undo only their own)."""
    event = stored_annotations.annotate(w.store, dataset_id="cands", record_id="cand-000090", field="note",
                                        value=w.fresh("to undo "), author=w.author_of(p))
    return {"url": "/api/annotations/undo", "json": {"dataset_id": "cands", "event_id": event["event_id"]}}


def fresh_user(action: str, *, disabled: bool = False, body: Any = None) -> Callable[[World, str], dict]:
    def request(w: World, p: str) -> dict:
        name = w.add_user(w.fresh("target"), "viewer", disabled=disabled) if w.accounts else "nobody-here"
        return {"url": f"/api/users/{name}/{action}", "json": body}

    return request


def upload(w: World, p: str) -> dict:
    return {"url": "/api/datasets", "files": {"file": (f"{w.fresh('up')}.jsonl", b'{"id": "u1", "x": 1}\n')}}


def sign_in_body(w: World, p: str) -> dict:
    return {"url": "/api/session", "json": {"name": "signer", "token": w.tokens.get("signer", "wb_1.nope")}}


def run_start(w: World, p: str) -> dict:
    return {"url": "/api/runs", "json": {"dataset_id": "cands", "model_ids": ["m-runs"], "limit": 2}}


def new_model(w: World, p: str) -> dict:
    return {"url": "/api/models", "json": {"id": w.fresh("new-model"), "provider": "baseline"}}


def new_user(w: World, p: str) -> dict:
    # With accounts off this is the first user, who must be an admin (else nobody could run the team).
    return {"url": "/api/users", "json": {"name": w.fresh("new-user"), "role": "viewer" if w.accounts else "admin"}}


def task_save(w: World, p: str) -> dict:
    return {"url": "/api/tasks", "json": w.task | {"name": "matrix-task"}}


def task_preview(w: World, p: str) -> dict:
    return {"url": "/api/tasks/preview", "json": {"task": w.task, "dataset_id": "cands", "record_id": "cand-000001"}}


def task_try(w: World, p: str) -> dict:
    return {"url": "/api/tasks/try", "json": {"task": w.task, "dataset_id": "cands", "model_id": "base", "count": 1}}


OFF_USERS = (404, "no user exists with accounts off (adding one turns them on)")
GRID = {"dataset_id": "cands", "models": "base,base2"}
TABLE: dict[tuple[str, str], Op] = {
    ("GET", "/api/health"): Op("open", get("/api/health")),
    ("GET", "/api/session"): Op("open", get("/api/session")),
    ("POST", "/api/session"): Op("open", sign_in_body, fresh_session=True,
                                 accounts_off=(409, "nobody signs in with accounts off")),
    ("DELETE", "/api/session"): Op("open", lambda w, p: {"url": "/api/session"}, fresh_session=True),
    # Reading: viewer.
    ("GET", "/api/datasets"): Op("viewer", get("/api/datasets")),
    ("GET", "/api/datasets/{dataset_id}"): Op("viewer", get("/api/datasets/cands")),
    ("GET", "/api/datasets/{dataset_id}/records"): Op("viewer", get("/api/datasets/cands/records", limit=2)),
    ("GET", "/api/datasets/{dataset_id}/records/{record_id}"): Op("viewer", get("/api/datasets/cands/records/cand-000001")),
    ("GET", "/api/models"): Op("viewer", get("/api/models")),
    ("GET", "/api/models/{model_id}"): Op("viewer", get("/api/models/base")),
    ("GET", "/api/providers"): Op("viewer", get("/api/providers")),
    ("GET", "/api/tasks"): Op("viewer", get("/api/tasks")),
    ("GET", "/api/tasks/{name}"): Op("viewer", get("/api/tasks/candidate-screening")),
    ("GET", "/api/tasks/{name}/versions"): Op("viewer", get("/api/tasks/candidate-screening/versions")),
    ("GET", "/api/task-starters"): Op("viewer", get("/api/task-starters")),
    ("POST", "/api/tasks/preview"): Op("viewer", task_preview),  # renders; changes nothing, spends nothing
    ("GET", "/api/runs"): Op("viewer", get("/api/runs")),
    ("GET", "/api/runs/{run_id}"): Op("viewer", get("/api/runs/{run}")),
    ("GET", "/api/runs/{run_id}/results/{record_id}"): Op("viewer", get("/api/runs/{run}/results/cand-000001")),
    ("GET", "/api/columns"): Op("viewer", get("/api/columns", dataset_id="cands")),
    ("GET", "/api/workbench"): Op("viewer", get("/api/workbench", **GRID, limit=5)),
    ("GET", "/api/annotations"): Op("viewer", get("/api/annotations", dataset_id="cands")),
    ("GET", "/api/exports/{kind}"): Op("viewer", get("/api/exports/results", dataset_id="cands")),
    ("GET", "/api/metrics"): Op("viewer", get("/api/metrics", **GRID)),
    ("GET", "/api/compare"): Op("viewer", get("/api/compare", **GRID)),
    ("GET", "/api/agreement/annotators"): Op("viewer", get("/api/agreement/annotators", dataset_id="cands")),
    ("GET", "/api/judges"): Op("viewer", get("/api/judges", dataset_id="cands")),
    ("GET", "/api/judges/rubric"): Op("viewer", get("/api/judges/rubric")),
    ("GET", "/api/judges/{judge_id}"): Op("viewer", get("/api/judges/{judge}")),
    ("GET", "/api/judges/{judge_id}/agreement"): Op("viewer", get("/api/judges/{judge}/agreement")),
    # Annotating: annotator.
    ("POST", "/api/annotations"): Op("annotator", post("/api/annotations", {
        "dataset_id": "cands", "record_id": "cand-000001", "field": "note", "value": "matrix"})),
    ("POST", "/api/annotations/bulk"): Op("annotator", post("/api/annotations/bulk", {
        "dataset_id": "cands", "models": "base", "action": "golden", "column": "base", "confirm": False})),
    ("POST", "/api/annotations/undo"): Op("annotator", fresh_undo),
    # Everything else: admin.
    ("POST", "/api/datasets"): Op("admin", upload),
    ("PATCH", "/api/datasets/{dataset_id}"): Op("admin", lambda w, p: {"url": "/api/datasets/cands",
                                                                       "json": {"name": "Candidates"}}),
    ("DELETE", "/api/datasets/{dataset_id}"): Op("admin", fresh_dataset),
    ("POST", "/api/models"): Op("admin", new_model),
    ("PUT", "/api/models/{model_id}"): Op("admin", lambda w, p: {"url": "/api/models/m-edit",
                                                                 "json": {"provider": "baseline", "name": "Edited"}}),
    ("DELETE", "/api/models/{model_id}"): Op("admin", fresh_model),
    ("POST", "/api/models/{model_id}/test"): Op("admin", post("/api/models/base/test")),
    ("POST", "/api/tasks"): Op("admin", task_save),
    ("POST", "/api/tasks/try"): Op("admin", task_try),
    ("POST", "/api/runs"): Op("admin", run_start),
    ("POST", "/api/runs/{run_id}/{action}"): Op("admin", fresh_run_control),
    ("POST", "/api/judges"): Op("admin", post("/api/judges", {"dataset_id": "cands", "models": ["base", "base2"],
                                                               "judge": "base"})),
    ("GET", "/api/users"): Op("admin", get("/api/users")),
    ("POST", "/api/users"): Op("admin", new_user),  # asked last with accounts off: it turns them on
    ("POST", "/api/users/{name}/disable"): Op("admin", fresh_user("disable"), accounts_off=OFF_USERS),
    ("POST", "/api/users/{name}/enable"): Op("admin", fresh_user("enable", disabled=True), accounts_off=OFF_USERS),
    ("POST", "/api/users/{name}/reset"): Op("admin", fresh_user("reset"), accounts_off=OFF_USERS),
    ("POST", "/api/users/{name}/role"): Op("admin", fresh_user("role", body={"role": "annotator"}),
                                           accounts_off=OFF_USERS),
    ("GET", "/api/audit"): Op("admin", get("/api/audit", limit=5)),
    ("GET", "/api/audit/export"): Op("admin", get("/api/audit/export", format="csv")),
}


def documented(client: TestClient) -> dict[tuple[str, str], dict]:
    """Every operation of the app's OpenAPI schema, ":path" converters folded as the table writes them."""
    return {(method.upper(), re.sub(r"\{(\w+):path\}", r"{\1}", path)): op
            for path, item in client.app.openapi()["paths"].items()
            for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")}


def call(w: World, key: tuple[str, str], principal: str) -> Any:
    op = TABLE[key]
    request = op.request(w, principal)
    session = w.session_of(principal, fresh=op.fresh_session)
    headers = {"Cookie": f"{COOKIE}={session}"} if session else {}
    w.client.cookies.clear()  # only what this principal sends
    answer = w.client.request(key[0], request.pop("url"), headers=headers, **request)
    w.client.cookies.clear()
    return answer


def expected(role: str, principal: str) -> int | str:
    if role == "open":
        return "2xx"
    if principal in ("nobody", "disabled"):
        return 401
    return "2xx" if RANK[principal] >= RANK[role] else 403


# --- The tests ---------------------------------------------------------------------------------------

def test_every_operation_has_a_role_and_a_row(team):
    """The schema and the table list the same operations, each with the contract's role."""
    ops = documented(team.client)
    assert sorted(ops.keys() - TABLE.keys()) == [], "operations with no row in TABLE: add a request for each"
    assert sorted(TABLE.keys() - ops.keys()) == [], "rows of TABLE that the schema no longer documents"
    missing = [key for key, op in ops.items() if op.get(ROLE_KEY) not in ("open", "viewer", "annotator", "admin")]
    assert missing == [], "operations without a valid x-workbench-role"
    assert {key: op[ROLE_KEY] for key, op in ops.items()} == {key: op.role for key, op in TABLE.items()}


def test_no_api_route_hides_from_the_schema(team):
    """The table is checked against the schema: a route under /api/ left out of it (include_in_schema
    False, a mount) would escape the matrix. The live socket is the one route the schema can't hold."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    def flat(routes, prefix=""):  # FastAPI 0.16x keeps an included router as one entry of app.routes
        for route in routes:
            if getattr(route, "original_router", None) is not None:
                yield from flat(route.original_router.routes, prefix + route.include_context.prefix)
            else:
                yield prefix + str(getattr(route, "path", "")), route

    every = list(flat(team.client.app.routes))
    assert len(every) > 50  # the walk reached the routers' routes
    routes = {(method, re.sub(r"\{(\w+):path\}", r"{\1}", path))
              for path, route in every if isinstance(route, APIRoute)
              for method in route.methods if method not in ("HEAD", "OPTIONS")}
    assert sorted(r for r in routes if r[1].startswith("/api/") and r not in documented(team.client)) == []
    others = [path for path, route in every
              if not isinstance(route, (APIRoute, APIWebSocketRoute)) and path.startswith("/api")]
    assert others == []
    sockets = [path for path, route in every if isinstance(route, APIWebSocketRoute)]
    assert sockets == ["/api/workbench/live"]  # the one test_the_live_socket_needs_a_session covers


def test_the_app_refuses_to_start_with_a_route_that_declares_no_role(tmp_path):
    """The start-up check (web/access.py check_every_route) sees the routers' routes, not just the
    app's own: a router route without a role stops create_app."""
    from fastapi import APIRouter

    import workbench.web.routers.columns as columns

    extra = APIRouter()

    @extra.get("/columns/no-role")
    def no_role() -> dict:
        return {}

    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'w.db'}")
    original = columns.router
    columns.router = APIRouter()
    columns.router.include_router(original)
    columns.router.include_router(extra)
    try:
        with pytest.raises(RuntimeError, match="no-role"):
            create_app(settings, execute_runs=False)
    finally:
        columns.router = original


@pytest.mark.parametrize("key", sorted(TABLE), ids=lambda key: f"{key[0]} {key[1]}")
def test_each_principal_gets_what_the_role_allows(team, key):
    role = documented(team.client)[key].get(ROLE_KEY)
    assert role == TABLE[key].role, f"{key}: the schema says {role!r}, the contract {TABLE[key].role!r}"
    seen = {}
    for principal in PRINCIPALS:
        answer = call(team, key, principal)
        want = expected(role, principal)
        seen[principal] = answer.status_code
        if want == "2xx":
            assert 200 <= answer.status_code < 300, (principal, answer.status_code, answer.text[:300])
        else:
            assert answer.status_code == want, (principal, answer.status_code, answer.text[:300])
            detail = answer.json()["detail"]
            assert isinstance(detail, str) and detail
            if want == 403:
                assert f"needs the {role} role" in detail and principal in detail, detail
    # Sanity: no operation answers everyone alike unless it is open.
    assert role == "open" or len(set(seen.values())) > 1, seen


def test_refused_deletions_delete_nothing(team):
    """A 403 or 401 is a refusal before the handler: the target is still there afterwards."""
    for key, check in ((("DELETE", "/api/datasets/{dataset_id}"), "/api/datasets/{}"),
                       (("DELETE", "/api/models/{model_id}"), "/api/models/{}")):
        for principal in ("nobody", "viewer", "annotator", "disabled"):
            request = TABLE[key].request(team, principal)
            target = request["url"].rsplit("/", 1)[1]
            session = team.session_of(principal)
            team.client.cookies.clear()
            answer = team.client.delete(request["url"], headers={"Cookie": f"{COOKIE}={session}"} if session else {})
            assert answer.status_code in (401, 403), answer.text
            assert team.setup("GET", check.format(target))  # still there


def test_bearer_tokens_carry_the_same_roles(team):
    """Scripts send a user's token instead of a session: the same roles apply."""
    team.client.cookies.clear()
    for principal, name in USER_OF.items():
        headers = {"Authorization": f"Bearer {team.tokens[name]}"}
        reading = team.client.get("/api/datasets", headers=headers)
        changing = team.client.post("/api/models", headers=headers,
                                    json={"id": team.fresh("bearer-model"), "provider": "baseline"})
        if principal == "disabled":
            assert (reading.status_code, changing.status_code) == (401, 401)
        else:
            assert reading.status_code == 200, reading.text
            assert changing.status_code == (201 if principal == "admin" else 403), changing.text
    assert team.client.get("/api/datasets", headers={"Authorization": "Bearer wb_1.wrong-token-wrong-token"}
                           ).status_code == 401


def test_the_live_socket_needs_a_session(team):
    team.client.cookies.clear()
    for principal in ("nobody", "disabled"):
        session = team.session_of(principal)
        with pytest.raises(WebSocketDisconnect) as refused:
            with team.client.websocket_connect(LIVE, headers={"Cookie": f"{COOKIE}={session}"} if session else {}) as ws:
                ws.receive_text()
        assert refused.value.code == 4401, principal
    for principal in ("viewer", "annotator", "admin"):
        with team.client.websocket_connect(LIVE, headers={"Cookie": f"{COOKIE}={team.cookies[principal]}"}):
            pass
    with team.client.websocket_connect(f"{LIVE}?token={team.tokens['vi']}"):  # scripts: the token in the query
        pass
    with pytest.raises(WebSocketDisconnect):
        with team.client.websocket_connect(f"{LIVE}?token={team.tokens['gone']}") as ws:
            ws.receive_text()


def test_a_viewer_hears_annotations_on_the_socket(team):
    with team.client.websocket_connect(LIVE, headers={"Cookie": f"{COOKIE}={team.cookies['viewer']}"}) as ws:
        team.client.cookies.clear()
        noted = team.client.post("/api/annotations", headers={"Cookie": f"{COOKIE}={team.cookies['annotator']}"},
                                 json={"dataset_id": "cands", "record_id": "cand-000002", "field": "note",
                                       "value": "heard"})
        assert noted.status_code == 201, noted.text
        assert "heard" in json.dumps(json.loads(ws.receive_text()))


def test_with_accounts_off_the_same_table_answers_without_credentials(solo):
    """Zero-config unchanged: no user, loopback, no token, no cookie: every operation answers 2xx
    (except the ones only accounts give a meaning to, each said why)."""
    ops = documented(solo.client)
    assert sorted(ops.keys() ^ TABLE.keys()) == []
    assert solo.client.get("/api/session").json()["accounts"] is False
    with solo.client.websocket_connect(LIVE):
        pass
    last = ("POST", "/api/users")  # turns accounts on: asked last
    for key in [k for k in sorted(TABLE) if k != last] + [last]:
        answer = call(solo, key, "nobody")
        off = TABLE[key].accounts_off
        if off is None:
            assert 200 <= answer.status_code < 300, (key, answer.status_code, answer.text[:300])
        else:
            assert answer.status_code == off[0], (key, off[1], answer.status_code, answer.text[:300])
    # The first user turned accounts on: the same requests now need a session.
    assert solo.client.get("/api/session").json() == {"accounts": True, "user": None}
    assert solo.client.get("/api/datasets").status_code == 401


def test_each_principal_is_told_who_it_is(team):
    for principal in PRINCIPALS:
        session = team.session_of(principal)
        team.client.cookies.clear()
        me = team.client.get("/api/session", headers={"Cookie": f"{COOKIE}={session}"} if session else {}).json()
        expected_user = None if principal in ("nobody", "disabled") else {"name": USER_OF[principal],
                                                                          "role": principal}
        assert me == {"accounts": True, "user": expected_user}, principal


@pytest.mark.parametrize("kind", ["results", "golden", "comparison", "comparison-summary", "training",
                                  "training-parquet", "few-shot", "preferences"])
def test_a_viewer_downloads_every_export(team, kind):
    team.client.cookies.clear()
    if kind == "few-shot":  # needs a golden example
        golden = team.client.post("/api/annotations", headers={"Cookie": f"{COOKIE}={team.cookies['annotator']}"},
                                  json={"dataset_id": "cands", "record_id": "cand-000003", "model_id": "base",
                                        "field": "golden", "value": True})
        assert golden.status_code == 201, golden.text
    answer = team.client.get(f"/api/exports/{kind}", params={"dataset_id": "cands", "models": "base,base2"},
                             headers={"Cookie": f"{COOKIE}={team.cookies['viewer']}"})
    assert answer.status_code == 200, (kind, answer.text[:300])
    assert team.client.get(f"/api/exports/{kind}", params={"dataset_id": "cands"}).status_code == 401


def test_the_page_itself_loads_for_nobody(team):
    """The sign-in screen has to load: the page and its files need no session; the API does."""
    team.client.cookies.clear()
    assert "Dataset Workbench" in team.client.get("/").text
    for path in ("/static/app.js", "/static/api.js", "/static/accounts.js"):
        assert team.client.get(path).status_code == 200, path
    assert team.client.get("/api/health").json()["ok"] is True
    assert team.client.get("/api/session").json() == {"accounts": True, "user": None}
