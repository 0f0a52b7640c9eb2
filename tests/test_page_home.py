"""The entry point: navigation over every page, the home page's links, the device and seed in the sidebar."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.train.device import device_label

ROOT = Path(__file__).resolve().parents[1]


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    return at.run()


def _texts(at: AppTest) -> list[str]:
    """Every title, markdown and caption Home shows (the sidebar's too), as read: bold marks and escapes off."""
    shown = [e.value for kind in ("title", "markdown", "caption") for e in at.get(kind)]
    return [t.replace("**", "").replace("\\", "") for t in shown]


def _double_stops(texts: list[str]) -> list[str]:
    """The texts with a full stop right after another or after an ellipsis ("..", "…." once bold marks are off)."""
    return [t for t in texts if re.search(r"[.…]\.", t)]


def test_no_text_on_home_has_a_double_full_stop_once_the_device_is_named():
    texts = _texts(_app())
    assert any("Computing on" in t for t in texts) and not _double_stops(texts), _double_stops(texts)


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


HOME_WITHOUT_WARMUP = """
import json
import sys
from unittest import mock
from streamlit.testing.v1 import AppTest
import ui.warmup
with mock.patch.object(ui.warmup, "start", lambda: None):  # the background load, which app.py starts after the page
    at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
assert not at.exception, at.exception
heavy = [m for m in ("torch", "pandas", "numpy") if m in sys.modules]
print("heavy:", heavy, "|", [c.value for c in at.caption if "Computing on" in c.value or "Device" in c.value])
from tests.test_page_home import _texts
print(json.dumps(_texts(at)))
"""


def test_home_draws_without_importing_torch_and_says_the_device_is_loading():
    """A fresh server's first page must not wait ~3 s for torch: Home and the sidebar name the device only once
    ui/warmup.py's background thread has loaded it (run in a fresh interpreter: this one has torch)."""
    out = subprocess.run([sys.executable, "-c", HOME_WITHOUT_WARMUP, str(ROOT / "app.py")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    line, texts = out.stdout.strip().splitlines()[-2:]
    assert line.startswith("heavy: [] |"), line
    assert "Computing on **loading PyTorch…**" in line and "**Device:** loading PyTorch…" in line
    assert not _double_stops(json.loads(texts)), texts  # it read "Computing on loading PyTorch…. Every …"


WARMUP = """
import sys
import ui.warmup as w
assert w.device_text() is None and "torch" not in sys.modules
w.start()
w._thread.join(120)
import torch
from engine.train.device import device_label
print(w.device_text() == device_label(), torch.get_num_threads())
"""


def test_the_background_load_imports_torch_sets_its_threads_and_names_the_device():
    out = subprocess.run([sys.executable, "-c", WARMUP], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    same, threads = out.stdout.split()
    assert same == "True"
    if device_label().startswith("CPU") and (os.cpu_count() or 1) <= 2:
        assert threads == "1"  # configure_threads: one intra-op thread on a ≤ 2-core CPU box (bench row 9)
