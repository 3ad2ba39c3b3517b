"""The headless browser the end-to-end tests drive: Debian's Chromium (installed by .ci/run), no
background traffic of its own, so anything the page requests is the dashboard's doing."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
