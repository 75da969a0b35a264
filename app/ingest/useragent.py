"""User-agent parsing: browser, OS and device class, behind an LRU cache.

Two libraries, each for what it does best. `ua_parser.parse` (with `ua-parser[regex]`,
the Rust matcher) does the regex work in ~20 µs; `user_agents.parse` would cost ~0.7 ms
because it goes through ua-parser's old pure-Python API. The device and bot
*classification* of `user-agents` (its mobile/tablet/PC/bot rules) is still the one we
want, so its `UserAgent` is built from the fast parse result instead of re-parsing.
Real traffic repeats a small set of user agents, so the cache answers almost every call.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import msgspec
import ua_parser
from user_agents.parsers import Browser, Device, OperatingSystem, UserAgent, parse_version

__all__ = ["DeviceClass", "UserAgentInfo", "parse_user_agent"]

DeviceClass = Literal["desktop", "mobile", "tablet", "bot", "other"]


class UserAgentInfo(msgspec.Struct, frozen=True, gc=False):
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: DeviceClass
    is_bot: bool


def _version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def _classified(ua: str, result: ua_parser.Result) -> UserAgent:
    """A `user_agents.UserAgent` filled from the fast parse, for its classification rules."""
    agent = UserAgent.__new__(UserAgent)
    agent.ua_string = ua
    browser, os, device = result.user_agent, result.os, result.device
    agent.browser = Browser(
        browser.family if browser else "Other",
        parse_version(*(browser.major, browser.minor, browser.patch) if browser else ()),
        _version(browser.major, browser.minor, browser.patch) if browser else "",
    )
    agent.os = OperatingSystem(
        os.family if os else "Other",
        parse_version(*(os.major, os.minor, os.patch) if os else ()),
        _version(os.major, os.minor, os.patch) if os else "",
    )
    agent.device = Device(
        device.family if device else "Other",
        device.brand if device else None,
        device.model if device else None,
    )
    return agent


def _device_class(agent: UserAgent) -> DeviceClass:
    if agent.is_bot:
        return "bot"
    if agent.is_tablet:
        return "tablet"
    if agent.is_mobile:
        return "mobile"
    if agent.is_pc:
        return "desktop"
    return "other"


@lru_cache(maxsize=8192)
def parse_user_agent(user_agent: str) -> UserAgentInfo:
    result = ua_parser.parse(user_agent[:1024])
    agent = _classified(user_agent, result)
    browser, os = result.user_agent, result.os
    device = _device_class(agent)
    return UserAgentInfo(
        browser=browser.family if browser else "Other",
        browser_version=browser.major if browser and browser.major else "",
        os=os.family if os else "Other",
        os_version=_version(os.major, os.minor) if os else "",
        device=device,
        is_bot=device == "bot",
    )
