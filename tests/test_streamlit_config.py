"""The served app's Streamlit settings: a file watcher that looks at the project's sources only."""
import tomllib

from engine.settings import PROJECT_ROOT


def test_the_file_watcher_polls_registered_sources_instead_of_watching_the_tree():
    server = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())["server"]
    # watchdog ("auto") schedules the app's folder recursively, .venv and .git included
    assert server["fileWatcherType"] == "poll"
    assert {"tests", "bench"} <= set(server["folderWatchBlacklist"])


def test_streamlits_automatic_menu_is_off_and_the_sidebar_draws_ours():
    """On a fresh server the automatic menu listed the pages/ folder's file names ('app, activations, …')."""
    client = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())["client"]
    assert client["showSidebarNavigation"] is False


def test_no_full_garbage_collection_after_every_script_run():
    """Streamlit's default gc.collect(2) after each run walks every object torch, pandas and plotly made: 0.25 s
    of CPU per click on a quiet core (~1 s under load), holding the GIL while the run's last deltas wait."""
    from streamlit import config

    runner = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())["runner"]
    assert runner["postScriptGC"] is False
    assert "runner.postScriptGC" in config.get_config_options()  # the option still exists under this name
