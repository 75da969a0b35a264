"""The bot filter on real user agents: desktop apps built on Electron are people;
headless and automated browsers are not."""

from __future__ import annotations

import pytest

from app.ingest.bots import bot_reason
from app.ingest.useragent import parse_user_agent

#: Desktop apps that embed web pages: Chromium with the app's and Electron's tokens.
ELECTRON_APPS = [
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Slack/4.41.105 Chrome/128.0.6613.186 Electron/32.2.5 Safari/537.36",
        id="slack-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Code/1.95.3 Chrome/128.0.6613.186 Electron/32.2.1 Safari/537.36",
        id="vscode-macos",
    ),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "discord/0.0.76 Chrome/128.0.6613.186 Electron/32.2.7 Safari/537.36",
        id="discord-linux",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.291 Electron/28.3.3 Safari/537.36",
        id="plain-electron",
    ),
]

#: Real automation: headless Chrome (Puppeteer's and Playwright's default), PhantomJS,
#: Lighthouse / PageSpeed, and browsers that name their driver.
AUTOMATION = [
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/131.0.6778.33 Safari/537.36",
        id="headless-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
        "PhantomJS/2.1.1 Safari/538.1",
        id="phantomjs",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        id="lighthouse",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Puppeteer",
        id="puppeteer-named",
    ),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Playwright/1.49.0",
        id="playwright-named",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Selenium/4.27",
        id="selenium-named",
    ),
]


def _reason(user_agent: str) -> str | None:
    return bot_reason(user_agent, parse_user_agent(user_agent))


@pytest.mark.parametrize("user_agent", ELECTRON_APPS)
def test_electron_desktop_apps_are_people(user_agent: str) -> None:
    assert _reason(user_agent) is None
    assert parse_user_agent(user_agent).device == "desktop"


@pytest.mark.parametrize("user_agent", AUTOMATION)
def test_automation_is_still_dropped(user_agent: str) -> None:
    assert _reason(user_agent) == "headless"
