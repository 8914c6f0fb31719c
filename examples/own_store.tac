"""IMAP and SMTP over a store object of your own, with STARTTLS and limits.

Run it from the top of a checkout::

    twistd -ny examples/own_store.tac

``OWN_STORE_DATA`` (default ``./own-store-data``) holds the certificate (a
self-signed one is made on first run; put yours there as ``tls/cert.pem``
and ``tls/key.pem``) and ``OWN_STORE_IMAP`` / ``OWN_STORE_SMTP`` name the
listeners (defaults ``tcp:1143:interface=127.0.0.1`` and
``tcp:2525:interface=127.0.0.1``).  Plaintext LOGIN is refused until
STARTTLS (RFC 3501 §6.2.3: LOGINDISABLED), every limit is set here, and
mail that arrives by SMTP is in the INBOX the IMAP side serves.
"""

import os

from twisted.application import service, strports
from twisted.cred.portal import Portal

from examples.file_store import FileStore
from mailframe.auth.authenticator import Authenticator
from mailframe.auth.checkers import InMemoryChecker
from mailframe.auth.realm import MailRealm
from mailframe.auth.throttle import ConnectionLimiter
from mailframe.imap.session import ServerConfig, server_limits
from mailframe.server.protocol import IMAPFactory, ServerContext
from mailframe.server.tls import ReloadableContextFactory, ensure_certificate
from mailframe.smtp.delivery import Delivery
from mailframe.smtp.esmtp import smtp_factory

data = os.environ.get("OWN_STORE_DATA", "own-store-data")
os.makedirs(data, exist_ok=True)

# Your store object: anything that provides IMailStore.
store = FileStore(os.path.join(data, "mail"))
users = InMemoryChecker({"alice": "secret"})  # also the SMTP recipient directory

tls = ReloadableContextFactory(*ensure_certificate(data, "localhost"))
portal = Portal(MailRealm(store), [users])
authenticator = Authenticator(
    portal, allow_insecure_plaintext=False, allow_local_plaintext=False, hostname="localhost"
)
config = ServerConfig(
    limits=server_limits(max_line=16 * 1024, max_literal=20 * 1024 * 1024, max_depth=32),
    timeout_preauth=30.0,
    timeout_auth=15 * 60.0,
    max_auth_attempts=3,
)
limiter = ConnectionLimiter(per_ip=20, per_user=10)
imap = IMAPFactory(ServerContext(authenticator, config, tls, limiter))
smtp = smtp_factory(Delivery(store, users, []), ["localhost"], 20 * 1024 * 1024, tls, "localhost")

application = service.Application("mailframe over my store")
strports.service(os.environ.get("OWN_STORE_IMAP", "tcp:1143:interface=127.0.0.1"), imap).setServiceParent(
    application
)
strports.service(os.environ.get("OWN_STORE_SMTP", "tcp:2525:interface=127.0.0.1"), smtp).setServiceParent(
    application
)
