"""Password schemes against hashes made by independent tools.

Fixed strings below were produced by ``doveadm pw`` (Dovecot 2.3) and
``mkpasswd`` (whois), so every scheme is always tested; the live tests run
those tools again when they are installed.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mailframe.auth.schemes import (
    HASH_SCHEMES,
    hash_password,
    plaintext_of,
    scram_secrets_of,
    split_scheme,
    verify_password,
)
from mailframe.auth.shacrypt import sha_crypt

KNOWN_GOOD = [  # (stored, password)
    ("{SHA512-CRYPT}$6$TNZ2.aDjW9fRmZkq$sqJBrftvj/AorLqLb5k.5sA/5I06r5TBjr4Oe4n4AOnugqP/1gy."
     "qsj.XMij64pYV85tnUZb1x7HWTZXYMDDt0", "secret"),
    ("{SHA256-CRYPT}$5$n4gWjVe6TSpI.PKT$bFhnU4zAjytITLGCMIEH5abVksGYM6MoW7mTkpXvolC", "secret"),
    ("{SHA256-CRYPT}$5$zA6ArEWNm4Mnzcis$NJ/uwRf/4r0sGtDpN2oizPjRDAY8cvNc.r/rUsoVOx.", "pässwörd"),
    ("{CRYPT}$5$rounds=7000$brnHQuZ.5lqPSK2b$xwlAizSDiHptuwTnresVXEKuxHqrMbeFK/g9hHNz6xB", "secret"),
    ("$6$hYRRdSY9rk1V8E9c$tVNBXHPu3xRh5XjONejLRCD6VjkdSxJ82nTnfTW6joQXdiCORjJWYMQl09aQnZhLJmncHtUF"
     "N58RuDoqDLXhX1", "secret"),
    ("{PBKDF2}$1$Jv7RA0/jtHsn1/PD$5000$c51ad72d18d07d4c283ebdf1cc9d6733ba95a869", "secret"),
    ("{BLF-CRYPT}$2y$05$Gx3ycAhDUGhlgdl.cZ078eJ6bVWap9snHQ0T.EpNGjGiPhNvYR5Mq", "secret"),
    ("{CRYPT}$2b$05$Kwwvo4ibeNNfQpNEEDs3JujiQJOHEMGH9L3vbWyBoMhi5/1Zsb9Cm", "secret"),
    ("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$5IwOLfvtudCVCCpEBZ0zOg$fmI8cg6vMCMDknEG5z3a2GMmNyi"
     "Fd8iTmvnR8T//0DQ", "secret"),
    ("{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$jJGiVU7q9HdTODMuKDRsTQ$Db/VL08CrXRjGMNGlz2q/vEpqOFcs"
     "mikksPaXWe/ngU", "secret"),
    ("{SSHA512}oyfRAUwpixktrTgq3eN1fuPZb1NkAcyFdoU7bU+D1QmTy7LtC845PnEaXjWYvhqhs+DIB7wkmn7LKntuR4V"
     "tfw2DxIE=", "secret"),
    ("{SSHA}/8n0DGa/6Hf43id2gvRXG5MEJqbvMyXj", "secret"),
    ("{SMD5}ZrQnQ31L2YjIFG1OxZNtS3vAQwE=", "secret"),
    ("{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret"),
    ("{SHA512.HEX}bd2b1aaf7ef4f09be9f52ce2d8d599674d81aa9d6a4421696dc4d93dd0619d682ce56b4d64a9ef0977"
     "61ced99e0f67265b5f76085e5b0ee7ca4696b2ad6fe2b2", "secret"),
    ("{SCRAM-SHA-256}4096,nNoqcFS4Vg4vwKXudM0MAw==,ChB0oAnA5w9+wZwxefriMbfks+xtghK9043qpqEaSYg=,"
     "Rlbql3w3H4k3WD55iDyihdtG836E9fXFdwai/MDXG7Y=", "pencil"),
    ("{PLAIN}secret", "secret"),
    ("{CLEAR}with:colon", "with:colon"),
]


@pytest.mark.parametrize(("stored", "password"), KNOWN_GOOD, ids=lambda v: v[:22])
def test_known_good_hashes_verify(stored: str, password: str) -> None:
    assert verify_password(stored, password) is True
    assert verify_password(stored, password + "x") is False
    assert verify_password(stored, "") is False


def test_sha_crypt_specification_vectors() -> None:
    """Test vectors from Drepper's SHA-crypt specification (checked with glibc crypt(3))."""
    assert sha_crypt(b"Hello world!", "saltstring", None, "5") == \
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
    assert sha_crypt(b"Hello world!", "saltstringsaltstring", 10000, "5") == \
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"
    assert sha_crypt(b"Hello world!", "saltstring", None, "6") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoE"
        "OfaS35inz1")
    assert sha_crypt(b"we have a short salt string but not a short password", "roundstoolow", 10, "6") == (
        "$6$rounds=1000$roundstoolow$yjTuW7RnC.d35QcVTFIb6uvh/7IQ1.GFtFN3i/.jwmeWEhzjf4uD/OPCb4jRl6atJ"
        "GYhLst8IyR6YAtTrriMU1")


