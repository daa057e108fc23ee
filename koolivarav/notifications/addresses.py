"""Which e-mail addresses the outbox can send to.

Django's `EmailValidator` accepts some addresses that its own mailer then refuses, or changes
into something else: an encoded word in the local part
(``=?utf-8?q?a=0D=0ABcc=3A_x=40y=2Eexample?=@example.ee``) is decoded by the header parser
into a line break and a Bcc header, which `sanitize_address` refuses with a ValueError; a
zero-width or line-separator character in the domain is silently dropped by IDNA, and ``ß``
becomes ``ss``, so the mail would go to another domain than the one typed. Forms that take an
address the product will send to use `validate_deliverable_email` next to Django's validator.
"""

import email.utils

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

UNDELIVERABLE = "undeliverable"

ERROR_MESSAGES = {
    UNDELIVERABLE: _("E-mail cannot be sent to this address. Please check it and type it again."),
}


def is_deliverable_email(address: str) -> bool:
    """Whether Django's mailer takes `address` as it was typed: it builds a message to it
    without raising, and the envelope and the To header name that very address."""
    local_part, _at, domain = address.rpartition("@")
    if (
        not local_part
        # An encoded word ("=?charset?q?...?="): the header parser decodes it, into anything.
        or "=?" in address
        # Control, format and line-separator characters: line breaks, or silently dropped.
        or not address.isprintable()
        # A quoted local part: the envelope, the header and the receiving end parse it each
        # their own way (quotes dropped, commas and angle brackets inside); nobody needs one.
        or local_part.startswith('"')
    ):
        return False
    try:
        envelope = sanitize_address(address, settings.DEFAULT_CHARSET)
        probe = EmailMultiAlternatives(to=[address], from_email="probe@example.invalid")
        probe.message().as_bytes()
        sent_domain = envelope.rpartition("@")[2]
        if not domain.isascii():
            sent_domain = sent_domain.encode("ascii").decode("idna")
    except Exception:  # whatever the mailer raises on, it would raise on when sending
        return False
    return (
        envelope.isascii()
        and envelope.isprintable()
        and email.utils.parseaddr(envelope) == ("", envelope)
        and envelope.rpartition("@")[0] == local_part
        # IDNA maps some letters to others (ß to ss): the mail would go to another domain.
        and sent_domain.lower() == domain.lower()
    )


def validate_deliverable_email(value: str) -> None:
    """Refuse an address that Django's `EmailValidator` accepts but the mailer cannot send to.

    Use it beside that validator (every `EmailField` has it): an address that validator
    refuses passes here, so that the form shows one message, not two.
    """
    try:
        validate_email(value)
    except ValidationError:
        return
    if not is_deliverable_email(value):
        raise ValidationError(ERROR_MESSAGES[UNDELIVERABLE], code=UNDELIVERABLE)
