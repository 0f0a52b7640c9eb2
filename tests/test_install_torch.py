"""tools/install_torch.py: which torch build each machine gets, and the fallback to a plain install."""
from __future__ import annotations

import http.server
import stat
import threading
import time

import pytest

from tools import install_torch as T

CPU = "https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize(("setting", "system", "gpu", "index"), [
    (None, "linux", False, CPU),            # a CPU-only Linux box: not PyPI's CUDA build
    ("auto", "linux", False, CPU),
    (None, "linux", True, None),            # an NVIDIA GPU: PyPI's Linux wheel is the CUDA build
    (None, "darwin", False, None),          # macOS: PyPI's wheel (CPU + MPS)
    ("default", "linux", False, None),      # the user asks for the default index
    ("https://example.org/whl/cu126", "linux", False, "https://example.org/whl/cu126"),
])
def test_choice_per_machine(setting, system, gpu, index):
    assert T.choose(setting, system, gpu).index == index


def _fake_nvidia_smi(folder, body: str):
    exe = folder / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_gpu_found_only_when_nvidia_smi_lists_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not T.nvidia_gpu()  # no nvidia-smi at all
    _fake_nvidia_smi(tmp_path, "echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)'")
    assert T.nvidia_gpu()
    _fake_nvidia_smi(tmp_path, "echo 'NVIDIA-SMI has failed because it could not communicate with the driver'; exit 9")
    assert not T.nvidia_gpu()  # the tool is there but no driver: still the CPU build


def test_pinned_version_comes_from_requirements():
    assert T.pinned_version() == "2.13.0"


def test_unreachable_index_falls_back_to_the_plain_install_at_once(capsys):
    started = time.monotonic()
    commands = T.plan("2.13.0", T.Choice("http://127.0.0.1:9/whl/cpu", "test"), "requirements.lock")
    assert time.monotonic() - started < T.PROBE_TIMEOUT_S  # a refused port answers at once
    assert commands == [[T.sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                         "torch==2.13.0", "-c", "requirements.lock"]]
    assert "cannot be reached" in capsys.readouterr().out


def test_reachable_index_is_tried_first_without_retries_then_the_plain_install():
    first, fallback = T.plan("2.13.0", T.Choice(CPU, "test"), None, probe=lambda url: True)
    assert first[-7:] == ["torch==2.13.0", "--extra-index-url", CPU, "--retries", "0", "--timeout", "15"]
    assert fallback[-1] == "torch==2.13.0" and "--extra-index-url" not in fallback


def test_any_http_answer_counts_as_reachable():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's name)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert T.reachable(f"http://127.0.0.1:{server.server_port}/whl/cpu")
    finally:
        server.shutdown()
    assert not T.reachable("http://127.0.0.1:9/whl/cpu")


def test_dry_run_prints_the_choice_and_installs_nothing(monkeypatch, capsys):
    monkeypatch.setenv("TORCH_INDEX_URL", "default")
    assert T.main(["--dry-run", "-c", "requirements.lock"]) == 0
    out = capsys.readouterr().out
    assert "TORCH_INDEX_URL=default -> the default index" in out
    assert "would run -m pip install --disable-pip-version-check torch==2.13.0 -c requirements.lock" in out
