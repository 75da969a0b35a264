"""Parse JavaScript stack traces of the three engine families into frames.

Owns: the line parsers for V8 (Chrome, Edge, Node), SpiderMonkey/Gecko (Firefox) and
JavaScriptCore (Safari), the normalization of a script URL into a stable *module*
(no scheme/host, query, fragment, extension, `.min`, content hashes or chunk ids) and of a
function name into the part the engines agree on, and the in-app decision.

Frames are returned top first (the frame that threw is `frames[0]`), as the engines
print them. A stack is read as V8 when any line starts with `at `; otherwise every line
is read in the `function@location` form shared by Gecko and JSC. Lines that are not
frames (the `TypeError: message` header V8 prints, blank lines) are skipped.

Known limits: function names are those in the stack, i.e. minified names for minified
bundles unless a source map is applied later (see `app.triage.sourcemaps`); the old
Opera and IE10- formats are not parsed.
"""

from __future__ import annotations

import re
from functools import lru_cache

import msgspec

__all__ = [
    "Frame",
    "frame_function",
    "is_extension_url",
    "module_of",
    "parse_stack",
    "parse_stack_cached",
]

MAX_STACK_CHARS = 32_768
MAX_FRAMES = 128

EXTENSION_SCHEMES = (
    "chrome-extension://",
    "moz-extension://",
    "safari-extension://",
    "safari-web-extension://",
    "ms-browser-extension://",
    "edge-extension://",
)
# Browser-internal code: never the site's own.
_INTERNAL_SCHEMES = ("chrome://", "resource://", "about:", "webkit-masked-url:", "blob:", "data:")
# Hosts that serve third-party code: public package CDNs and common vendor tags.
THIRD_PARTY_HOSTS = frozenset(
    {
        "cdn.jsdelivr.net",
        "fastly.jsdelivr.net",
        "unpkg.com",
        "cdnjs.cloudflare.com",
        "ajax.googleapis.com",
        "code.jquery.com",
        "cdn.skypack.dev",
        "esm.sh",
        "ga.jspm.io",
        "polyfill.io",
        "cdn.polyfill.io",
        "stackpath.bootstrapcdn.com",
        "maxcdn.bootstrapcdn.com",
        "www.googletagmanager.com",
        "www.google-analytics.com",
        "ssl.google-analytics.com",
        "connect.facebook.net",
        "static.hotjar.com",
        "script.hotjar.com",
        "js.stripe.com",
        "www.gstatic.com",
        "apis.google.com",
        "platform.twitter.com",
        "browser.sentry-cdn.com",
    }
)
_THIRD_PARTY_PATH = re.compile(
    r"/node_modules/|/bower_components/|/~/|^/?webpack/(?:bootstrap|runtime)|"
    r"(?:^|[/.\-_])polyfills?(?:[/.\-_]|$)|/core-js/|/zone\.js|/regenerator-runtime/",
    re.IGNORECASE,
)

# "    at fn (location)" or "    at location"; the location may nest parentheses (eval).
_V8_LINE = re.compile(r"^\s*at\s+(?:(.*?)\s*\((.*)\)|(.*?))\s*$")
# Safari extension frames as some wrappers print them: "fn@safari-extension:(//id/a.js:1:2)"
_WRAPPED_SCHEME = re.compile(r"^(?:(.*)@)?([a-z\-]+:)$")
_WASM_SUFFIX = re.compile(r":wasm-function\[\d+\]:0x[0-9a-f]+$", re.IGNORECASE)
_V8_EVAL_INNER = re.compile(r"\(((?!eval at )[^()\s]+?):(\d+):(\d+)\)")
_GECKO_EVAL = re.compile(r"^(.*?) line (\d+)(?: > \w+(?: line \d+)?)*? > (?:eval|Function)")
_LOCATION = re.compile(r"^(.*?)(?::(\d+))?(?::(\d+))?$")
_IDENTIFIER = re.compile(r"^(?:[\w$.<>\[\]]+|eval code|global code|module code)$")
_NATIVE_LOCATIONS = frozenset(
    {"native", "native code", "[native code]", "<anonymous>", "unknown location", "eval code"}
)
_ANONYMOUS = frozenset(
    {
        "",
        "?",
        "<anonymous>",
        "anonymous",
        "anonymous function",
        "global code",
        "module code",
        "eval code",
        "eval",
    }
)
_CALL_ARGS = re.compile(r"\([^()]*\)$")

