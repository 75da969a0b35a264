"""Referrer source classification (DESIGN §4): direct, search, social, campaign,
internal, email or other — with the referring domain and a display name.

Order matters: campaign tags (`utm_*`) win over the referrer (the marketer said where
the visit came from); a referrer on the page's own host is internal (a reload or a
navigation that lost its session); then the known search engines and social networks by
domain; anything else with a host is "other"; no referrer at all is "direct".
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from app.ingest.urls import Utm

__all__ = ["ReferrerInfo", "classify_referrer"]

# Registrable-domain stems (the label before the public suffix) → display name.
SEARCH_ENGINES: dict[str, str] = {
    "google": "Google", "bing": "Bing", "duckduckgo": "DuckDuckGo", "yahoo": "Yahoo",
    "yandex": "Yandex", "baidu": "Baidu", "ecosia": "Ecosia", "qwant": "Qwant",
    "startpage": "Startpage", "brave": "Brave Search", "naver": "Naver", "seznam": "Seznam",
    "sogou": "Sogou", "so": "360 Search", "kagi": "Kagi", "yippy": "Yippy", "ask": "Ask",
    "perplexity": "Perplexity", "chatgpt": "ChatGPT",
}  # fmt: skip
SOCIAL_NETWORKS: dict[str, str] = {
    "facebook": "Facebook", "fb": "Facebook", "instagram": "Instagram", "t": "Twitter",
    "twitter": "Twitter", "x": "X", "linkedin": "LinkedIn", "lnkd": "LinkedIn",
    "reddit": "Reddit", "pinterest": "Pinterest", "youtube": "YouTube", "tiktok": "TikTok",
    "news.ycombinator": "Hacker News", "ycombinator": "Hacker News",
    "mastodon": "Mastodon", "bsky": "Bluesky", "threads": "Threads", "vk": "VK",
    "weibo": "Weibo", "tumblr": "Tumblr", "discord": "Discord", "telegram": "Telegram",
    "whatsapp": "WhatsApp", "quora": "Quora", "medium": "Medium",
}  # fmt: skip
EMAIL_HOSTS: dict[str, str] = {
    "mail.google": "Gmail", "outlook.live": "Outlook", "mail.yahoo": "Yahoo Mail",
}  # fmt: skip
_TWO_PART_SUFFIXES = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"})


class ReferrerInfo(msgspec.Struct, frozen=True, gc=False):
    source: str  # direct | search | social | campaign | internal | email | other
    domain: str
    name: str


DIRECT = ReferrerInfo("direct", "", "Direct")


def _host_of(referrer: str) -> str:
    rest = referrer.partition("://")[2]
    return rest.partition("/")[0].lower()


def _stem(host: str) -> tuple[str, str]:
    """(label before the public suffix, that label with its subdomain) of a host."""
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in _TWO_PART_SUFFIXES and len(labels[-1]) == 2:
        labels = labels[:-2]
    elif len(labels) >= 2:
        labels = labels[:-1]
    stem = labels[-1] if labels else host
    with_sub = ".".join(labels[-2:]) if len(labels) >= 2 else stem
    return stem, with_sub


@lru_cache(maxsize=65_536)
def _classify_host(host: str) -> ReferrerInfo:
    stem, with_sub = _stem(host)
    if with_sub in EMAIL_HOSTS:
        return ReferrerInfo("email", host, EMAIL_HOSTS[with_sub])
    if with_sub in SOCIAL_NETWORKS:
        return ReferrerInfo("social", host, SOCIAL_NETWORKS[with_sub])
    if stem in SEARCH_ENGINES:
        return ReferrerInfo("search", host, SEARCH_ENGINES[stem])
    if stem in SOCIAL_NETWORKS:
        return ReferrerInfo("social", host, SOCIAL_NETWORKS[stem])
    return ReferrerInfo("other", host, host)


def classify_referrer(referrer: str, page_host: str, utm: Utm) -> ReferrerInfo:
    """Classify a normalized referrer URL (see `urls.referrer_url`) for a page on `page_host`."""
    host = _host_of(referrer)
    if utm.source or utm.medium or utm.campaign:
        name = utm.source or utm.campaign or utm.medium
        return ReferrerInfo("campaign", host, name)
    if not host:
        return DIRECT
    if host == page_host or (page_host and host.endswith("." + page_host)):
        return ReferrerInfo("internal", host, host)
    return _classify_host(host)
