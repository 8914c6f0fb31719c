"""The ``twistd mailframe`` plugin (no __init__.py in twisted/plugins)."""

from __future__ import annotations

from typing import Any

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IServiceMaker, IPlugin)
class _MailframeServiceMaker:
    tapname = "mailframe"
    description = "mailframe: IMAP server with SMTP/LMTP delivery into the same store"

    @property
    def options(self) -> Any:
        from mailframe.server.twistd import TwistdOptions

        class Options(TwistdOptions):
            def opt_version(self) -> None:
                """Print mailframe's version (and Twisted's) and exit."""
                import twisted
                from mailframe import __version__

                print(f"mailframe {__version__}")
                print(f"Twisted {twisted.__version__}")
                raise SystemExit(0)

        return Options

    def makeService(self, options: Any) -> Any:
        from mailframe.server.service import make_service

        return make_service(options)


serviceMaker = _MailframeServiceMaker()
