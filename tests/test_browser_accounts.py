"""Accounts in real Chromium: the sign-in screen, the top bar's "Signed in as", controls held back by role
(with the reason), the author of a mark is the signed-in user, the admin's Team panel (users, a token shown
once, the audit log and its export), axe-core on the new screens; and with accounts off, none of it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, add_model, shot, workbench
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_browser_a11y import AXE, listing
from testkit.synthetic import write_jsonl

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium"),
              pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (make a11y-deps)")]
TOKEN = re.compile(r"\bwb_[A-Za-z0-9._-]+")


def add_user(tmp_path: Path, name: str, role: str) -> str:
    """`workbench users add` on the test's data dir; returns the one-time token it prints."""
    done = subprocess.run([sys.executable, "-m", "workbench", "users", "add", name, "--role", role,
                           "--data-dir", str(tmp_path / "data")], check=True, capture_output=True, text=True)
    found = TOKEN.findall(done.stdout)
    assert len(found) == 1, done.stdout
    return found[0]


def call(url: str, path: str, token: str, method: str = "GET", body: dict | None = None):
    """The API as a script calls it: the user's token as a bearer."""
    request = urllib.request.Request(f"{url}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "X-Workbench-Client": "tests",
                                              "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer) if answer.status != 204 else None


def status_of(url: str, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}{path}", headers=headers)) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def team_server(tmp_path: Path, fake_server) -> tuple[str, dict[str, str]]:
    """A server with accounts on (an admin, an annotator, a viewer), the bundled sample and one model that
    has answered all of it. Returns the URL and each user's token."""
    from workbench.service.workspace import sample_path

    fake_server.config.latency_ms = 1
    tokens = {name: add_user(tmp_path, name, role)
              for name, role in [("ada", "admin"), ("ann", "annotator"), ("vic", "viewer")]}
    url = workbench(tmp_path, "import\x00" + str(sample_path()), add_model("gemma", "Gemma 3 4B", fake_server.base_url))
    dataset = call(url, "/api/datasets", tokens["ada"])[0]["id"]
    call(url, "/api/runs", tokens["ada"], "POST", {"dataset_id": dataset, "model_ids": ["gemma"]})
    deadline = time.monotonic() + 60
    while not all(r["status"] == "completed" for r in call(url, f"/api/runs?dataset_id={dataset}", tokens["ada"])):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)
    return url, tokens


def sign_in(tab, name: str, token: str, *, keyboard: bool = False) -> None:
    tab.wait_for_selector("#signin:not([hidden]) #signin-name")
    tab.fill("#signin-name", name)
    tab.fill("#signin-token", token)
    if keyboard:
        tab.press("#signin-token", "Enter")
    else:
        tab.click("#signin-submit")
    tab.wait_for_selector(f"#whoami:has-text('Signed in as {name}')")


def axe_violations(tab, context: str = "document") -> list[str]:
    """Every axe-core violation (any impact) inside ``context`` (a selector, or the whole document)."""
    if not tab.evaluate("typeof window.axe === 'object'"):
        tab.add_script_tag(path=str(AXE))
    found = tab.evaluate("""async (context) => {
        const r = await axe.run(context === "document" ? document : document.querySelector(context),
                                { resultTypes: ["violations"] });
        return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}` + v.nodes.map((n) => `\\n    ${n.target.join(" ")}`).join(""));
    }""", context)
    return found


