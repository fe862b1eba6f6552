"""The Models, Model, API keys and Users pages in headless Chromium against the running platform, after a real
analysis of samples/penguins-raw.csv with the target Species: the model in the list, its card, predictions of
the example rows the page fills in and of two rows pasted from the CSV, each with its SHAP waterfall (also at
375 px wide, without the page overflowing); an API key created and shown once, accepted by the API, revoked
through the confirmation dialog and then refused; a user added on the Users page. axe-core finds no serious
or critical violation on any page, and nothing fails or leaves the origin. Screenshots in docs/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_kit.local_mesh import LocalMesh

from .browser import PageWatch, assert_accessible, is_focused, open_browser, require_browser, shot, tab_to
from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from .helpers import two_penguin_rows

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_predict_with_waterfalls_and_an_api_key_from_creation_to_revocation(
        mesh: LocalMesh, api: httpx.Client, finished: dict[str, Any], samples: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    analysis = api.get(f"/api/v1/analysis/{finished['analysis_id']}").json()["data"]
    assert analysis["status"] == "completed", analysis
    model_id = analysis["model_id"]
    assert model_id, "the analysis registered no model"
    pasted, species = two_penguin_rows(samples)
    base = mesh.url("gateway")
    watch = PageWatch(base)
    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = watch.attach(context.new_page())
        page.goto(f"{base}/")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible(timeout=15_000)

        # the list: this analysis' model, linking to its page
        page.get_by_role("link", name="Models", exact=True).click()
        link = page.locator(f"a[href='#/models/{model_id}']")
        expect(link).to_have_text("penguins-raw.csv", timeout=15_000)
        row = page.get_by_role("row").filter(has=link)
        expect(row).to_contain_text("Species")
        expect(row).to_contain_text("multiclass")
        # the metric AutoML ranked the models by: log loss for classifiers
        expect(row).to_contain_text(re.compile(r"(log_loss|accuracy) \d+\.\d{3}"))
        assert_accessible(page, "models")
        shot(page, "models.png")

        # the card
        link.click()
        expect(page).to_have_url(re.compile(rf"#/models/{model_id}$"))
        expect(page.get_by_role("heading", name="Model predicting Species")).to_be_visible(timeout=15_000)
        board = page.get_by_role("table", name=re.compile("Models AutoML trained"))
        expect(board.get_by_role("row").filter(has_text="★ Best model")).to_have_count(1)
        rows = page.get_by_label("Rows", exact=True)
        prefilled = rows.input_value()
        assert len(prefilled.strip().splitlines()) == 3, prefilled  # a header and two example rows
        assert "Island" in prefilled.splitlines()[0]

        # the example rows predict as they are
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_text("2 predictions of Species")).to_be_visible(timeout=90_000)

        # two rows pasted from the file
        rows.fill("")
        rows.focus()
        page.keyboard.insert_text(pasted)
        predict = page.get_by_role("button", name="Predict")
        tab_to(page, predict)  # by keyboard, past the file input, with a visible focus ring
        page.keyboard.press("Enter")
        results = page.get_by_role("table", name="Predictions, one per row sent")
        expect(results.get_by_role("row")).to_have_count(3, timeout=60_000)
        predicted = [c.inner_text() for c in page.get_by_test_id("prediction").all()]
        assert len(predicted) == 2 and set(predicted) <= species, predicted  # a species of the file, each
        expect(page.get_by_role("heading", name=f"Row 2: {predicted[1]}")).to_be_visible()
        for line in results.get_by_role("row").all()[1:]:  # the class probabilities of a row add up to 100 %
            percents = [float(p) for p in re.findall(r"([\d.]+)%", line.inner_text())]
            assert len(percents) == len(species) and abs(sum(percents) - 100) < 0.5, percents
        waterfalls = page.get_by_role("img", name=re.compile(r"^Row \d: SHAP waterfall from the base value"))
        expect(waterfalls).to_have_count(2)
        for index in range(2):
            chart = waterfalls.nth(index)
            assert chart.locator("polygon").count() >= 2  # one arrow per contribution shown
            label = chart.get_attribute("aria-label") or ""
            assert re.search(r" to \S+ (log-odds|raw class scores) \(prediction ", label), label
        assert_accessible(page, "model with predictions")
        shot(page, "model.png")

        page.set_viewport_size({"width": 375, "height": 800})
        expect(waterfalls.first).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 375, f"the model page is {overflow} px wide at 375 px"
        page.get_by_role("heading", name="Why: SHAP contributions per row").scroll_into_view_if_needed()
        page.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "model-375.png"))
        page.set_viewport_size({"width": 1280, "height": 900})

        # an API key: shown once, works, revoked after confirming, then refused
        page.get_by_role("link", name="API keys").click()
        name = f"browser-{uuid.uuid4().hex[:6]}"
        page.get_by_label("Name").fill(name)
        page.get_by_label("Name").focus()
        tab_to(page, page.get_by_role("button", name="Create key"))
        page.keyboard.press("Enter")
        secret = page.get_by_role("textbox", name="New API key")
        expect(secret).to_have_value(re.compile(r"^dsp_\S{20,}"))
        expect(secret).to_have_attribute("readonly", "")
        key = secret.input_value()
        expect(page.get_by_text("this is the only time it is shown")).to_be_visible()
        listed = page.get_by_role("row").filter(has_text=name)
        expect(listed).to_contain_text("Active")
        assert_accessible(page, "API keys with the new key")
        shot(page, "keys.png")
        assert key not in page.get_by_role("table").inner_text()  # the list never shows a secret
        answer = httpx.get(f"{base}/api/v1/models", headers={"X-API-Key": key}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert model_id in {item["model_id"] for item in answer.json()["data"]["items"]}
        page.get_by_role("button", name="I have copied it").click()
        expect(page.get_by_role("textbox", name="New API key")).to_have_count(0)

        revoke = listed.get_by_role("button", name=f"Revoke {name}")
        revoke.click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_have_attribute("aria-modal", "true")
        assert_accessible(page, "revoke dialog")
        page.keyboard.press("Escape")  # Escape cancels, and the focus comes back
        expect(dialog).to_have_count(0)
        assert is_focused(revoke)
        assert httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}, timeout=30).status_code == 200
        page.keyboard.press("Enter")
        page.get_by_role("dialog").get_by_role("button", name="Revoke key").click()
        expect(listed).to_contain_text("Revoked")
        assert httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}, timeout=30).status_code == 401

        # users: an admin adds one
        page.get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        email = f"ana-{uuid.uuid4().hex[:6]}@e2e.example"
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("a-long-password-for-ana")
        page.get_by_label("Role", exact=True).select_option("viewer")
        page.get_by_role("button", name="Add user").click()
        added = page.get_by_role("row").filter(has_text=email)
        expect(added).to_contain_text("Active")
        expect(added.get_by_label(f"Role of {email}")).to_have_value("viewer")
        assert_accessible(page, "users")
        shot(page, "users.png")
        context.close()
    watch.assert_clean()
