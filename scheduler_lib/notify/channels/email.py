"""E-mail channels: a plain-text mail through the operator's SMTP server (``[smtp]``).

``smtp.security`` is ``starttls`` (upgrade a plain connection), ``ssl`` (implicit
TLS) or ``none``; the login is used when ``smtp.username`` is set.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ...config import Settings
from ...errors import BadRequest
from ..events import Message
from . import ChannelInfo, TransportError

__all__ = ["EmailTransport", "NOT_CONFIGURED"]

NOT_CONFIGURED = "E-mail is not configured on this server"
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+")


class EmailTransport:
    has_secret = False

    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.smtp

    def check_target(self, target: str) -> str:
        if not self.smtp.host:
            raise BadRequest(NOT_CONFIGURED)
        if not _ADDRESS.fullmatch(target) or len(target) > 254:
            raise BadRequest("Field 'target' must be an e-mail address for an email channel")
        return target

    def display_target(self, target: str) -> str:
        return target

    def notify(self, channel: ChannelInfo, message: Message) -> None:
        smtp = self.smtp
        if not smtp.host:
            raise TransportError(NOT_CONFIGURED)
        mail = EmailMessage()
        # "from" is a Python keyword: the only key read with getattr.
        mail["From"] = getattr(smtp, "from") or smtp.username or f"scheduler@{socket.getfqdn()}"
        mail["To"] = channel.target
        mail["Subject"] = message.subject()
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(idstring=message.delivery_id)
        mail["X-Scheduler-Event"] = message.event
        mail["X-Scheduler-Delivery"] = message.delivery_id
        mail.set_content(message.text())
        try:
            self._send(mail)
        except smtplib.SMTPRecipientsRefused:
            raise TransportError(f"the SMTP server refused the recipient {channel.target}") \
                from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportError(f"SMTP login failed ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
            raise TransportError(f"SMTP error {exc.smtp_code}: {text[:200]}") from None
        except (smtplib.SMTPException, ssl.SSLError) as exc:
            raise TransportError(f"SMTP error: {exc}"[:300]) from None
        except TimeoutError:
            raise TransportError(f"SMTP timeout after {smtp.timeout_seconds} s") from None
        except OSError as exc:
            raise TransportError(f"cannot reach the SMTP server {smtp.host}:{smtp.port}: "
                                 f"{exc.strerror or exc}") from None

    def _send(self, mail: EmailMessage) -> None:
        smtp = self.smtp
        timeout = smtp.timeout_seconds
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(mail)
