"""The generic webhook: the notice's JSON body (DESIGN §8's fields), signed.

`X-Beacon-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes with the
channel's secret; a receiver recomputes it over the raw body it read and compares in
constant time. `X-Beacon-Delivery` names the delivery (the same on every retry, so a
receiver can drop a repeat) and `X-Beacon-Event` the state.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

import msgspec

from app.alerts.http import post_json
from app.alerts.notice import Notice
from app.alerts.rules import WebhookChannel

if TYPE_CHECKING:
    from app.alerts.channels import SendContext

__all__ = ["send", "signature"]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send(
    context: SendContext, channel: WebhookChannel, notice: Notice, delivery_id: str
) -> None:
    body = msgspec.json.encode(notice.webhook_body())
    await post_json(
        context.client,
        channel.url,
        body,
        allow_private=context.allow_private,
        seconds=context.timeout,
        headers={
            "x-beacon-signature": signature(channel.secret, body),
            "x-beacon-delivery": delivery_id,
            "x-beacon-event": notice.state,
        },
    )
