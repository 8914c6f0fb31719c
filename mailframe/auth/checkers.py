"""Credential checkers over user tables: a Dovecot passwd-file and ``--user``.

Both accept the credentials of every mechanism (LOGIN/PLAIN, CRAM-MD5 when
the password is stored in clear, SCRAM-SHA-256 when the entry is a
``{SCRAM-SHA-256}`` one or in clear), and both are an
:class:`mailframe.interfaces.IUserDirectory` for SMTP/LMTP.  Hash
verification runs in the reactor's thread pool (``deferToThread``), so an
argon2 hash never stalls other connections; at most one hash per CPU runs
at once (:func:`hash_in_thread`), so a burst of logins cannot pile up
argon2's memory (64 MiB each by default) across the whole pool.

:func:`open_checker` resolves a ``--users`` string: ``passwd-file:PATH``,
``http://...`` / ``https://...`` (:mod:`mailframe.auth.http_checker`) or any
name registered in the ``mailframe.checkers`` entry-point group.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, DeferredSemaphore, fail, maybeDeferred, succeed
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from zope.interface import implementer

from mailframe.auth.credentials import (
    IScramCredentials,
    IScramSecretSource,
    normalize_username,
)
from mailframe.auth.schemes import (
    plaintext_of,
    scram_secrets_of,
    split_scheme,
    stored_problem,
    verify_password,
)
from mailframe.auth.scram_math import ScramSecrets
from mailframe.interfaces import IUserDirectory
from mailframe.loading import load_factory, looks_like_factory, module_exists

__all__ = ["hash_in_thread", "UserTableChecker", "InMemoryChecker", "PasswdFileChecker", "CheckerError", "mechanisms_for",
           "passwd_file_from_url", "open_checker", "parse_user_option"]

_log = Logger()
BlockingRunner = Callable[..., "Deferred[Any]"]
_HASH_SLOTS = DeferredSemaphore(max(1, os.cpu_count() or 1))


def hash_in_thread(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """``deferToThread`` with at most one CPU-bound hash per core at a time."""
    return _HASH_SLOTS.run(deferToThread, f, *args)


class CheckerError(ValueError):
    """A ``--users`` string that cannot be opened (a one-line message)."""


@implementer(ICredentialsChecker, IUserDirectory, IScramSecretSource)
class UserTableChecker:
    """Checks credentials against ``{SCHEME}stored`` passwords looked up by name.

    Subclasses provide :meth:`stored_password`.  ``run_blocking`` runs the
    hash verification (:func:`hash_in_thread` by default).
    """

    credentialInterfaces = (IUsernamePassword, IUsernameHashedPassword, IScramCredentials)

    def __init__(self, default_scheme: str = "CRYPT",
                 normalize: Callable[[str], str] = normalize_username,
                 run_blocking: BlockingRunner = hash_in_thread) -> None:
        self.default_scheme = default_scheme
        self.normalize = normalize
        self.run_blocking = run_blocking
        self._salt_key = secrets.token_bytes(32)
        self._scram_cache: dict[tuple[str, str], ScramSecrets] = {}

    def stored_password(self, username: str) -> str | None:
        """The stored ``{SCHEME}...`` string for a normalised name, or None."""
        raise NotImplementedError

    def all_stored(self) -> Iterable[str] | None:
        """Every stored password, or None when the table cannot tell."""
        return None

    def user_names(self) -> Iterable[str] | None:
        """Every user name here (normalised), or None when the table cannot tell."""
        return None

    def sasl_mechanisms(self) -> frozenset[str] | None:
        """The challenge-response mechanisms that work for *every* user here
        (CRAM-MD5 needs clear-text passwords; SCRAM-SHA-256 clear-text or
        ``{SCRAM-SHA-256}`` ones), so a client that picks the strongest
        advertised mechanism is never offered one that must fail.  None:
        unknown (everything is offered)."""
        stored = self.all_stored()
        return None if stored is None else mechanisms_for(stored, self.default_scheme)

    def decoy(self) -> str | None:
        """A stored password to verify against for an unknown user, so the
        answer takes as long as for a known one (no user enumeration by timing)."""
        return _first_hashed(self.all_stored() or (), self.default_scheme)

    def _lookup(self, username: Any) -> tuple[str, str | None]:
        if isinstance(username, bytes):
            username = username.decode("utf-8", "replace")
        try:
            name = self.normalize(username)
        except ValueError:
            return str(username), None
        return name, self.stored_password(name)

    # ICredentialsChecker
    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        name, stored = self._lookup(credentials.username)
        if stored is None:
            decoy = self.decoy()
            if decoy is not None and IUsernamePassword.providedBy(credentials):
                d = self.run_blocking(verify_password, decoy, credentials.password,
                                      self.default_scheme)
                return d.addCallback(lambda _: self._result(name, False))
            return fail(UnauthorizedLogin("unknown user"))
        if IScramCredentials.providedBy(credentials):
            return self.scram_secrets(name).addCallback(
                lambda s: self._result(name, s is not None and credentials.check(s)))
        if IUsernamePassword.providedBy(credentials):
            # A clear-text comparison is cheap: no thread for it.
            run = maybeDeferred if plaintext_of(stored, self.default_scheme) is not None \
                else self.run_blocking
            d = run(verify_password, stored, credentials.password, self.default_scheme)
            return d.addCallback(lambda ok: self._result(name, ok))
        if IUsernameHashedPassword.providedBy(credentials):
            clear = plaintext_of(stored, self.default_scheme)
            return self._result(name, clear is not None and credentials.checkPassword(clear),  # type: ignore[no-any-return]
                                deferred=True)
        return fail(UnauthorizedLogin("unsupported credentials"))

    @staticmethod
    def _result(name: str, ok: bool, deferred: bool = False) -> Any:
        if not ok:
            if deferred:
                return fail(UnauthorizedLogin("bad password"))
            raise UnauthorizedLogin("bad password")
        return succeed(name) if deferred else name

    # IUserDirectory
    def exists(self, username: str) -> Deferred[bool]:
        return succeed(self._lookup(username)[1] is not None)

    # IScramSecretSource
    def scram_secrets(self, username: str) -> Deferred[ScramSecrets | None]:
        name, stored = self._lookup(username)
        if stored is None:
            return succeed(None)
        cached = self._scram_cache.get((name, stored))
        if cached is not None:
            return succeed(cached)
        salt = hmac.new(self._salt_key, name.encode("utf-8"), hashlib.sha256).digest()[:16]

        def remember(result: ScramSecrets | None) -> ScramSecrets | None:
            if result is not None:
                self._scram_cache[(name, stored)] = result
            return result

        d = self.run_blocking(scram_secrets_of, stored, self.default_scheme, salt)
        return d.addCallback(remember)


def _first_hashed(stored: Iterable[str], default_scheme: str) -> str | None:
    return next((v for v in stored if plaintext_of(v, default_scheme) is None), None)


_ALL_CHALLENGE = frozenset({"CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"})
_SCRAM_ONLY = frozenset({"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"})


def mechanisms_for(stored: Iterable[str], default_scheme: str = "CRYPT") -> frozenset[str]:
    """Challenge-response mechanisms every one of ``stored`` can serve."""
    result = _ALL_CHALLENGE
    for value in stored:
        scheme = split_scheme(value, default_scheme)[0]
        if scheme in ("PLAIN", "CLEAR", "CLEARTEXT"):
            continue
        result = result & _SCRAM_ONLY if scheme == "SCRAM-SHA-256" else frozenset()
        if not result:
            break
    return result


class InMemoryChecker(UserTableChecker):
    """Users given on the command line (``--user NAME:PASSWORD``) or in code.

    Passwords without a ``{SCHEME}`` prefix are clear text.
    """

    def __init__(self, users: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                 **kwargs: Any) -> None:
        kwargs.setdefault("default_scheme", "PLAIN")
        super().__init__(**kwargs)
        self.users: dict[str, str] = {}
        for name, password in (users.items() if isinstance(users, Mapping) else users):
            self.add_user(name, password)

    def add_user(self, name: str, password: str) -> None:
        self.users[self.normalize(name)] = password

    def stored_password(self, username: str) -> str | None:
        return self.users.get(username)

    def all_stored(self) -> Iterable[str]:
        return self.users.values()

    def user_names(self) -> Iterable[str]:
        return self.users.keys()


def parse_user_option(spec: str) -> tuple[str, str]:
    """``NAME:PASSWORD`` (the password may contain colons) → (name, password)."""
    name, sep, password = spec.partition(":")
    if not sep or not name or not password:
        raise CheckerError(f"--user wants NAME:PASSWORD, got {spec!r}")
    try:
        normalize_username(name)
    except ValueError:
        raise CheckerError(f"--user: invalid user name {name!r}") from None
    return name, password


class PasswdFileChecker(UserTableChecker):
    """A Dovecot passwd-file: ``user:{SCHEME}hash:uid:gid:gecos:home:shell:extra``.

    Only the first two fields matter here.  Blank lines and ``#`` comments are
    skipped; for a name listed twice the first entry counts.  User names are
    normalised (:func:`mailframe.auth.credentials.normalize_username`:
    lower-cased), so ``Alice`` and ``alice`` are one user.  The file is re-read when its mtime, size or inode changes
    (checked at each lookup; a stat is cheap).  If a re-read fails, the last
    good table stays in use and the failure is logged.
    """

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._table: dict[str, str] = {}
        self._extra: dict[str, list[str]] = {}
        try:
            self._reload(os.stat(path))
        except OSError as e:
            raise CheckerError(f"passwd-file {path}: {e.strerror or e}") from None

    def _reload(self, st: os.stat_result) -> None:
        table: dict[str, str] = {}
        extra: dict[str, list[str]] = {}
        with open(self.path, encoding="utf-8-sig", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                fields = line.split(":")
                try:
                    name = self.normalize(fields[0])
                except ValueError:
                    _log.warn("passwd-file {path}:{lineno}: invalid user name skipped",
                              path=self.path, lineno=lineno)
                    continue
                if len(fields) < 2 or not fields[1]:
                    continue  # no password: cannot log in
                problem = stored_problem(fields[1], self.default_scheme)
                if problem is not None:
                    _log.warn("passwd-file {path}:{lineno}: {problem}; {user} cannot log in",
                              path=self.path, lineno=lineno, problem=problem, user=name)
                if name in table:
                    _log.warn("passwd-file {path}:{lineno}: {user} listed again; the first entry "
                              "counts", path=self.path, lineno=lineno, user=name)
                    continue
                table[name] = fields[1]
                # Dovecot's 8th field: space-separated extra fields
                # (``userdb_quota_rule=*:storage=1G``; values may hold ":").
                rest = line.split(":", 7)
                if len(rest) == 8 and rest[7].strip():
                    extra[name] = rest[7].split()
        self._table = table
        self._extra = extra
        self._mechanisms = mechanisms_for(table.values(), self.default_scheme)
        self._decoy = _first_hashed(table.values(), self.default_scheme)
        first = self._signature is None
        self._signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if not first:  # the first load is counted with every other table at startup
            _log.info("passwd-file {path} re-read: {count} users", path=self.path, count=len(table))

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            if (st.st_mtime_ns, st.st_size, st.st_ino) != self._signature:
                self._reload(st)
        except OSError as e:
            _log.error("passwd-file {path} unreadable, keeping previous users: {err}",
                       path=self.path, err=e)

    def stored_password(self, username: str) -> str | None:
        self._refresh()
        return self._table.get(username)

    def all_stored(self) -> Iterable[str]:
        return self._table.values()

    def user_fields(self, username: str) -> list[str]:
        """The user's extra fields (``key=value`` words of the 8th column),
        e.g. ``userdb_quota_rule=*:storage=1G`` for QUOTA (RFC 9208)."""
        self._refresh()
        return list(self._extra.get(username, ()))

    def user_names(self) -> Iterable[str]:
        return self._table.keys()

    def describe(self) -> str:
        return f"passwd-file {self.path}"

    def sasl_mechanisms(self) -> frozenset[str]:
        self._refresh()
        return self._mechanisms

    def decoy(self) -> str | None:
        return self._decoy


def passwd_file_from_url(url: str) -> PasswdFileChecker:
    """``passwd-file:PATH`` → a :class:`PasswdFileChecker` (entry point target)."""
    scheme, sep, path = url.partition(":")
    if scheme != "passwd-file" or not sep or not path:
        raise CheckerError(f"not a passwd-file URL: {url!r}")
    return PasswdFileChecker(path)


def _http_from_url(url: str) -> ICredentialsChecker:
    from mailframe.auth.http_checker import HTTPChecker
    return HTTPChecker(url)


_BUILTIN: dict[str, Callable[[str], Any]] = {
    "passwd-file": passwd_file_from_url, "http": _http_from_url, "https": _http_from_url,
}


def open_checker(url: str) -> Any:
    """A checker from a ``--users`` string; CheckerError with a one-line reason.

    ``module.path:factory`` (an unpackaged checker of your own) calls
    ``factory()``, which must give an ICredentialsChecker."""
    scheme, sep, _ = url.partition(":")
    if looks_like_factory(url) and module_exists(url) and scheme not in _BUILTIN and not any(
        ep.name == scheme for ep in entry_points(group="mailframe.checkers")
    ):
        try:
            made = load_factory(url)()
        except Exception as e:
            raise CheckerError(f"--users {url!r}: {' '.join(str(e).split()) or type(e).__name__}") from None
        if not ICredentialsChecker.providedBy(made):
            raise CheckerError(f"--users {url!r} did not give a credentials checker")
        return made
    if not sep or not scheme:
        raise CheckerError(f"--users wants SCHEME:ARGS (e.g. passwd-file:/etc/mailframe/users), got {url!r}")
    factory: Callable[[str], Any] | None = None
    if scheme in ("http", "https"):
        factory = _BUILTIN[scheme]
    else:
        for ep in entry_points(group="mailframe.checkers"):
            if ep.name == scheme:
                try:
                    factory = ep.load()
                except Exception as e:  # a broken third-party plugin: report, do not crash
                    raise CheckerError(f"checker plugin {scheme!r} failed to load: {e}") from None
                break
        if factory is None:
            factory = _BUILTIN.get(scheme)
    if factory is None:
        raise CheckerError(f"unknown users scheme {scheme!r}")
    checker = factory(url)
    if not ICredentialsChecker.providedBy(checker):
        raise CheckerError(f"{scheme!r} did not give a credentials checker")
    return checker
