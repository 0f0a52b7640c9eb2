"""Install the torch build that fits this machine into the Python that runs this script (the .venv).

    python tools/install_torch.py [--constraint FILE] [--dry-run]

What each machine gets (TORCH_INDEX_URL overrides the choice):
  Linux, `nvidia-smi -L` lists a GPU -> the default index: PyPI's Linux torch is the CUDA build (2.13: CUDA 13.0)
  Linux without an NVIDIA GPU         -> the CPU build (+cpu) from https://download.pytorch.org/whl/cpu,
                                         not PyPI's CUDA build with its GBs of nvidia-* wheels
  macOS (and anything else)           -> the default index: macOS wheels are CPU + MPS (Apple GPU)
TORCH_INDEX_URL: unset or `auto` = the table above; `default` = the default index; a URL = that index.

An index is added with --extra-index-url, so the rest of torch's dependencies come from the usual index
(and follow the lock); `torch==2.13.0` matches `2.13.0+cpu`, and pip prefers the local build because
PEP 440 orders 2.13.0+cpu above 2.13.0.

It never fails for want of a choice: when the chosen index cannot be reached (checked with one HEAD
request, a few seconds at most) or the install from it fails (tried with --retries 0), it says so on one
line and runs a plain `pip install torch==VERSION`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
PROBE_TIMEOUT_S = 5.0
INDEX_TIMEOUT_S = "15"  # pip's --timeout for the chosen index; the fallback keeps pip's own settings


@dataclass(frozen=True)
class Choice:
    """Where torch comes from: index None is the default index (pip's configuration, normally PyPI)."""
    index: str | None
    why: str


def pinned_version(requirements: Path = REQUIREMENTS) -> str:
    """The version in requirements.txt's `torch==X` line: one place pins torch."""
    for line in requirements.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep and name.strip().lower() == "torch":
            return version.strip()
    raise SystemExit(f"torch: no 'torch==VERSION' line in {requirements}; add one")


def nvidia_gpu() -> bool:
    """True when `nvidia-smi -L` runs and lists at least one GPU (the driver is there and sees a card)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and any(line.startswith("GPU ") for line in out.stdout.splitlines())


def choose(setting: str | None, system: str, gpu: bool) -> Choice:
    """The index for torch from TORCH_INDEX_URL (`setting`), the OS (sys.platform) and the GPU check."""
    setting = (setting or "auto").strip()
    if setting == "default":
        return Choice(None, "TORCH_INDEX_URL=default")
    if setting != "auto":
        return Choice(setting, f"TORCH_INDEX_URL={setting}")
    if system != "linux":
        return Choice(None, f"{system}: the default index's build (CPU; MPS on Apple silicon)")
    if gpu:
        return Choice(None, "Linux with an NVIDIA GPU: the default index's CUDA build")
    return Choice(CPU_INDEX, "Linux without an NVIDIA GPU: the CPU build")


def reachable(index: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the index answers at all (any HTTP status counts); False on DNS, connection or timeout."""
    request = urllib.request.Request(index.rstrip("/") + "/torch/", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def pip_command(version: str, index: str | None, constraint: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", f"torch=={version}"]
    if constraint:
        cmd += ["-c", constraint]
    if index:
        cmd += ["--extra-index-url", index, "--retries", "0", "--timeout", INDEX_TIMEOUT_S]
    return cmd


def installed_version() -> str | None:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def plan(version: str, choice: Choice, constraint: str | None, probe=reachable) -> list[list[str]]:
    """The pip commands to try in order: the chosen index (when it answers), then the plain install."""
    fallback = pip_command(version, None, constraint)
    if choice.index is None:
        return [fallback]
    if not probe(choice.index):
        print(f"torch: {choice.index} cannot be reached; installing torch=={version} from the default index "
              "(PyPI's Linux wheel is the CUDA build)", flush=True)
        return [fallback]
    return [pip_command(version, choice.index, constraint), fallback]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    version = pinned_version()
    have = installed_version()
    if have and have.split("+")[0] == version and not args.dry_run:
        print(f"torch: {have} is already installed", flush=True)
        return 0
    choice = choose(os.environ.get("TORCH_INDEX_URL"), sys.platform, nvidia_gpu())
    print(f"torch: {choice.why} -> {choice.index or 'the default index'}", flush=True)
    commands = plan(version, choice, args.constraint)
    for i, cmd in enumerate(commands):
        if args.dry_run:
            print("torch: would run", " ".join(cmd[1:]), flush=True)
            continue
        if subprocess.run(cmd).returncode == 0:
            return 0
        if i + 1 < len(commands):
            print(f"torch: installing from {choice.index} failed; falling back to the default index", flush=True)
    return 0 if args.dry_run else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--constraint", "-c", help="a pip constraints file (the project's requirements.lock)")
    p.add_argument("--dry-run", action="store_true", help="print the choice and the pip commands, install nothing")
    return p


if __name__ == "__main__":
    sys.exit(main())
