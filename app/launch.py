"""Start the dashboard server in this process (``pelvio dashboard`` calls ``run_dashboard``).

Privacy settings are passed as explicit flags, which outrank every config file: usage statistics off,
and the server bound to the loopback address unless the caller asks otherwise (then a warning is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from importlib.resources import files

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

STREAMLIT_FLAGS: dict[str, str] = {
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "server.fileWatcherType": "none",
    "server.enableAgentApi": "false",
    "server.maxUploadSize": "2048",  # MiB: a phone video up to 2 GB (dashboard.video); recordings keep 100 MB
    "runner.postScriptGC": "false",
    "client.toolbarMode": "viewer",
    "client.showErrorDetails": "type",
}
"""Same values as the packaged ``.streamlit/config.toml`` (a test keeps them equal)."""


def server_healthy(url: str) -> bool:
    """True once a served dashboard at ``url`` answers Streamlit's health check (for launchers and tests)."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def streamlit_argv(*, port: int, address: str, extra_args: list[str] | None = None) -> list[str]:
    """``sys.argv`` for ``streamlit run`` on the packaged app with Pelvio's flags."""
    app = str(files("pelvio.dashboard") / "app.py")
    flags = {**STREAMLIT_FLAGS, "server.port": str(port), "server.address": address}
    return ["streamlit", "run", app, *(f"--{k}={v}" for k, v in flags.items()), *(extra_args or [])]


def run_dashboard(*, port: int = 8501, address: str = "127.0.0.1", recordings_dir: str = "recordings",
                  source: str = "sim", extra_args: list[str] | None = None) -> int:
    """Serve the dashboard until interrupted; returns the exit code of Streamlit's CLI."""
    from streamlit.web import cli as stcli

    extra = list(extra_args or [])
    if address not in LOOPBACK:
        print(f"WARNING: serving on {address}: other machines on the network can open the dashboard "
              "and see its data. Use --address 127.0.0.1 to keep it on this computer.", file=sys.stderr)
        print(f"Pelvio dashboard: http://{address}:{port}", file=sys.stderr)
        # Streamlit's banner looks up this machine's public IP online for wildcard addresses.
        extra.insert(0, "--logger.hideWelcomeMessage=true")
    os.environ["PELVIO_SOURCE"] = source
    os.environ["PELVIO_RECORDINGS_DIR"] = str(os.path.abspath(recordings_dir))
    sys.argv = streamlit_argv(port=port, address=address, extra_args=extra)
    try:
        stcli.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:  # e.g. the address is not this machine's or the port is taken
        print(f"pelvio dashboard: cannot serve on {address}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m pelvio.app.launch``: the same options as ``pelvio dashboard``."""
    parser = argparse.ArgumentParser(prog="python -m pelvio.app.launch", description=__doc__)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--recordings-dir", default="recordings")
    parser.add_argument("--source", default="sim")
    args = parser.parse_args(argv)
    return run_dashboard(port=args.port, address=args.address, recordings_dir=args.recordings_dir,
                         source=args.source)


if __name__ == "__main__":
    sys.exit(main())
