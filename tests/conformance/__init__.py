"""Conformance runs against mailframe with outside tools (Dovecot's imaptest)."""
