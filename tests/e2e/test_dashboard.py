"""The admin dashboard in a real headless browser (Debian's Chromium through Playwright), on
a platform seeded as the README's quick start does (``demo seed``): an admin signs in with a
token, every chart draws the seeded history, and the page is kept as a screenshot; a
signed-out visitor is sent to the sign-in page and a non-admin is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from devservices import free_port
from devservices.settings import TEST_JWT_KEYS
from tests.e2e.conftest import CLI, ROOT, Processes, wait_healthy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = 10
SEEDED = 12
SCREENSHOT = os.environ.get("LM_DASHBOARD_SCREENSHOT", "")
"""Where to keep the screenshot (docs/dashboard.png is made this way); else the test's tmp."""


def _login(base: str, name: str) -> str:
    response = httpx.post(f"{base}/api/v1/auth/dev-login",
                          json={"email": f"{name}@example.com", "name": name.title()},
                          timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["accessToken"])


def test_an_admin_sees_every_chart_and_others_do_not(processes: Processes, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("Chromium is needed for the dashboard test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    env = {"LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"), "LANGUAGEMATE_DEV_LOGIN": "1",
           "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS,
           "LANGUAGEMATE_IDENTITY_PEPPER": "pepper"}  # fmt: skip
    seeded = subprocess.run([*CLI, "demo", "seed", "--users", str(SEEDED), "--days", "5"],
                            cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                            timeout=300, check=False)  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    server = processes.start(["serve", "--port", str(port)], env, "serve")
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, server)
    for name in ("mina", "jun", "ara"):
        _login(base, name)
    admin, plain = _login(base, "boss"), _login(base, "plain")
    grant = [*CLI, "users", "grant-admin", "boss@example.com"]
    granted = subprocess.run(grant, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                             timeout=60, check=False)  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    deadline = time.monotonic() + 30
    headers = {"Authorization": f"Bearer {admin}"}
    while httpx.get(f"{base}/api/v1/admin/metrics", headers=headers).status_code != 200:
        assert time.monotonic() < deadline, "the admin role never reached the read model"
        time.sleep(0.2)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"{base}/admin/dashboard")
        assert page.url.endswith("/admin/login")  # signed out: to the sign-in form
        page.fill("input[name=token]", plain)
        page.click("button[type=submit]")
        assert "not an admin" in page.content()
        page.goto(f"{base}/admin/login")
        page.fill("input[name=token]", admin)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/dashboard")
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg')"
                               f".length >= {CHARTS}", timeout=30_000)  # fmt: skip
        charts = page.locator(".js-plotly-plot").count()
        tiles = page.locator(".tile b").all_inner_texts()
        shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert charts == CHARTS
    assert tiles[0] == str(SEEDED + 5)  # signups: the seeded learners, mina, jun, ara, boss, plain
    image = Image.open(shot).convert("RGB")
    assert image.width == 1440 and image.height > 1000
    colours = image.resize((360, image.height // 4)).getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 200  # charts drew: not a blank or an error page
