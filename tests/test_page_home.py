"""The entry point: navigation over every page, the home page's links, the device and seed in the sidebar."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.train.device import device_label

ROOT = Path(__file__).resolve().parents[1]


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    return at.run()


def test_home_says_what_it_is_and_names_the_device():
    at = _app()
    assert not at.exception
    assert at.title[0].value == "Backprop Lab"
    assert "three independent ways" in at.markdown[0].value
    device = device_label().split(" (")[0]  # "CPU" or "CUDA: <name>"; the thread count may change at start-up
    assert any(device in c.value for c in at.caption), "the device in use is shown"
    assert any(device in c.value for c in at.sidebar.caption)


def test_sidebar_seed_is_shared_through_session_state():
    at = _app()
    at.sidebar.number_input(key="seed").set_value(7).run()
    assert not at.exception
    assert at.session_state["seed"] == 7


def test_every_page_script_listed_in_app_exists_and_has_a_home_link():
    app_text = (ROOT / "app.py").read_text()
    home_text = (ROOT / "pages" / "home.py").read_text()
    for script in sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py")):
        assert f'"{script}"' in app_text, f"{script} is not registered in app.py"
        if script != "pages/home.py":
            assert f'"{script}"' in home_text, f"home has no link to {script}"


def test_the_sidebar_menu_is_our_page_links_with_the_pages_titles():
    """Streamlit's automatic menu is off (.streamlit/config.toml): the sidebar draws the pages' own titles."""
    at = _app()
    links = [el.proto for el in at.sidebar.get("page_link")]
    assert [link.label for link in links] == ["Home", "Inspector", "Train", "Compare", "Optimizers", "Activations",
                                                "Lessons"]
    assert [link.icon for link in links][:2] == [":material/home:", ":material/biotech:"]
