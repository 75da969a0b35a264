"""Slack-compatible incoming webhook: `{"text": …, "blocks": […]}`.

`text` is the one-line summary (what notifications and clients without blocks show);
the blocks add the details as a section and a context line with the link. Mattermost,
Rocket.Chat and others that take Slack's format accept the same body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from app.alerts.http import post_json
from app.alerts.notice import Notice, describe, summary
from app.alerts.rules import SlackChannel

if TYPE_CHECKING:
    from app.alerts.channels import SendContext

__all__ = ["body_of", "send"]

_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:", "test": ":wrench:"}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body_of(notice: Notice) -> dict[str, Any]:
    details = describe(notice).splitlines()[1:-1]
    return {
        "text": summary(notice),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{_EMOJI.get(notice.state, '')} *{_escape(summary(notice))}*\n"
                    + "\n".join(_escape(line) for line in details),
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{notice.url}|open in Beacon>"}],
            },
        ],
    }


async def send(
    context: SendContext, channel: SlackChannel, notice: Notice, delivery_id: str
) -> None:
    await post_json(
        context.client,
        channel.url,
        msgspec.json.encode(body_of(notice)),
        allow_private=context.allow_private,
        seconds=context.timeout,
    )
