"""A share link's spec name is a label: the Inspector shows it as capped plain text, and over-long links are
refused before they are decoded (AppTest with crafted links)."""
from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.inspector.share import PREFIX, decode_spec

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "inspector.py")
PHISH = "[Log in](https://ex.invalid/a) ![](https://ex.invalid/p.png) <img src=x>"  # under 80 characters


def _link(name: str) -> str:
    """A share code made by hand (not by the code under test): b1. + base64url(zlib(JSON))."""
    text = json.dumps({"input_size": 1, "layers": [{"units": 1}], "name": name}, separators=(",", ":"))
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


def _page(code: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["spec"] = code
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "loss" in m.value and "batch" in m.value)


def test_a_markdown_name_is_shown_as_text():
    at = _page(_link(PHISH))
    title = _summary(at).split("**")[1]
    assert not re.search(r"(?<!\\)[\[\]()<>!]", title), title  # every mark that builds a link is escaped
    assert re.sub(r"\\(.)", r"\1", title).replace("\u2060", "") == PHISH  # every character still there


def test_a_huge_name_in_a_short_link_is_cut_to_80_characters():
    code = _link("A" * 5_000_000)  # 5 MB of name packs into a few thousand characters of link
    assert len(code) < 8_000
    at = _page(code)
    assert not at.error
    assert _summary(at).split("**")[1] == "A" * 79 + "…"
    assert at.session_state["insp_spec"]["name"] == "A" * 79 + "…"
    assert len(decode_spec(at.query_params["spec"]).name) == 80  # the address bar holds the short name


def test_a_link_longer_than_the_app_ever_writes_is_refused_before_decoding():
    code = PREFIX + "A" * 20_000  # not even valid: the length alone refuses it
    at = _page(code)
    assert at.error and "20,003 characters" in at.error[0].value and "limit 8,000" in at.error[0].value
    assert "two-layer" in _summary(at)  # the default example instead
