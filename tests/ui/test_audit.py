"""The auditor's page in Debian's chromium against a real API and audit log: an
investigator's searches, made through the API, show in the log with the chain intact."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from civicsight.auth import Role

from .conftest import ARTIFACTS, OfficeHub, console_problems

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
CASE = "2026-0142"
PURPOSE = "stolen van seen near the harbour"


def sign_in(page: Page, hub: OfficeHub, token: str, role_name: str) -> None:
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator("#role")).to_have_text(role_name)


def test_an_investigators_searches_show_in_the_auditors_log(
    page: Page, office_hub: OfficeHub
) -> None:
    """Guards the auditor's view of what investigators did: their searches (made through
    the API) are listed with who, the case and the purpose, the chain check at the top
    says intact, the case filter and the case summary find them, and an entry opens to
    its full details."""
    hub = office_hub
    problems = console_problems(page)
    ines = hub.tokens.issue(Role.INVESTIGATOR, "ines")
    why = {"case": CASE, "purpose": PURPOSE, "category": "theft"}
    api = page.request
    for _ in range(3):
        resp = api.get(
            f"{hub.url}/api/tracks", params=why, headers={"Authorization": f"Bearer {ines}"}
        )
        assert resp.ok, resp.text()
    track = hub.track_ids[0]
    resp = api.get(f"{hub.url}/api/tracks/{track}", params=why,
                   headers={"Authorization": f"Bearer {ines}"})  # fmt: skip
    assert resp.ok
    other = hub.tokens.issue(Role.INVESTIGATOR, "omar")
    resp = api.get(f"{hub.url}/api/tracks", headers={"Authorization": f"Bearer {other}"},
                   params={**why, "case": "2026-0150"})  # fmt: skip
    assert resp.ok

    sign_in(page, hub, hub.tokens.issue(Role.AUDITOR, "aud"), "Auditor")
    expect(page.locator(".nav-link")).to_have_text(["Audit"])  # nothing else for an auditor
    expect(page.locator("#chain-status")).to_have_text("Chain intact")
    expect(page.locator("#chain")).to_contain_text("entries checked just now")
    rows = page.locator(".audit-row")
    searches = page.locator('.audit-row[data-action="search.tracks"]')
    expect(searches).to_have_count(4)
    first = searches.last  # newest first: the oldest search is the last row
    expect(first.locator(".audit-actor")).to_have_text("ines")
    expect(first.locator(".audit-case")).to_have_text(CASE)
    expect(first.locator(".audit-summary")).to_contain_text(PURPOSE)
    expect(page.locator('.audit-row[data-action="track.view"] .audit-summary')).to_contain_text(
        f"track {track}"
    )

    page.locator(".cases-table tr[data-case] .case-pick", has_text=CASE).click()
    expect(page.locator("#audit-case")).to_have_value(CASE)
    expect(rows).to_have_count(4)  # three searches and one track view of that case
    expect(page.locator(".audit-row .audit-actor")).to_have_text(["ines"] * 4)
    summary = page.locator(f'.cases-table tr[data-case="{CASE}"]')
    expect(summary.locator(".case-users")).to_have_text("ines")
    expect(summary.locator("td.num").first).to_have_text("3")

    row = rows.first
    row.locator(".audit-toggle").click()
    details = page.locator(".audit-more:not([hidden]) .audit-json")
    expect(details).to_contain_text(f'"case_id": "{CASE}"')
    expect(details).to_contain_text(f'"purpose": "{PURPOSE}"')

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(ARTIFACTS / "audit-1920.png"))
    reads = hub.trail.entries(action="audit.read", actor="aud")
    assert reads and {"case": CASE} in [
        {k: v for k, v in e.details.items() if k == "case"} for e in reads
    ]
    assert hub.trail.verify().ok
    assert problems == [], problems


def test_the_audit_page_is_refused_to_other_roles(page: Page, office_hub: OfficeHub) -> None:
    """Guards role checks in the page as well as in the API: an investigator neither sees
    the workspace in the navigation nor gets the log when opening its address."""
    hub = office_hub
    token = hub.tokens.issue(Role.INVESTIGATOR, "curious")
    sign_in(page, hub, token, "Investigator")
    expect(page.locator(".nav-link[data-page=audit]")).to_have_count(0)
    page.goto(f"{hub.url}/#/audit")
    expect(page.locator(".not-allowed")).to_contain_text("may not open Audit")
    resp = page.request.get(f"{hub.url}/api/audit", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 403
