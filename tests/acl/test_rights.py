"""The RFC 4314 rights model (mailframe.acl.rights) and Dovecot's ACL file
format (mailframe.acl.dovecot_acl), without a server."""

from __future__ import annotations

import pytest

from mailframe.acl import dovecot_acl
from mailframe.acl.rights import (
    ALL_RIGHTS,
    RightsError,
    allowed_flags,
    apply_modification,
    check_identifier,
    effective_rights,
    flag_right,
    format_rights,
    parse_modification,
    parse_rights,
)


def test_standard_rights_parse() -> None:
    assert parse_rights("lrswipkxtea") == frozenset(ALL_RIGHTS)
    assert parse_rights("") == frozenset()


def test_obsolete_c_and_d_expand_as_section_2_1_1() -> None:
    # first reading of §2.1.1: c = k + x, d = e + t
    assert parse_rights("c") == frozenset("kx")
    assert parse_rights("d") == frozenset("et")
    assert parse_rights("lrswida") == frozenset("lrswieta")


@pytest.mark.parametrize("text", ["lrQ", "q", "lr1", "l r"])
def test_unknown_rights_are_refused(text: str) -> None:
    with pytest.raises(RightsError):
        parse_rights(text)


def test_uppercase_reason() -> None:
    with pytest.raises(RightsError, match="Uppercase"):
        parse_rights("lrQswi")


def test_format_adds_virtual_c_and_d() -> None:
    assert format_rights(frozenset("lrswi")) == "lrwsi"
    assert format_rights(frozenset("lrswikda".replace("d", "et"))) == "lrwstiekacd"
    assert format_rights(frozenset("k")) == "kc"
    assert format_rights(frozenset("t")) == "td"
    assert format_rights(frozenset(ALL_RIGHTS)) == "lrwstipekxacd"  # as Dovecot


def test_modification_modes() -> None:
    assert parse_modification("+cda") == ("+", frozenset("kxeta"))
    assert parse_modification("-w") == ("-", frozenset("w"))
    assert parse_modification("lr") == ("=", frozenset("lr"))
    base = frozenset("lrswi")
    assert apply_modification(base, "+", frozenset("a")) == frozenset("lrswia")
    assert apply_modification(base, "-", frozenset("sw")) == frozenset("lri")
    assert apply_modification(base, "=", frozenset("l")) == frozenset("l")


def test_effective_rights_union_minus_negative() -> None:
    acl = {
        "alice": frozenset(ALL_RIGHTS),
        "bob": frozenset("lrswi"),
        "anyone": frozenset("l"),
        "authenticated": frozenset("r"),
        "-bob": frozenset("w"),
    }
    assert effective_rights(acl, "bob", "alice") == frozenset("lrsi")
    assert effective_rights(acl, "carol", "alice") == frozenset("lr")
    assert effective_rights(acl, None, "alice") == frozenset("l")  # anonymous: anyone only
    assert effective_rights(acl, "alice", "alice") == frozenset(ALL_RIGHTS)


def test_negative_anyone_removes_from_everyone() -> None:
    acl = {"bob": frozenset("lrswi"), "-anyone": frozenset("s")}
    assert effective_rights(acl, "bob", "alice") == frozenset("lrwi")


def test_default_acl_is_owner_only() -> None:
    assert effective_rights(None, "alice", "alice") == frozenset(ALL_RIGHTS)
    assert effective_rights(None, "bob", "alice") == frozenset()
    assert effective_rights(None, "bob", None) == frozenset()  # public mailbox


def test_owner_always_keeps_administer() -> None:
    assert effective_rights({"alice": frozenset("lr")}, "alice", "alice") == frozenset("lra")
    assert effective_rights({"-alice": frozenset(ALL_RIGHTS)}, "alice", "alice") == frozenset("a")


def test_admin_holds_everything() -> None:
    assert effective_rights({}, "root", "alice", admin=True) == frozenset(ALL_RIGHTS)


