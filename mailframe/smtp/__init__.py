"""SMTP and LMTP delivery into any mailframe store.

- :class:`mailframe.smtp.delivery.Delivery` — the one delivery API;
- :func:`mailframe.smtp.esmtp.smtp_factory`,
  :func:`mailframe.smtp.lmtp.lmtp_factory` — Twisted ServerFactories;
- :mod:`mailframe.smtp.hooks` — the hook seam (quotas, filters, notifications);
- :class:`mailframe.smtp.webhooks.WebhookNotifier` — HTTP push notifications;
- :func:`mailframe.smtp.deliver_tool.main` — the ``mailframe deliver`` MDA.
"""

from mailframe.smtp.addressing import Recipient, parse_recipient
from mailframe.smtp.delivery import Delivery
from mailframe.smtp.esmtp import DEFAULT_MAX_SIZE, smtp_factory
from mailframe.smtp.hooks import (
    DeliveredMessage,
    DeliveryHook,
    DeliveryRefused,
    DeliveryRequest,
    IDeliveryHook,
)
from mailframe.smtp.lmtp import lmtp_factory
from mailframe.smtp.webhooks import WebhookNotifier

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DeliveredMessage",
    "Delivery",
    "DeliveryHook",
    "DeliveryRefused",
    "DeliveryRequest",
    "IDeliveryHook",
    "Recipient",
    "WebhookNotifier",
    "lmtp_factory",
    "parse_recipient",
    "smtp_factory",
]