_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.\-]*:(?://[^/]*)?", re.IGNORECASE)
_EXTENSIONS = re.compile(r"\.(?:m?jsx?|cjs|tsx?|mts|cts|vue|svelte|coffee|html?)$", re.IGNORECASE)
_BUILD_SUFFIXES = re.compile(r"\.(?:min|prod|production|bundle|chunk|esm|umd|module)$")
_HEX_TOKEN = re.compile(r"^[0-9a-f]{6,}$", re.IGNORECASE)
_HASHY_TOKEN = re.compile(r"^[A-Za-z0-9_]{6,32}$")
_DIGITS = re.compile(r"^[\d.]+$")
_WORDLIKE = re.compile(r"^[A-Z]?[a-z]+(?:[A-Z][a-z]+)*$")
_VITE_HASH = re.compile(r"^(.+?)[-.]([A-Za-z0-9_\-]{8})$")
_TOKEN_SPLIT = re.compile(r"([.\-_~@])")


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One stack frame. `module` is the normalized script path used for grouping."""

    function: str
    module: str
    filename: str
    abs_path: str
    line: int | None = None
    col: int | None = None
    in_app: bool = False
    native: bool = False


def _hash_like(token: str) -> bool:
    """A content hash or chunk id: changes per build, says nothing about the code."""
    if _DIGITS.match(token):
        return True
    if _HEX_TOKEN.match(token) and any(c.isdigit() for c in token):
        return True
    if not _HASHY_TOKEN.match(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    if has_digit:
        return any(c.isalpha() for c in token)
    # Vite/Rollup hashes are 8 base64url chars and a quarter of them have no digit:
    # mixed case that does not read as a camelCase word ("DQjzbAhb", not "HomePage").
    return len(token) == 8 and not _WORDLIKE.match(token) and token.lower() != token


def _strip_vite_hash(name: str) -> str:
    """`app-B_k3-x9a` -> `app`: the 8-char base64url hash may itself hold `-` or `_`."""
    match = _VITE_HASH.match(name)
    if match and _hash_like(match.group(2).replace("-", "").replace("_", "") or "-"):
        return match.group(1)
    if match and ("-" in match.group(2) or "_" in match.group(2)):
        return match.group(1)
    return name


def _clean_basename(name: str) -> str:
    name = _EXTENSIONS.sub("", name)
    while True:
        stripped = _BUILD_SUFFIXES.sub("", name)
        if stripped == name:
            break
        name = stripped
    name = _strip_vite_hash(name)
    parts = _TOKEN_SPLIT.split(name)
    # parts alternates token, separator, token, ...; keep the first token unless it is a
    # pure chunk id, drop later hash-like tokens with the separator before them.
    kept: list[str] = []
    for index in range(0, len(parts), 2):
        token = parts[index]
        if not token or (_hash_like(token) and (index > 0 or _DIGITS.match(token))):
            continue
        if kept:
            kept.append(parts[index - 1])
        kept.append(token)
    cleaned = "".join(kept)
    return _BUILD_SUFFIXES.sub("", cleaned) or "<chunk>"


def _path_of(abs_path: str) -> str:
    """The path of a script URL: no scheme, host, query or fragment."""
    path = abs_path
    for sep in ("#", "?"):
        path = path.split(sep, 1)[0]
    path = _URL_PREFIX.sub("", path)
    return path


@lru_cache(maxsize=16_384)
def module_of(abs_path: str) -> str:
    """Stable module name of a script URL, e.g. `https://x/assets/app-BkF3x9aZ.js` ->
    `assets/app`, `webpack:///./src/cart.js` -> `src/cart`."""
    if not abs_path:
        return ""
    if abs_path.startswith(("blob:", "data:")):
        return "<" + abs_path.split(":", 1)[0] + ">"
    if abs_path.startswith(EXTENSION_SCHEMES):
        scheme, _, rest = abs_path.partition("://")
        ext_id, _, path = rest.partition("/")
        return f"{scheme}://{ext_id}/{_module_path(path)}"
    return _module_path(_path_of(abs_path))


def _module_path(path: str) -> str:
    segments = [s for s in path.split("/") if s and s not in (".", "..")]
    if not segments:
        return "/"
    *dirs, base = segments
    kept = [d for d in dirs if not ((_hash_like(d) and len(d) >= 8) or _DIGITS.match(d))]
    kept.append(_clean_basename(base))
    return "/".join(kept)


@lru_cache(maxsize=16_384)
def _host_of(abs_path: str) -> str:
    match = re.match(r"^[a-z][a-z0-9+.\-]*://([^/?#]*)", abs_path, re.IGNORECASE)
    return match.group(1).lower().rsplit("@", 1)[-1].split(":", 1)[0] if match else ""


def is_extension_url(abs_path: str) -> bool:
    return abs_path.startswith(EXTENSION_SCHEMES)


def _is_in_app(abs_path: str, native: bool) -> bool:
    if native or not abs_path or abs_path in _NATIVE_LOCATIONS:
        return False
    if abs_path.startswith(EXTENSION_SCHEMES) or abs_path.startswith(_INTERNAL_SCHEMES):
        return False
    if _host_of(abs_path) in THIRD_PARTY_HOSTS:
        return False
    return not _THIRD_PARTY_PATH.search(_path_of(abs_path))


@lru_cache(maxsize=16_384)
def frame_function(raw: str) -> str:
    """The part of a function name the engines agree on, `?` when anonymous.

    Chrome prints `Object.render`, `async load`, `new Cart`, `Foo.bar [as baz]`; Firefox
    `render`, `Foo.prototype.bar`, `outer/inner<`, `outer/<` (anonymous inside outer),
    `async*load` (async cause); Safari `render`, `global code`. All become the name
    after the last dot with markers removed.
    """
    name = raw.strip()
    if "*" in name:  # Gecko async cause: "async*fn", "promise callback*fn"
        name = name.rsplit("*", 1)[1]
    if name.endswith("]") and " [as " in name:
        name = name.split(" [as ", 1)[0]
    for prefix in ("async ", "new "):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.endswith("<"):  # Gecko: anonymous function inside a named one
        return "?"
    name = _CALL_ARGS.sub("", name)  # Firefox 3: "bar(1)", "(null)"; V8 "(anonymous function)"
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    name = name.rsplit(".", 1)[-1].strip()
    if name.lower() in _ANONYMOUS:
        return "?"
    return name


def _frame(function: str, location: str) -> Frame:
    location = location.strip()
    if location.startswith("async "):  # Chrome 109+: "fn (async https://x/a.js:1:2)"
        location = location[6:]
    if location in _NATIVE_LOCATIONS or location.startswith("index "):
        return Frame(function=function, module="", filename="", abs_path="", native=True)
    line: int | None = None
    col: int | None = None
    if location.startswith("eval at "):  # V8 eval: use the script that called eval
        inner = _V8_EVAL_INNER.search(location)
        if inner is None:
            return Frame(function=function, module="", filename="", abs_path="", native=True)
        abs_path, line, col = inner.group(1), int(inner.group(2)), int(inner.group(3))
    elif " > " in location and (gecko := _GECKO_EVAL.match(location)):
        abs_path, line = gecko.group(1), int(gecko.group(2))
    else:
        match = _LOCATION.match(location)
        assert match is not None  # the pattern matches any string
        abs_path = _WASM_SUFFIX.sub("", match.group(1))
        if match.group(2):
            line = int(match.group(2))
        if match.group(3):
            col = int(match.group(3))
    if not abs_path or abs_path in _NATIVE_LOCATIONS:
        return Frame(function=function, module="", filename="", abs_path="", native=True)
    return Frame(
        function=function,
        module=module_of(abs_path),
        filename=_path_of(abs_path),
        abs_path=abs_path,
        line=line,
        col=col,
        in_app=_is_in_app(abs_path, False),
    )


def _parse_v8(lines: list[str]) -> list[Frame]:
    frames: list[Frame] = []
    for line in lines:
        match = _V8_LINE.match(line)
        if match is None:
            continue
        function, location, bare = match.groups()
        if function and (": " in function or '"' in function):
            continue  # a message echoed as a frame, not a frame
        if function is not None and "(" in location and not location.startswith("eval at "):
            # "fn (https://x/(group)/a.js:1:2)": the location is after the last " ("
            body = line.strip()[3:].strip()
            head, sep, tail = body.rpartition(" (")
            if sep:
                function, location = head, tail[:-1]
        if function is not None and (wrapped := _WRAPPED_SCHEME.match(function)):
            function, location = wrapped.group(1) or "", wrapped.group(2) + location
        if bare is not None:
            if bare.startswith("async "):
                bare = bare[6:]
            # "at https://x/a.js:1:2" (no name) or "at async fn" / "at fn" without location
            if ":" in bare or bare in _NATIVE_LOCATIONS:
                frames.append(_frame("", bare))
            else:
                frames.append(
                    Frame(function=bare, module="", filename="", abs_path="", native=True)
                )
        else:
            frames.append(_frame(function, location))
    return frames


def _parse_gecko_jsc(lines: list[str]) -> list[Frame]:
    frames: list[Frame] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if "@" in line:
            # Function names have no "@"; URLs may ("/node_modules/@scope/pkg").
            function, _, location = line.partition("@")
            frames.append(_frame(function, location))
        elif line == "[native code]":
            frames.append(Frame(function="", module="", filename="", abs_path="", native=True))
        elif _IDENTIFIER.match(line):
            # Safari prints native frames as a bare name, e.g. "forEach".
            frames.append(Frame(function=line, module="", filename="", abs_path="", native=True))
        elif "://" in line:
            # JSC's nameless form: "https://x/a.js:1:2"
            frames.append(_frame("", line))
    return frames


def parse_stack(stack: str) -> list[Frame]:
    """Frames of a stack string, top first; [] when nothing parses."""
    return list(parse_stack_cached(stack))


@lru_cache(maxsize=8_192)
def parse_stack_cached(stack: str) -> tuple[Frame, ...]:
    """`parse_stack`, cached, as an immutable tuple (the fingerprint hot path)."""
    if not stack:
        return ()
    lines = stack[:MAX_STACK_CHARS].splitlines()
    is_v8 = any(line.lstrip().startswith("at ") for line in lines)
    frames = _parse_v8(lines) if is_v8 else _parse_gecko_jsc(lines)
    return tuple(frames[:MAX_FRAMES])
