"""The launcher's flags and the packaged config agree, so every way of starting the app is private."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from pelvio.app.launch import STREAMLIT_FLAGS, streamlit_argv

CONFIG = files("pelvio.dashboard") / ".streamlit" / "config.toml"


def flat_config() -> dict[str, str]:
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    return {f"{section}.{key}": str(value).lower() if isinstance(value, bool) else str(value)
            for section, values in data.items() for key, value in values.items()}


def test_packaged_config_matches_the_launch_flags():
    config = flat_config()
    assert config["browser.gatherUsageStats"] == "false"
    assert config["server.address"] == "127.0.0.1"
    assert {k: config.get(k) for k in STREAMLIT_FLAGS} == STREAMLIT_FLAGS


def test_argv_runs_the_packaged_app_with_explicit_privacy_flags():
    argv = streamlit_argv(port=8765, address="127.0.0.1", extra_args=["--theme.base=dark"])
    assert argv[:2] == ["streamlit", "run"]
    assert Path(argv[2]).name == "app.py" and Path(argv[2]).is_file()
    assert {"--server.port=8765", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
            "--server.headless=true", "--runner.postScriptGC=false"} <= set(argv)
    assert argv[-1] == "--theme.base=dark"