def test_annotator_marks_as_themself_and_cannot_run_upload_or_change_models(page, tmp_path, fake):  # noqa: F811
    url, tokens = team_server(tmp_path, fake)
    page.goto(url)
    # The sign-in screen, and nothing of the page behind it.
    page.wait_for_selector("#signin:not([hidden])")
    assert not page.is_visible("#grid") and not page.is_visible(".topbar")
    assert page.get_attribute("#signin-token", "type") == "password"
    assert page.get_attribute("#signin-token", "autocomplete") == "off"
    problems = axe_violations(page)
    assert problems == [], "axe on the sign-in screen:" + listing(problems)
    shot(page, "accounts-sign-in")

    # A wrong token: said in the form's live region, and the form stays.
    page.fill("#signin-name", "ann")
    page.fill("#signin-token", "wb_not-the-token")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-message:has-text('Wrong name or token')")
    assert page.get_attribute("#signin-message", "role") == "alert"

    sign_in(page, "ann", tokens["ann"])
    assert "(annotator)" in page.inner_text("#whoami")
    assert "need an admin" in page.inner_text("#role-note")  # what the role may do, visible, not only on hover
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    assert not page.is_visible("#user-name")  # the author is the signed-in user
    assert page.query_selector("#open-team") is None  # Team is for admins

    # Run, upload and the models' controls are held back, each saying why.
    why = "Needs the admin role; you are an annotator."
    for selector in ["#run-selected", "#qa-run"]:
        assert page.get_attribute(selector, "aria-disabled") == "true"
        assert page.get_attribute(selector, "title") == why
        described = page.get_attribute(selector, "aria-describedby")
        assert page.text_content(f"#{described}") == why
    assert not page.is_visible("#dropzone") and not page.is_visible("#upload-options")
    assert page.is_visible(".needs-note:has-text('Uploading a dataset: needs the admin role')")
    problems = axe_violations(page)
    assert problems == [], "axe on an annotator's page:" + listing(problems)
    page.click("#run-selected", force=True)  # Playwright waits for an enabled control: this one isn't
    page.wait_for_selector(f"#toast:has-text('{why}')")
    dataset = call(url, "/api/datasets", tokens["ann"])[0]["id"]
    assert len(call(url, f"/api/runs?dataset_id={dataset}", tokens["ann"])) == 1  # no run started
    page.click("#open-models")
    page.wait_for_selector("#models-dialog[open] #models-list li")
    for selector in ["#model-form button[type=submit]", "#model-test", "#model-new", "#models-list button"]:
        assert page.get_attribute(selector, "aria-disabled") == "true", selector
    page.click("#models-close")
    page.click("#task-edit")  # the editor opens (its preview is a viewer's), but Save and Try are held back
    page.wait_for_selector("#task-dialog[open] #task-save")
    assert page.get_attribute("#task-save", "aria-disabled") == "true"
    assert page.get_attribute("#task-try", "aria-disabled") == "true"
    page.keyboard.press("Escape")
    page.click("#open-judge")
    page.wait_for_selector("#judge-dialog[open] #judge-start")
    assert page.get_attribute("#judge-start", "aria-disabled") == "true"
    page.keyboard.press("Escape")
    page.wait_for_selector("#judge-dialog", state="hidden")

    # A golden mark: the cell shows it, the server has it under ann's name, the record's history says so.
    star = page.locator(".row").nth(0).locator(".cell button[data-act=golden]")
    assert star.get_attribute("aria-disabled") is None
    star.click()
    page.wait_for_function("document.querySelector('.row .cell button[data-act=golden]')"
                           ".getAttribute('aria-pressed') === 'true'")
    history = f"/api/annotations?dataset_id={dataset}&record_id=cand-000001"  # the first row's record
    deadline = time.monotonic() + 10
    while not (events := call(url, history, tokens["ann"])):
        assert time.monotonic() < deadline, "the mark never reached the server"
        time.sleep(0.1)
    assert [(e["author"], e["field"], e["value"]) for e in events] == [("ann", "golden", True)]
    page.locator(".row").nth(0).locator(".rec").click()
    page.wait_for_selector("#detail:not([hidden]) .history li")
    assert "ann: gemma" in page.inner_text("#detail .history")
    shot(page, "accounts-annotator")

    # Disabled by an admin meanwhile: the open page hears it (its live socket closes) and asks to sign in again.
    page.keyboard.press("Escape")
    call(url, "/api/users/ann/disable", tokens["ada"], "POST")
    page.wait_for_selector("#signin:not([hidden]) #signin-message:has-text('session has ended')")
    page.fill("#signin-name", "ann")  # a disabled user is told so, not "wrong token"
    page.fill("#signin-token", tokens["ann"])
    page.click("#signin-submit")
    page.wait_for_selector("#signin-message:has-text('disabled')")
    call(url, "/api/users/ann/enable", tokens["ada"], "POST")
    sign_in(page, "ann", tokens["ann"])
    # Any call answered 401 does the same (here the cookie is gone; the server still has the session, so the
    # open socket stays: only a call can bring the form back). The click's call, or one of the page's own.
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.wait_for_selector("#conn.live")
    page.context.clear_cookies()
    try:
        page.locator(".row").nth(1).locator(".cell button[data-act=golden]").click(timeout=5000)
    except PlaywrightTimeoutError:  # the page's own call (a refresh) was answered 401 first: the form is up
        pass
    page.wait_for_selector("#signin:not([hidden]) #signin-message:has-text('session has ended')")
    sign_in(page, "ann", tokens["ann"])
    page.wait_for_selector("#dataset-count:has-text('100 records')")

    # Sign out: back to the sign-in screen, and the session is gone on the server too.
    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden]) #signin-message:has-text('You signed out')")
    assert page.evaluate("fetch('/api/session').then((r) => r.json())")["user"] is None


