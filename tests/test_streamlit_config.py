"""The served app's Streamlit settings: a file watcher that looks at the project's sources only."""
import tomllib

from engine.settings import PROJECT_ROOT


def test_the_file_watcher_polls_registered_sources_instead_of_watching_the_tree():
    server = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())["server"]
    # watchdog ("auto") schedules the app's folder recursively, .venv and .git included
    assert server["fileWatcherType"] == "poll"
    assert {"tests", "bench"} <= set(server["folderWatchBlacklist"])
