"""Embedding mailframe's pieces in your own Twisted application.

IMAP, SMTP and LMTP share one store and one user list, so a message that
arrives by SMTP is in the INBOX the IMAP side serves (and wakes IDLE
sessions at once).  A delivery hook of your own — here a tiny filter that
files mail from a mailing list, and a logger — hooks in once for every
delivery path; an optional webhook posts JSON for each new message.

Run it::

    PYTHONPATH=. .venv/bin/python examples/embed_smtp_imap.py   # from a checkout
    swaks --server 127.0.0.1:2525 --to alice@example.org     # deliver
    swaks --server 127.0.0.1:2424 --protocol LMTP --to alice@example.org
    # then read it: IMAP on 127.0.0.1:1143, user alice, password secret
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet import defer
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker
from mailframe.auth.realm import MailRealm
from mailframe.server.protocol import IMAPFactory, ServerContext
from mailframe.smtp import (
    DeliveredMessage,
    Delivery,
    DeliveryHook,
    DeliveryRequest,
    WebhookNotifier,
    lmtp_factory,
    smtp_factory,
)
from mailframe.store.memory import MemoryStore

log = Logger()


class ListFilter(DeliveryHook):
    """Files messages carrying ``List-Id:`` into the ``Lists`` folder
    (the folder must exist; otherwise the INBOX fallback applies)."""

    def before_delivery(self, request: DeliveryRequest) -> DeliveryRequest:
        head = request.content.split(b"\r\n\r\n", 1)[0].lower()
        if request.mailbox == "INBOX" and b"\r\nlist-id:" in b"\r\n" + head:
            return replace(request, mailbox="Lists")
        return request


class LogDeliveries(DeliveryHook):
    def delivered(self, message: DeliveredMessage) -> None:
        log.info(
            "stored {user}/{box} uid {uid}: {subject!r}",
            user=message.username,
            box=message.mailbox,
            uid=message.uid,
            subject=message.subject,
        )


def build(
    store: Any,
    users: dict[str, str],
    domains: list[str],
    webhook_urls: list[str] | None = None,
) -> dict[str, Any]:
    """The factories for one application; listen on them however you like."""
    checker = InMemoryChecker(users)  # also an IUserDirectory for SMTP/LMTP
    portal = Portal(MailRealm(store), [checker])
    imap = IMAPFactory(ServerContext(Authenticator(portal)))  # plaintext login on loopback only
    hooks: list[Any] = [ListFilter(), LogDeliveries()]
    if webhook_urls:
        hooks.append(WebhookNotifier(webhook_urls))
    delivery = Delivery(store, checker, hooks)
    return {
        "imap": imap,
        "smtp": smtp_factory(delivery, domains, max_size=25 * 1024 * 1024),
        "lmtp": lmtp_factory(delivery, domains),
        "delivery": delivery,
    }


async def _main(reactor: Any) -> None:
    store = MemoryStore()
    account = await store.account("alice")
    await account.create_mailbox("Lists")
    parts = build(store, {"alice": "secret"}, ["example.org", "localhost"])
    reactor.listenTCP(1143, parts["imap"], interface="127.0.0.1")
    reactor.listenTCP(2525, parts["smtp"], interface="127.0.0.1")
    reactor.listenTCP(2424, parts["lmtp"], interface="127.0.0.1")
    # user code can deliver directly too, through the same hooks:
    uid = await parts["delivery"].deliver("alice", b"Subject: welcome\r\n\r\nHello from code.\r\n")
    log.info("IMAP 1143, SMTP 2525, LMTP 2424 on 127.0.0.1; welcome message is uid {uid}", uid=uid)
    await defer.Deferred()  # run until interrupted


if __name__ == "__main__":
    from twisted.internet.task import react

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(lambda reactor: defer.ensureDeferred(_main(reactor)))
