"""A spec as a compact URL-safe code (for st.query_params) and as a downloadable JSON file, both validated.

Code format: "b1." + base64url(zlib(compact JSON)) without "=" padding. The "b1." names the format so a
later change can still read old links. Decoding bounds every size (a link or a file cannot make the
server inflate gigabytes) and every failure is a SpecError saying what to do.
"""
from __future__ import annotations

import base64
import binascii
import json
import zlib

from engine.inspector.materialize import materialize, with_parameters
from engine.inspector.spec import NetworkSpec, SpecError

PREFIX = "b1."
MAX_CODE_CHARS = 2_000_000  # a share code longer than this is refused before decoding
MAX_JSON_BYTES = 16_000_000  # decompressed JSON, and uploaded files
LINK_FRIENDLY_CHARS = 8_000  # longer codes still work but are awkward in a URL: the page says so


def encode_spec(spec: NetworkSpec) -> str:
    """The share code of a (valid) spec."""
    text = json.dumps(spec.check().to_dict(), separators=(",", ":"))
    packed = zlib.compress(text.encode("utf-8"), 9)
    return PREFIX + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode_spec(code) -> NetworkSpec:
    """The spec in a share code; SpecError saying what is wrong otherwise."""
    if not isinstance(code, str) or not code.strip():
        raise SpecError(["the share code is empty; copy the whole link again"])
    code = code.strip()
    if len(code) > MAX_CODE_CHARS:
        raise SpecError([f"the share code has {len(code):,} characters (limit {MAX_CODE_CHARS:,}); "
                         "share the network as a JSON file instead"])
    if not code.startswith(PREFIX):
        raise SpecError([f"this is not a Backprop Lab share code (it should start with {PREFIX!r}); "
                         "copy the whole link again"])
    body = code[len(PREFIX):]
    try:
        packed = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise SpecError(["the share code is damaged (not base64url text); copy the whole link again"]) from None
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_JSON_BYTES)
    except zlib.error:
        raise SpecError(["the share code is damaged (it does not decompress); copy the whole link again"]) from None
    if inflater.unconsumed_tail:
        raise SpecError([f"the share code unpacks to more than {MAX_JSON_BYTES:,} bytes; refused"])
    if not inflater.eof:
        raise SpecError(["the share code is cut short; copy the whole link again"])
    return _spec_from_bytes(raw, "the share code")


def spec_from_upload(data: bytes) -> NetworkSpec:
    """The spec in an uploaded JSON file (as written by export_json, or hand-written)."""
    if len(data) > MAX_JSON_BYTES:
        raise SpecError([f"the file has {len(data):,} bytes (limit {MAX_JSON_BYTES:,}); upload a smaller spec"])
    return _spec_from_bytes(data, "the file")


def _spec_from_bytes(raw: bytes, what: str) -> NetworkSpec:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError([f"{what} is not UTF-8 text; it should be the JSON a download gave you"]) from None
    try:
        return NetworkSpec.from_json(text)
    except SpecError as err:
        raise SpecError([f"{what}: {p}" for p in err.problems]) from None
    except RecursionError:
        raise SpecError([f"{what}: the JSON nests too deeply; it is not a spec"]) from None


def export_json(spec: NetworkSpec) -> str:
    """The spec with every weight, bias, x and y written out, so the file alone reproduces the numbers."""
    m = materialize(spec)
    return with_parameters(spec, m.weights, m.biases, m.x, m.y).to_json(indent=1)


MAX_STEP_CHARS = 4  # a link's step is at most 4 digits long, then checked against the network's frame count


def encode_step(index: int) -> str:
    """The link's step for frame `index` (from 0): counted from 1, as a teacher says "step 7"."""
    return str(index + 1)


def decode_step(text, n_frames: int) -> int:
    """The frame index (from 0) a link's step names; a one-line SpecError unless it is a whole number 1…n_frames.
    A link without a step (every link made before the stepper) starts at the first frame: call this only with one."""
    shown = str(text)[:12] + ("…" if len(str(text)) > 12 else "")
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > MAX_STEP_CHARS:
        raise SpecError([f"the link's step {shown!r} is not a whole number from 1 to {n_frames}"])
    step = int(text)
    if not 1 <= step <= n_frames:
        raise SpecError([f"the link's step {step} is outside this network's steps 1–{n_frames}"])
    return step - 1
