"""The administrator's page in Debian's chromium against a real API, user and token stores,
camera files and audit log: one-time secrets shown once, tokens issued and revoked, face
matching switched on only with a purpose and a legal basis."""

from __future__ import annotations

import pytest
import yaml
from playwright.sync_api import Page, expect

from civicsight.auth import Role

from .conftest import ARTIFACTS, OfficeHub, console_problems

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
PURPOSE = "find missing persons reported at the station"
BASIS = "court order 2026/77"


def open_admin(page: Page, hub: OfficeHub, tab: str | None = None) -> str:
    """Signs in with a new admin token and opens the page (on ``tab``); returns the token."""
    token = hub.tokens.issue(Role.ADMIN, "root")
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator("#role")).to_have_text("Administrator")
    page.locator(".nav-link[data-page=admin]").click()
    expect(page.locator("#tab-users")).to_have_attribute("aria-selected", "true")
    if tab:
        page.locator(f"#tab-{tab}").click()
    return token


def test_add_a_user_shows_the_one_time_password_once(page: Page, office_hub: OfficeHub) -> None:
    """Guards the new user's first password: shown in a dialog with a warning and a copy
    button, gone from the page once closed, never in the audit log, and it signs the user
    in (to a forced password change)."""
    hub = office_hub
    problems = console_problems(page)
    open_admin(page, hub)
    page.fill("#user-name", "a.jansen")
    page.select_option("#user-role", "investigator")
    page.click("#user-add")
    dialog = page.locator("#secret-dialog")
    expect(dialog).to_contain_text("User a.jansen added")
    expect(dialog.locator(".secret-warning")).to_contain_text("Shown only now")
    dialog.locator("#secret-copy").click()
    expect(dialog.locator(".copied")).not_to_be_empty()  # copied, or how to copy by hand
    secret = page.input_value("#secret-value")
    assert len(secret) >= 20
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-one-time-password.png"))
    page.click("#secret-done")
    expect(dialog).to_have_count(0)
    row = page.locator('#users-table tr[data-user="a.jansen"]')
    expect(row).to_contain_text("Investigator")
    expect(row.locator(".state-pill")).to_have_text("one-time password")
    assert secret not in page.content()
    login = page.request.post(
        f"{hub.url}/api/auth/login", data={"username": "a.jansen", "password": secret}
    )
    assert login.ok and login.json()["must_change_password"] is True
    entries = hub.trail.entries(action="user.add")
    assert [(e.actor, e.details) for e in entries] == [
        ("root", {"user": "a.jansen", "user_role": "investigator"})
    ]
    assert secret not in str([e.details for e in hub.trail.entries()])
    page.screenshot(path=str(ARTIFACTS / "admin.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(ARTIFACTS / "admin-1920.png"))
    assert problems == [], problems


def test_issue_and_revoke_a_token(page: Page, office_hub: OfficeHub) -> None:
    """Guards the token life cycle in the page: issued with a role and label, shown once,
    revoked after a confirmation, and then refused by the API."""
    hub = office_hub
    problems = console_problems(page)
    open_admin(page, hub, "tokens")
    page.fill("#token-label", "wall display 2")
    page.select_option("#token-role", "viewer")
    page.fill("#token-days", "7")
    page.click("#token-issue")
    expect(page.locator("#secret-dialog")).to_contain_text("Token issued: wall display 2")
    secret = page.input_value("#secret-value")
    assert secret.startswith("cs_")
    page.screenshot(path=str(ARTIFACTS / "admin-token.png"))
    page.click("#secret-done")
    wall = {"Authorization": f"Bearer {secret}"}
    assert page.request.get(f"{hub.url}/api/cameras", headers=wall).ok

    row = page.locator("#tokens-table tr", has_text="wall display 2")
    expect(row.locator(".state-pill")).to_have_text("live")
    row.locator(".token-revoke").click()
    confirm = page.locator(".dialog-backdrop")
    expect(confirm).to_contain_text("Revoke “wall display 2”?")
    confirm.locator("button[type=submit]").click()
    expect(page.locator("#tokens-table tr", has_text="wall display 2")).to_have_count(0)
    page.check("#tokens-ended")
    expect(row.locator(".state-pill")).to_have_text("revoked")
    assert page.request.get(f"{hub.url}/api/cameras", headers=wall).status == 401
    issued = hub.trail.entries(action={"token.issue", "token.revoke"}, actor="root")
    assert [e.action for e in issued][-2:] == ["token.issue", "token.revoke"]
    assert secret not in str([e.details for e in hub.trail.entries()])
    assert problems == [], problems


def test_faces_need_a_purpose_and_a_legal_basis(page: Page, office_hub: OfficeHub) -> None:
    """Guards face matching switched on without a purpose and a legal basis (refused in the
    page and by the API, nothing written), and with them: written to the camera's file,
    audited, and shown as on."""
    hub = office_hub
    problems = console_problems(page)
    token = open_admin(page, hub, "cameras")
    path = hub.cameras_dir / "walkway.yaml"
    before = path.read_text()
    block = page.locator('tbody[data-camera="walkway"]')
    save = block.locator(".camera-save")
    expect(save).to_be_disabled()
    block.locator("input[name=faces]").check()
    expect(block.locator(".faces-row")).to_be_visible()
    save.click()
    expect(block.locator(".camera-error")).to_contain_text("needs a purpose")
    assert path.read_text() == before
    refused = page.request.put(
        f"{hub.url}/api/cameras/walkway/analytics",
        data={"detect": True, "faces": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status == 400 and "faces_purpose" in refused.json()["detail"]
    assert path.read_text() == before and not hub.trail.entries(action="camera.faces_enabled")

    block.locator(".faces-purpose").fill(PURPOSE)
    block.locator(".faces-basis").fill(BASIS)
    save.click()
    expect(page.locator(".toast")).to_contain_text("Saved the analytics of Station walkway")
    block = page.locator('tbody[data-camera="walkway"]')
    expect(block.locator("input[name=faces]")).to_be_checked()
    expect(block.locator(".faces-basis")).to_have_value(BASIS)
    expect(page.locator(".panel-head .count")).to_contain_text("1 matching faces")
    doc = yaml.safe_load(path.read_text())
    assert doc["analytics"]["faces"] is True and doc["analytics"]["faces_legal_basis"] == BASIS
    assert doc["source"] == yaml.safe_load(before)["source"]
    (entry,) = hub.trail.entries(action="camera.faces_enabled")
    assert (entry.actor, entry.details) == (
        "root",
        {"camera_id": "walkway", "purpose": PURPOSE, "legal_basis": BASIS},
    )
    page.screenshot(path=str(ARTIFACTS / "admin-cameras.png"))
    assert problems == [], problems


def test_the_admin_page_is_refused_to_other_roles(page: Page, office_hub: OfficeHub) -> None:
    """Guards role checks in the page and the API: an auditor gets neither the workspace
    nor the user list."""
    hub = office_hub
    token = hub.tokens.issue(Role.AUDITOR, "aud")
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator("#role")).to_have_text("Auditor")
    expect(page.locator(".nav-link[data-page=admin]")).to_have_count(0)
    page.goto(f"{hub.url}/#/admin")
    expect(page.locator(".not-allowed")).to_contain_text("may not open Administration")
    resp = page.request.get(
        f"{hub.url}/api/admin/users", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 403
