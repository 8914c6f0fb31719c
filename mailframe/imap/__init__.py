"""The sans-IO IMAP core: bytes in, commands out; responses in, bytes out.

Nothing under this package imports twisted (tests/test_sansio.py checks).
"""
