"""The per-request enrichment steps, each on its own: UA, bots, country, URLs, referrer, clock."""

from __future__ import annotations

import pytest

from app.ingest.bots import bot_reason
from app.ingest.clock import clock_skew_ms, corrected_ts, is_stale
from app.ingest.geo import IpCountry, country_from_header
from app.ingest.referrer import classify_referrer
from app.ingest.urls import Utm, normalize_url, referrer_url, scrub_text
from app.ingest.useragent import parse_user_agent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("ua", "browser", "os", "device"),
    [
        (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
        (IPHONE, "Mobile Safari", "iOS", "mobile"),
        (IPAD, "Mobile Safari", "iOS", "tablet"),
        (GOOGLEBOT, "Googlebot", "Other", "bot"),
    ],
)
def test_user_agent_is_parsed_into_browser_os_and_device_class(
    ua: str, browser: str, os: str, device: str
) -> None:
    info = parse_user_agent(ua)
    assert (info.browser, info.os, info.device) == (browser, os, device)
    assert info.is_bot is (device == "bot")


@pytest.mark.parametrize(
    ("ua", "reason"),
    [
        (CHROME_WINDOWS, None),
        (CHROME_WINDOWS + " BeaconDemo/3f2a9c", None),
        (IPHONE, None),
        (HEADLESS, "headless"),
        (GOOGLEBOT, "crawler"),
        ("Mozilla/5.0 AppleWebKit/537.36 (compatible; GPTBot/1.2)", "crawler"),
        ("curl/8.4.0", "tool"),
        ("python-requests/2.32", "tool"),
        ("", "empty_ua"),
    ],
)
def test_bot_filter_names_its_reason(ua: str, reason: str | None) -> None:
    assert bot_reason(ua, parse_user_agent(ua)) == reason


def test_country_from_a_trusted_header_accepts_only_iso_codes() -> None:
    assert country_from_header(" gb ") == "GB"
    assert country_from_header("XX") == ""
    assert country_from_header("T1") == ""
    assert country_from_header("GBR") == ""


def test_country_from_the_offline_ip_database() -> None:
    countries = IpCountry()
    assert countries.lookup("81.2.69.160") == "GB"
    assert countries.lookup("8.8.8.8") == "US"
    assert countries.lookup("2001:4860:4860::8888") == "US"
    assert countries.lookup("10.0.0.1") == ""
    assert countries.lookup("127.0.0.1") == ""
    assert countries.lookup("not an ip") == ""


def test_page_url_is_normalized_with_utm_apart_and_secrets_removed() -> None:
    page = normalize_url(
        "https://WWW.Example.test/Pricing/?utm_source=newsletter&utm_campaign=fall"
        "&email=a@b.test&token=s3cr3t&b=2&a=1#top"
    )
    assert page.host == "example.test"
    assert page.path == "/Pricing"
    assert page.query == "a=1&b=2"
    assert page.url == "https://example.test/Pricing?a=1&b=2"
    assert page.utm == Utm(source="newsletter", campaign="fall")


def test_route_fragments_are_kept_and_other_fragments_dropped() -> None:
    assert normalize_url("https://app.test/#/users/12").path == "/#/users/12"
    assert normalize_url("https://app.test/docs#install").path == "/docs"


def test_pii_in_paths_and_text_is_scrubbed() -> None:
    page = normalize_url("https://x.test/u/jane@doe.com/card/4111111111111111")
    assert page.path == "/u/<email>/card/<number>"
    text = scrub_text("user jane.doe@x.com token=abc123 Bearer abcdefghijklmnop on line 12345")
    assert "jane.doe" not in text and "abc123" not in text and "abcdefghijklmnop" not in text
    assert "line 12345" in text  # short numbers (lines, ids) stay


def test_referrer_keeps_host_and_path_only() -> None:
    assert referrer_url("https://www.google.com/search?q=private") == "https://google.com/search"
    assert referrer_url("") == ""


@pytest.mark.parametrize(
    ("referrer", "source", "name"),
    [
        ("https://www.google.co.uk/", "search", "Google"),
        ("https://duckduckgo.com/", "search", "DuckDuckGo"),
        ("https://t.co/x", "social", "Twitter"),
        ("https://news.ycombinator.com/item", "social", "Hacker News"),
        ("https://mail.google.com/mail/u/0", "email", "Gmail"),
        ("https://example.test/other", "internal", "example.test"),
        ("https://blog.elsewhere.org/post", "other", "blog.elsewhere.org"),
        ("", "direct", "Direct"),
    ],
)
def test_referrer_source(referrer: str, source: str, name: str) -> None:
    info = classify_referrer(referrer_url(referrer), "example.test", Utm())
    assert (info.source, info.name) == (source, name)


def test_campaign_tags_win_over_the_referrer() -> None:
    info = classify_referrer("https://google.com", "example.test", Utm(source="newsletter"))
    assert (info.source, info.name) == ("campaign", "newsletter")


def test_clock_skew_is_ignored_below_a_minute_and_corrected_above() -> None:
    received = 1_700_000_000_000
    assert clock_skew_ms(received + 400, received) == 0
    assert clock_skew_ms(received - 5_000, received) == 0  # a request delayed in a queue
    skew = clock_skew_ms(received + 3_600_000, received)  # client an hour ahead
    assert skew == 3_600_000
    assert corrected_ts(received + 3_599_000, skew, received) == received - 1000
    assert corrected_ts(received + 5000, 0, received) == received  # never in the future
    assert is_stale(received - 73 * 3_600_000, received, 72 * 3_600_000)
    assert not is_stale(received - 1000, received, 72 * 3_600_000)