@pytest.mark.parametrize("stored", [
    "{NOSUCH}abc", "{PBKDF2}$1$x$notanumber$zz", "{SHA256}!!!", "{ARGON2ID}garbage",
    "{BLF-CRYPT}$2y$99$short", "{SCRAM-SHA-256}1,2", "{SHA512-CRYPT}$6$", "{CRYPT}abXyZ12345678",
    "", "{", "{}",
])
def test_malformed_or_unknown_never_matches_and_never_raises(stored: str) -> None:
    assert verify_password(stored, "secret") is False


def test_split_scheme() -> None:
    assert split_scheme("{sha512.b64}abc") == ("SHA512", "B64", "abc")
    assert split_scheme("$6$x$y") == ("CRYPT", "", "$6$x$y")
    assert split_scheme("plain", default="PLAIN") == ("PLAIN", "", "plain")


def test_plaintext_and_scram_extraction() -> None:
    assert plaintext_of("{PLAIN}pw") == "pw"
    assert plaintext_of("{SHA256-CRYPT}$5$a$b") is None
    secrets_ = scram_secrets_of(KNOWN_GOOD[15][0])
    assert secrets_ is not None and secrets_.iterations == 4096
    assert scram_secrets_of("{PLAIN}pencil") is None
    derived = scram_secrets_of("{PLAIN}pencil", salt_for_plain=b"salt")
    assert derived is not None and derived.salt == b"salt"


@pytest.mark.parametrize("scheme", HASH_SCHEMES)
def test_hash_password_round_trip(scheme: str) -> None:
    stored = hash_password("correct horse", scheme)
    assert stored.startswith("{" + scheme + "}")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")


DOVEADM = shutil.which("doveadm")
MKPASSWD = shutil.which("mkpasswd")


@pytest.mark.skipif(DOVEADM is None, reason="doveadm (Debian dovecot-core) not installed")
@pytest.mark.parametrize("scheme", ["ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT",
                                    "PBKDF2", "SSHA512", "SHA256", "PLAIN", "SCRAM-SHA-256"])
def test_doveadm_generated(scheme: str) -> None:
    password = "Tr0ub4dor&3 ü"
    out = subprocess.run([DOVEADM, "pw", "-s", scheme, "-p", password], capture_output=True,
                         text=True, check=True, timeout=60).stdout.strip()
    assert out.startswith("{" + scheme + "}")
    assert verify_password(out, password)
    assert not verify_password(out, "Tr0ub4dor&3")


@pytest.mark.skipif(DOVEADM is None, reason="doveadm (Debian dovecot-core) not installed")
@pytest.mark.parametrize("scheme", ["ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "PBKDF2",
                                    "SCRAM-SHA-256"])
def test_doveadm_verifies_ours(scheme: str) -> None:
    stored = hash_password("s3cret-ß", scheme)
    ok = subprocess.run([DOVEADM, "pw", "-t", stored, "-p", "s3cret-ß"], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([DOVEADM, "pw", "-t", stored, "-p", "nope"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0


@pytest.mark.skipif(MKPASSWD is None, reason="mkpasswd (Debian whois) not installed")
@pytest.mark.parametrize("method", ["sha512crypt", "sha256crypt", "bcrypt"])
@pytest.mark.parametrize("rounds", [None, "5000", "12345"])
def test_mkpasswd_generated(method: str, rounds: str | None) -> None:
    if method == "bcrypt" and rounds is not None:
        rounds = "5"
    argv = [MKPASSWD, "-m", method] + (["-R", rounds] if rounds else []) + ["pass word"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert verify_password("{CRYPT}" + out, "pass word")
    assert verify_password(out, "pass word")  # default scheme CRYPT
    assert not verify_password(out, "password")
