"""Notification channels, one module each: webhook, Slack, Alertmanager, e-mail.

Each has `async def send(context, channel, notice, delivery_id)`, which returns when the
target accepted the notification and raises `DeliveryError` otherwise. `deliver` picks
the module by the channel's type.
"""

from __future__ import annotations

import httpx
import msgspec

from app.alerts.channels import alertmanager, email, slack, webhook
from app.alerts.notice import Notice
from app.alerts.rules import (
    AlertmanagerChannel,
    Channel,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
)

__all__ = ["SendContext", "SmtpSettings", "deliver", "target_of"]


class SmtpSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = ""
    port: int = 587
    sender: str = ""
    user: str = ""
    password: str = ""
    starttls: bool = True


class SendContext(msgspec.Struct, frozen=True, kw_only=True):
    client: httpx.AsyncClient
    allow_private: bool
    timeout: float
    smtp: SmtpSettings


def target_of(channel: Channel) -> str:
    """Where a channel sends, for records (never a secret)."""
    match channel:
        case EmailChannel():
            return ", ".join(channel.to)
        case _:
            url = httpx.URL(channel.url)
            return str(url.copy_with(username=None, password=None, query=None))


async def deliver(context: SendContext, channel: Channel, notice: Notice, delivery_id: str) -> None:
    match channel:
        case WebhookChannel():
            await webhook.send(context, channel, notice, delivery_id)
        case SlackChannel():
            await slack.send(context, channel, notice, delivery_id)
        case AlertmanagerChannel():
            await alertmanager.send(context, channel, notice, delivery_id)
        case EmailChannel():
            await email.send(context, channel, notice, delivery_id)
