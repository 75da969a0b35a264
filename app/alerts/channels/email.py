"""E-mail over SMTP (the standard library's `smtplib`, in a worker thread).

The server is the operator's (`BEACON_SMTP_HOST`, `_PORT`, `_FROM`, `_USER`,
`_PASSWORD`, `_STARTTLS`); port 465 means TLS from the first byte. One message per
notification to the channel's addresses, plain text, with `Message-ID` made from the
delivery id so that a mail system can recognise a repeat.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

import anyio.to_thread

from app.alerts.http import DeliveryError
from app.alerts.notice import Notice, describe, summary
from app.alerts.rules import EmailChannel

if TYPE_CHECKING:
    from app.alerts.channels import SendContext, SmtpSettings

__all__ = ["message_of", "send"]


def message_of(
    smtp: SmtpSettings, channel: EmailChannel, notice: Notice, delivery_id: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = summary(notice)
    message["From"] = smtp.sender or f"beacon@{smtp.host}"
    message["To"] = ", ".join(channel.to)
    message["Date"] = formatdate(usegmt=True)
    domain = (smtp.sender or "beacon@localhost").rsplit("@", 1)[-1]
    message["Message-ID"] = f"<{delivery_id}@{domain}>"
    message["X-Beacon-Alert"] = notice.alert_id
    message.set_content(describe(notice) + "\n")
    return message


def _send(smtp: SmtpSettings, message: EmailMessage, timeout: float) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.port == 465:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with client:
        if smtp.starttls and smtp.port != 465:
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password)
        client.send_message(message)


async def send(
    context: SendContext, channel: EmailChannel, notice: Notice, delivery_id: str
) -> None:
    smtp = context.smtp
    if not smtp.host:
        raise DeliveryError("no SMTP server configured (BEACON_SMTP_HOST)")
    message = message_of(smtp, channel, notice, delivery_id)
    try:
        await anyio.to_thread.run_sync(lambda: _send(smtp, message, context.timeout))
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