def test_viewer_reads_but_every_annotation_control_is_held_back(page, tmp_path, fake):  # noqa: F811
    url, tokens = team_server(tmp_path, fake)
    page.goto(url)
    # Failed tries are limited: the form says when to try again (Retry-After).
    page.wait_for_selector("#signin:not([hidden])")
    for _ in range(6):
        page.fill("#signin-name", "mallory")
        page.fill("#signin-token", "wb_guess")
        page.click("#signin-submit")
        page.wait_for_selector("#signin-submit:not([disabled])")
    page.wait_for_selector("#signin-message:has-text('Too many failed sign-ins: try again in')")
    sign_in(page, "vic", tokens["vic"], keyboard=True)
    page.wait_for_selector(".row .cell button[data-act=golden]")
    why = "Needs the annotator role; you are a viewer."
    for selector in [".row .cell button[data-act=golden]", ".row .cell button[data-act=wrong]",
                     ".row .cell button[data-act=edit]", "#undo", "#bulk-open"]:
        assert page.get_attribute(selector, "aria-disabled") == "true", selector
        assert page.text_content(f"#{page.get_attribute(selector, 'aria-describedby').split()[-1]}") == why
        assert page.get_attribute(selector, "title") == why, selector
    # The keys too: g on a row marks nothing and says why.
    page.focus("#grid")
    page.keyboard.press("j")
    page.keyboard.press("g")
    page.wait_for_selector(f"#toast:has-text('{why}')")
    page.keyboard.press("r")  # review mode opens; its marks are held back too
    page.wait_for_selector("#review:not([hidden]) .marks-line button")
    assert page.eval_on_selector_all("#review .marks-line button, #review .prefs button[data-prefer]",
                                     "(bs) => bs.length > 0 && bs.every((b) => b.getAttribute('aria-disabled') === 'true')")
    page.keyboard.press("Escape")
    page.locator(".row").nth(0).locator(".rec").click()
    page.wait_for_selector("#detail:not([hidden]) .note-box")
    assert page.get_attribute("#detail .note-box", "readonly") is not None
    assert page.get_attribute("#detail .prefs button", "aria-disabled") == "true"
    dataset = call(url, "/api/datasets", tokens["vic"])[0]["id"]
    grid = call(url, f"/api/workbench?dataset_id={dataset}&models=gemma&limit=5&counts=false", tokens["vic"])
    assert not any(r["models"]["gemma"]["is_golden"] for r in grid["results"])

    # Exports are a viewer's: the Export menu's download carries the session.
    page.keyboard.press("Escape")
    page.click("#export")
    with page.expect_download() as info:
        page.click("#export-menu a[data-kind=results][data-format=jsonl]")
    lines = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100 and json.loads(lines[0])

    # A user's own token in the address (as a script opens the page) signs the tab in; Sign out forgets it.
    tab = page.context.browser.new_context().new_page()
    try:
        tab.goto(f"{url}/?token={tokens['vic']}")
        tab.wait_for_selector("#whoami:has-text('Signed in as vic')")
        assert "token=" not in tab.url and not tab.is_visible("#signin")
        tab.wait_for_selector("#dataset-count:has-text('100 records')")
        tab.click("#sign-out")
        tab.wait_for_selector("#signin:not([hidden]) #signin-message:has-text('You signed out')")
    finally:
        tab.context.close()


