"""Inbound SMTP into the store (RFC 5321, with SIZE, PIPELINING,
8BITMIME, ENHANCEDSTATUSCODES and, given certificates, STARTTLS RFC 3207).

Only local delivery: recipients must be in one of ``domains`` (else 550
5.7.1, no relaying) and known to the user directory (else 550 5.1.1), both
checked at RCPT time.  The 250 after DATA is sent once every copy is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.protocol import ServerFactory

from mailframe.smtp._session import DEFAULT_MAX_SIZE, DeliverySession
from mailframe.smtp.delivery import Delivery

__all__ = ["ESMTPDelivery", "DeliveryFactory", "smtp_factory", "DEFAULT_MAX_SIZE"]


class ESMTPDelivery(DeliverySession):
    """An ESMTP server session delivering into a :class:`Delivery`."""

    protocol_name = "ESMTP"


class DeliveryFactory(ServerFactory):
    """Builds one :class:`DeliverySession` subclass per connection."""

    protocol: type[DeliverySession]

    def __init__(
        self,
        protocol: type[DeliverySession],
        delivery: Delivery,
        domains: Sequence[str],
        max_size: int = DEFAULT_MAX_SIZE,
        tls: Any = None,
        hostname: str | None = None,
        delimiter: str = "+",
        timeout: int = 300,
    ) -> None:
        self.protocol = protocol
        self.delivery = delivery
        self.domains = list(domains)
        self.max_size = max_size
        self.tls = tls
        self.hostname = hostname
        self.delimiter = delimiter
        self.timeout = timeout

    def buildProtocol(self, addr: Any) -> DeliverySession:
        p = self.protocol(
            self.delivery,
            self.domains,
            max_size=self.max_size,
            tls=self.tls,
            hostname=self.hostname,
            delimiter=self.delimiter,
        )
        p.timeout = self.timeout  # RFC 5321 §4.5.3.2.7: at least 5 minutes
        p.factory = self
        return p


def smtp_factory(
    delivery: Delivery,
    domains: Sequence[str] = ("localhost",),
    max_size: int = DEFAULT_MAX_SIZE,
    tls: Any = None,
    hostname: str | None = None,
) -> DeliveryFactory:
    """A ServerFactory for inbound SMTP.

    ``tls`` is a server context factory (e.g. ``ssl.CertificateOptions`` or
    an ``IOpenSSLServerConnectionCreator``) enabling STARTTLS, or None.
    ``hostname`` is the name used in the greeting and Received headers
    (default: this host's FQDN).
    """
    return DeliveryFactory(ESMTPDelivery, delivery, domains, max_size, tls, hostname)
