"""Sending one duty alert: an e-mail over SMTP, or a signed webhook over HTTPS.

Only the alert sender (alerts.py) calls this, never a web worker: a slow or
dead mail server costs a submission nothing. What leaves is "unit X: N new,
M urgent" and nothing else (docs/operations.md, "Duty alerts"), at a fixed
size, so neither the mail provider's logs nor a network observer learn the
counts from a length (docs/threat-model.md, "Duty alerts"). A failure
raises :class:`DeliveryError` with a short reason fit for the log: never a
server's own answer (it can quote addresses), a URL (it can hold a token)
or a credential.
"""

import email.utils
import http.client
import secrets
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from urllib.parse import urlsplit

from tipdrop.errors import TipdropError
from tipdrop.protocol import alerts as alert_format

TIMEOUT = 30
#: The plain text of an e-mail alert is padded with spaces to this many bytes.
EMAIL_TEXT_SIZE = 768
_LINES = (
    "unit {unit}: {new} new, {urgent} urgent",
    "подразделение {unit}: новых сообщений: {new}, из них срочных: {urgent}",
    "{unit} бөлімшесі: жаңа хабарламалар: {new}, оның ішінде шұғыл: {urgent}",
    "",
    "Open them on the unit's workstation. This message says nothing else about them.",
    "Откройте их на рабочей станции подразделения. Больше это письмо о них ничего не сообщает.",
    "Оларды бөлімшенің жұмыс станциясында ашыңыз. Бұл хат олар туралы басқа ештеңе айтпайды.",
)


class DeliveryError(TipdropError):
    """The alert was not delivered."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


def email_message(sender, recipients, alert, now=None, token=None):
    """The alert as an e-mail: a fixed subject, the counts in the body, nothing else.

    The Date is when the alert is sent (never when a report arrived), in a
    fixed-width form; the Message-ID is random and names no host; the body
    is padded to :data:`EMAIL_TEXT_SIZE` bytes before base64, so every alert
    of a unit has the same size whatever its counts.
    """
    text = "\n".join(_LINES).format(unit=alert.unit, new=alert.new, urgent=alert.urgent) + "\n"
    data = text.encode("utf-8")
    if len(data) > EMAIL_TEXT_SIZE:
        raise ValueError("the alert text does not fit")  # cannot happen: names are short
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"tipdrop: new reports for unit {alert.unit}"
    message["Date"] = email.utils.formatdate(now, usegmt=True)
    domain = sender.rsplit("@", 1)[1]
    message["Message-ID"] = f"<{token or secrets.token_hex(16)}@{domain}>"
    message.set_content(data + b" " * (EMAIL_TEXT_SIZE - len(data)), maintype="text",
                        subtype="plain", cte="base64", params={"charset": "utf-8"})
    return message


def send_email(smtp, password, recipients, alert, timeout=TIMEOUT):
    """Deliver the alert to ``recipients`` through the configured SMTP server.

    STARTTLS or TLS from the first byte, with the system's trusted
    certificates (or ``ca_file``); a server that does not offer STARTTLS is
    refused, never written to in the clear. The EHLO name is the sender's
    domain, not this server's host name. Returns how many recipients the
    server refused while taking the message for the others.
    """
    message = email_message(smtp.sender, recipients, alert)
    helo = smtp.sender.rsplit("@", 1)[1]
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    try:
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, local_hostname=helo, timeout=timeout,
                                      context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, local_hostname=helo, timeout=timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.username is not None:
                client.login(smtp.username, password.decode("ascii"))
            refused = client.send_message(message, from_addr=smtp.sender,
                                          to_addrs=list(recipients))
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError("the mail server does not offer STARTTLS") from None
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"the mail server refused the login (SMTP {e.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError("the mail server refused every recipient") from None
    except smtplib.SMTPResponseException as e:
        raise DeliveryError(f"the mail server answered SMTP {e.smtp_code}") from None
    except smtplib.SMTPException as e:
        raise DeliveryError(f"SMTP failed ({type(e).__name__})") from None
    except OSError as e:
        raise DeliveryError(_network_reason(e)) from None
    # Some refused, the others got it: a delivery (sent again, they would get
    # it twice); the caller says in the log how many were refused.
    return len(refused)


def post_webhook(webhook, secret, alert, timeout=TIMEOUT, now=time.time,
                 nonce=lambda: secrets.token_bytes(alert_format.NONCE_LEN)):
    """POST the alert, signed, to the unit's webhook; any 2xx answer is a delivery.

    No redirect is followed and no proxy from the environment is used: the
    alert goes to the configured address or nowhere.
    """
    body = alert_format.webhook_body(alert, nonce())
    stamp = int(now())
    parts = urlsplit(webhook.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        context = ssl.create_default_context(
            cafile=str(webhook.ca_file) if webhook.ca_file else None)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                           context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json",
            "User-Agent": "tipdrop",
            alert_format.TIMESTAMP_HEADER: str(stamp),
            alert_format.SIGNATURE_HEADER: alert_format.signature(secret, stamp, body),
        })
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        raise DeliveryError(_network_reason(e)) from None
    finally:
        conn.close()
    if not 200 <= status < 300:
        raise DeliveryError(f"the webhook answered HTTP {status}")


def _network_reason(error):
    if isinstance(error, ssl.SSLCertVerificationError):
        return "its TLS certificate is not trusted (set ca_file for a private CA)"
    if isinstance(error, ssl.SSLError):
        return "TLS failed"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "its host name does not resolve"
    if isinstance(error, http.client.HTTPException):
        return "the answer was not HTTP"
    return (error.strerror or type(error).__name__) if isinstance(error, OSError) \
        else type(error).__name__