def test_flag_rights() -> None:
    assert flag_right("\\Seen") == "s"
    assert flag_right("\\SEEN") == "s"
    assert flag_right("\\Deleted") == "t"
    assert flag_right("\\Answered") == "w"
    assert flag_right("$Label") == "w"
    flags = frozenset({"\\Seen", "\\Deleted", "\\Draft", "$x"})
    assert allowed_flags(flags, frozenset("s")) == {"\\Seen"}
    assert allowed_flags(flags, frozenset("wt")) == {"\\Deleted", "\\Draft", "$x"}


def test_identifiers() -> None:
    assert check_identifier("Anyone") == "anyone"
    assert check_identifier("-bob") == "-bob"
    assert check_identifier("b\u00f6b") == "b\u00f6b"
    for bad in ["", "-", "a\x00b", "bob carol"]:
        with pytest.raises(RightsError):
            check_identifier(bad)


def test_dovecot_acl_file_round_trip() -> None:
    text = "owner lrwstipekxa\nuser=bob kxeilrwts\n-user=carol w\nanyone lr\ngroup=staff lr\n# c\n"
    acl, kept = dovecot_acl.parse_acl_file(text, "alice")
    assert acl == {
        "alice": frozenset(ALL_RIGHTS),
        "bob": frozenset("kxeilrwts"),
        "-carol": frozenset("w"),
        "anyone": frozenset("lr"),
    }
    assert kept == ["group=staff lr"]
    out = dovecot_acl.format_acl_file(acl, "alice", kept)
    assert out == (
        "owner lrwstipekxa\nuser=bob lrwstiekx\n-user=carol w\nanyone lr\ngroup=staff lr\n"
    )
    assert dovecot_acl.parse_acl_file(out, "alice") == (acl, kept)


def test_dovecot_acl_file_public_mailbox_has_no_owner() -> None:
    out = dovecot_acl.format_acl_file({"bob": frozenset("lr")}, None)
    assert out == "user=bob lr\n"


def test_write_keeps_unmodelled_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "dovecot-acl").write_text("group=staff lr\nuser=bob l\n")
    dovecot_acl.write_acl(str(tmp_path), {"bob": frozenset("lrs")}, "alice")
    assert (tmp_path / "dovecot-acl").read_text() == "user=bob lrs\ngroup=staff lr\n"
    assert dovecot_acl.read_acl(str(tmp_path), "alice") == {"bob": frozenset("lrs")}
    dovecot_acl.write_acl(str(tmp_path), None, "alice")
    assert dovecot_acl.read_acl(str(tmp_path), "alice") is None


def test_shared_dictionary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "shared-mailboxes.db")
    dovecot_acl.update_shared_dict(path, "alice", [{"alice": frozenset("a"), "bob": frozenset("l")}])
    dovecot_acl.update_shared_dict(path, "dave", [{"anyone": frozenset("lr"), "-bob": frozenset("r")}])
    text = open(path).read()
    assert text == (
        "shared/shared-boxes/user/bob/alice\n1\nshared/shared-boxes/anyone/dave\n1\n"
    )
    assert dovecot_acl.sharers_for(path, "bob") == {"alice", "dave"}
    assert dovecot_acl.sharers_for(path, "carol") == {"dave"}
    dovecot_acl.update_shared_dict(path, "alice", [])
    assert dovecot_acl.sharers_for(path, "bob") == {"dave"}


def test_shared_dictionary_lock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Writers take Dovecot's dotlock; a held lock fails after the wait,
    a stale one (a crashed writer's) is broken."""
    import os

    from mailframe.errors import MailboxInUse

    path = str(tmp_path / "shared-mailboxes.db")
    lock = path + ".lock"
    open(lock, "w").close()
    with pytest.raises(MailboxInUse):
        dovecot_acl.update_shared_dict(path, "alice", [{"bob": frozenset("l")}], wait=0.05)
    assert not os.path.exists(path)
    os.utime(lock, (1, 1))  # long ago: stale
    dovecot_acl.update_shared_dict(path, "alice", [{"bob": frozenset("l")}], wait=0.05)
    assert dovecot_acl.sharers_for(path, "bob") == {"alice"}
    assert not os.path.exists(lock)