@pytest.fixture
def asking_page(browser):  # noqa: F811
    """A page whose confirm() dialogs are answered from ``tab.answers`` (True: OK), in order; any
    other dialog, or one with no answer queued, is an error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.answers = []
    tab.on("pageerror", lambda e: errors.append(str(e)))

    def answer(dialog) -> None:
        if dialog.type != "confirm" or not tab.answers:
            errors.append(f"dialog: {dialog.message}")
            return dialog.dismiss()
        return dialog.accept() if tab.answers.pop(0) else dialog.dismiss()

    tab.on("dialog", answer)
    yield tab
    context.close()
    assert errors == [], errors


def test_admin_team_panel_adds_a_user_shows_the_token_once_and_the_audit_log(asking_page, tmp_path, fake):  # noqa: F811
    page = asking_page  # noqa: F811 (the fixture of that name is another page)
    url, tokens = team_server(tmp_path, fake)
    page.goto(url)
    sign_in(page, "ada", tokens["ada"])
    assert "(admin)" in page.inner_text("#whoami")
    assert page.query_selector("#role-note") is None  # an admin is held back from nothing
    # An admin action from the page: an upload, which the audit log names ada for.
    upload = tmp_path / "more.jsonl"
    write_jsonl(upload, 12, seed=3)
    page.set_input_files("#upload-input", str(upload))
    page.wait_for_selector("#dataset-count:has-text('12 records')")

    page.click("#open-team")
    page.wait_for_selector("#team-dialog[open] #team-users-body tr[data-user=ann]")
    users = page.inner_text("#team-users-body")
    assert "ada" in users and "ann" in users and "vic" in users
    page.wait_for_selector("#team-audit-body tr")
    rows = [r.inner_text() for r in page.locator("#team-audit-body tr").all()]
    imported = [r for r in rows if "dataset.import" in r and "ada" in r]
    assert imported, rows
    assert rows.index(imported[0]) < rows.index(next(r for r in rows if "user.add" in r))  # newest first
    problems = axe_violations(page, "#team-dialog")
    assert problems == [], "axe on the Team panel:" + listing(problems)

    # Add a user: the token shows once, works, and is gone from the page when done with.
    page.fill("#team-add-name", "noa")
    page.select_option("#team-add-role", "annotator")
    page.click("#team-add-submit")
    page.wait_for_selector("#team-token:not([hidden])")
    assert "shown once" in page.inner_text("#team-token").lower()
    token = page.input_value("#team-token-value")
    assert TOKEN.fullmatch(token)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#team-token-copy")
    page.wait_for_selector("#team-token-copied:has-text('Copied.')")
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert call(url, "/api/session", token)["user"] == {"name": "noa", "role": "annotator"}
    page.wait_for_selector("#team-users-body tr[data-user=noa]")
    problems = axe_violations(page, "#team-dialog")
    assert problems == [], "axe on the Team panel with a token shown:" + listing(problems)
    shot(page, "accounts-team")
    page.click("#team-token-done")
    assert page.is_hidden("#team-token") and page.input_value("#team-token-value") == ""
    page.wait_for_selector("#team-audit-body tr:has-text('user.add'):has-text('noa')")

    # Change a role, disable, reset: the users list follows; a reset shows the new token once.
    page.select_option("#team-users-body tr[data-user=noa] select", "viewer")
    page.wait_for_selector("#team-message:has-text('noa is now a viewer')")
    # Disable and Reset ask first: dismissed, nothing changes; accepted, it happens.
    page.answers.append(False)
    page.click("#team-users-body tr[data-user=noa] button:has-text('Disable')")
    page.wait_for_selector("#team-message:has-text('Nothing changed')")
    assert page.is_visible("#team-users-body tr[data-user=noa] .user-status:has-text('active')")
    page.answers += [True, True]  # Disable, then Reset token
    page.click("#team-users-body tr[data-user=noa] button:has-text('Disable')")
    page.wait_for_selector("#team-users-body tr[data-user=noa] .user-status:has-text('disabled')")
    assert status_of(url, "/api/datasets", token) == 401
    page.click("#team-users-body tr[data-user=noa] button:has-text('Enable')")
    page.wait_for_selector("#team-users-body tr[data-user=noa] .user-status:has-text('active')")
    page.click("#team-users-body tr[data-user=noa] button:has-text('Reset token')")
    page.wait_for_selector("#team-token:not([hidden])")
    fresh = page.input_value("#team-token-value")
    assert TOKEN.fullmatch(fresh) and fresh != token
    assert status_of(url, "/api/datasets", token) == 401 and status_of(url, "/api/datasets", fresh) == 200

    # The last admin can't be demoted: the refusal is said, and the list shows the role as it is.
    page.select_option("#team-users-body tr[data-user=ada] select", "viewer")
    page.wait_for_selector("#team-message.error")
    page.wait_for_function("document.querySelector('#team-users-body tr[data-user=ada] select').value === 'admin'")
    assert "(admin)" in page.inner_text("#whoami")

    # The export: a download of the whole log.
    with page.expect_download() as info:
        page.click("#team-audit-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert "dataset.import" in text and "user.reset" in text and "ada" in text

    # More entries than a page: the newest 50 first, the older ones by "Load more", until the log's start.
    for i in range(50):
        call(url, "/api/users/vic/role", tokens["ada"], "POST", {"role": "annotator" if i % 2 == 0 else "viewer"})
    page.click("#team-close")
    page.click("#open-team")
    page.wait_for_function("document.querySelectorAll('#team-audit-body tr').length === 50")
    assert "dataset.import" not in page.inner_text("#team-audit-body")
    page.click("#team-audit-more")
    page.wait_for_selector("#team-audit-state:has-text('entries shown')")
    rows = [r.inner_text() for r in page.locator("#team-audit-body tr").all()]
    assert len(rows) > 50 and any("dataset.import" in r for r in rows) and page.is_hidden("#team-audit-more")
    ids = [int(i) for i in page.eval_on_selector_all("#team-audit-body tr", "(rows) => rows.map((r) => r.dataset.id)")]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)  # newest first, none twice


def test_accounts_off_the_page_has_no_sign_in_and_no_team(page, tmp_path):  # noqa: F811
    upload = tmp_path / "c.jsonl"
    write_jsonl(upload, 5, seed=1)
    url = workbench(tmp_path, "import\x00" + str(upload))
    page.goto(url)
    page.wait_for_selector("#dataset-count:has-text('5 records')")
    assert page.query_selector("#signin") is None
    assert page.query_selector("#whoami") is None and page.query_selector("#open-team") is None
    assert page.query_selector("#sign-out") is None
    assert page.is_visible("#user-name") and page.is_visible("#dropzone")
    assert page.query_selector("[aria-disabled=true][data-needs]") is None
    assert page.evaluate("fetch('/api/session').then((r) => r.json())")["accounts"] is False
