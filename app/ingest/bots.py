"""Bot filter: user agents that are not people browsing, with the reason they are dropped.

Four reasons, counted separately in `/metrics` (`beacon_dropped_events_total{reason}` is
"bot"; the log line carries the detail):

- `empty_ua`: no user agent at all (browsers always send one);
- `crawler`: the UA parser classifies the device as a spider, or the UA names itself a
  bot/crawler/spider/preview fetcher (the common tokens of the crawler lists);
- `headless`: headless and automated browsers (`HeadlessChrome`, which Puppeteer and
  Playwright send by default, PhantomJS, Lighthouse, and browsers that name their
  driver) — `user-agents` does not flag HeadlessChrome on its own. Electron apps
  (`… Chrome/… Electron/… Safari/…`) are not among them: they are desktop apps (Slack,
  VS Code, Discord …) whose users view real pages; an Electron scraper that keeps
  that user agent looks like them and is not told apart;
- `tool`: HTTP libraries and command-line clients (curl, python-requests, Go, Java …).
"""

from __future__ import annotations

import re
from functools import lru_cache

from app.ingest.useragent import UserAgentInfo

__all__ = ["bot_reason"]

_CRAWLER = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|archiver|facebookexternalhit|embedly|quora link|"
    r"bingpreview|mediapartners|adsbot|feedfetcher|\bfeed|rss|preview|"
    r"validator|monitor|uptime|pingdom|statuscake|check_http|datadog|newrelic|"
    r"scanner|scrap|fetcher|yandex|baidu|sogou|exabot|semrush|ahrefs|mj12|dotbot|"
    r"petalbot|bytespider|gptbot|claudebot|ccbot|perplexity|amazonbot|applebot",
    re.IGNORECASE,
)
_HEADLESS = re.compile(
    r"headless|phantomjs|slimerjs|lighthouse|chrome-lighthouse|puppeteer|"
    r"playwright|selenium|webdriver|cypress|pagespeed|gtmetrix",
    re.IGNORECASE,
)
_TOOL = re.compile(
    r"^(curl|wget|httpie|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|"
    r"java/|okhttp|apache-httpclient|libwww-perl|node-fetch|axios|undici|ruby|php|"
    r"postmanruntime|insomnia|wrk|ab/|k6/|locust|guzzle)",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def _reason_of(user_agent: str, is_bot: bool) -> str | None:
    ua = user_agent.strip()
    if not ua:
        return "empty_ua"
    if _HEADLESS.search(ua):
        return "headless"
    if is_bot or _CRAWLER.search(ua):
        return "crawler"
    if _TOOL.match(ua):
        return "tool"
    return None


def bot_reason(user_agent: str, agent: UserAgentInfo) -> str | None:
    """Why this request is from a bot, or None for a browser."""
    return _reason_of(user_agent, agent.is_bot)
