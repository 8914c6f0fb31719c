"""mailframe: a mail server framework for Python on Twisted.

The IMAP protocol core (:mod:`mailframe.imap`) and the message model
(:mod:`mailframe.message`) are sans-IO; :mod:`mailframe.server` adapts them to
Twisted.  Storage and authentication plug in through the zope interfaces in
:mod:`mailframe.interfaces`.
"""

__version__ = "0.1.0"
