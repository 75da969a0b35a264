"""The HTML the server renders: the login form, the page shell, and short notices.

Everything else is drawn by the page's script (`app/web/src/`) from the public API. Every
value put into HTML here is escaped (`html.escape`); the shell hands its data to the
script as a JSON data block (`type="application/json"`, never executed) with `<`, `>`
and `&` escaped, so no stored or submitted text can become markup or script.
"""

from __future__ import annotations

import html
from typing import Any

import msgspec

from app.web.assets import Assets

__all__ = ["bounce_page", "login_page", "notice_page", "shell_page"]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _document(assets: Assets, title: str, body: str, *, script: bool = False) -> str:
    head = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{_e(title)}</title>",
        f'<link rel="icon" href="{assets.url("icon.svg")}" type="image/svg+xml">',
        f'<link rel="stylesheet" href="{assets.url("dashboard.css")}">',
    ]
    if script:
        head.append(f'<script defer src="{assets.url("dashboard.js")}"></script>')
    return "".join(head) + f"</head>{body}</html>"


def login_page(
    assets: Assets,
    *,
    nonce: str,
    site: str = "",
    error: str = "",
    open_sites: int = 0,
) -> str:
    alert = f'<p class="form-error" role="alert">{_e(error)}</p>' if error else ""
    adding = (
        f'<p class="muted">You are logged in to {open_sites} site'
        f"{'s' if open_sites != 1 else ''}; this adds another to the same session.</p>"
        if open_sites
        else ""
    )
    body = f"""<body class="login"><main class="login-card">
<h1><span class="logo" aria-hidden="true"></span>Beacon</h1>
<p class="muted">Log in with a site key and that site's API token.</p>{adding}{alert}
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="nonce" value="{_e(nonce)}">
<label for="site">Site key</label>
<input id="site" name="site" required maxlength="64" spellcheck="false" value="{_e(site)}"
 placeholder="s_…" autocapitalize="off">
<label for="token">API token</label>
<input id="token" name="token" type="password" required maxlength="200" placeholder="bt_…">
<button type="submit" class="primary">Log in</button>
</form>
<p class="muted small">Both are printed by <code>beacon site add DOMAIN</code>; another token
of a site by <code>beacon token SITE</code>.</p>
</main></body>"""
    return _document(assets, "Log in · Beacon", body)


def _json_block(data: Any) -> str:
    text = msgspec.json.encode(data).decode()
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def shell_page(assets: Assets, boot: dict[str, Any]) -> str:
    """The page every dashboard view starts from; the script reads `boot` and the URL."""
    body = (
        '<body><a class="skip" href="#main">Skip to content</a>'
        '<header class="top" id="top"></header>'
        '<main id="main" tabindex="-1"><p class="loading" aria-busy="true">Loading…</p></main>'
        f'<script id="boot" type="application/json">{_json_block(boot)}</script>'
        "</body>"
    )
    return _document(assets, "Beacon", body, script=True)


def notice_page(assets: Assets, title: str, message: str, link: tuple[str, str] | None) -> str:
    action = f'<p><a href="{_e(link[0])}">{_e(link[1])}</a></p>' if link else ""
    body = (
        f'<body class="login"><main class="login-card"><h1>{_e(title)}</h1>'
        f"<p>{_e(message)}</p>{action}</main></body>"
    )
    return _document(assets, f"{title} · Beacon", body)


def bounce_page() -> str:
    """Reloads the same URL as a same-site navigation.

    A SameSite=Strict cookie is not sent when a page is opened from another site (a link
    in a chat or an e-mail); the reload this page asks for comes from our own origin, so
    the session cookie goes with it. No script: a meta refresh, allowed by the CSP.
    """
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0"><title>Beacon</title></head>'
        "<body><p>Opening the dashboard…</p></body></html>"
    )
