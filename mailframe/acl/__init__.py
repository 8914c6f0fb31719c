"""Shared mailboxes under access control (RFC 4314 ACL, RFC 2342
namespaces, RFC 8440 LIST-MYRIGHTS).

- :mod:`mailframe.acl.rights`: the rights model (sans-IO);
- :mod:`mailframe.acl.namespaces`: personal, other users', public names;
- :mod:`mailframe.acl.dovecot_acl`: Dovecot's ``dovecot-acl`` files and
  shared-mailbox dictionary;
- :mod:`mailframe.acl.storage`: where each store keeps its ACLs
  (:class:`mailframe.interfaces.IACLStore`);
- :mod:`mailframe.acl.account`, :mod:`mailframe.acl.mailbox`: the account
  and mailbox wrappers that enforce the rights for every command;
  :func:`mailframe.acl.account.share` wraps a logged-in user's account
  (what the realm does).
"""

from __future__ import annotations
