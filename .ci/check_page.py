"""Load the served dashboard in headless Chromium and wait until Pelvio's live view is drawn (CI only).

Usage: python .ci/check_page.py URL. Exits non-zero, saying why, if the page shows an exception or
never draws the live view's title.
"""

import sys

from playwright.sync_api import sync_playwright

URL = sys.argv[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page()
    page.goto(URL)
    page.get_by_role("heading", name="Live").first.wait_for(timeout=60_000)
    page.get_by_text("Tilt").first.wait_for(timeout=60_000)
    errors = page.locator('[data-testid="stException"]').count()
    browser.close()
if errors:
    sys.exit(f"the dashboard at {URL} shows {errors} exception(s)")
print(f"page check: {URL} drew the live view with angles")
