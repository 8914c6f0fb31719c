"""Sans-IO message model (RFC 5322, MIME RFC 2045-2049, RFC 3501 §6.4.5 and
§7.4.2, RFC 3516): parse raw bytes once into a cacheable
:class:`MessageInfo`, then serve FETCH sections and SEARCH matches from it.

Never imports twisted; nothing here raises on malformed mail.
"""

from ._headers import header_fields
from ._info import FORMAT_VERSION, MessageInfo, parse
from ._search import SEARCH_CHARSETS, body_matches, check_charset, header_matches, text_matches
from ._sections import (
    binary_size,
    decode_binary,
    find_part,
    part_header_range,
    section_range,
)

__all__ = [
    "FORMAT_VERSION",
    "MessageInfo",
    "parse",
    "section_range",
    "part_header_range",
    "header_fields",
    "decode_binary",
    "binary_size",
    "find_part",
    "header_matches",
    "body_matches",
    "text_matches",
    "check_charset",
    "SEARCH_CHARSETS",
]
