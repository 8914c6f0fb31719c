"""Sans-IO message model (RFC 5322, MIME RFC 2045-2049, RFC 3501 §6.4.5 and
§7.4.2, RFC 3516): parse raw bytes once into a cacheable
:class:`MessageInfo`, then serve FETCH sections and SEARCH matches from it.
Never imports twisted; nothing here raises on malformed mail.

At delivery a backend converts bare LF line ends (``raw = to_crlf(raw)``,
as Dovecot does when it saves), calls ``info = parse(raw)`` and stores
``info.dump()`` (``MessageInfo.load(blob)`` gets it back, ~2 µs).  The
FETCH items then map to (``raw`` read lazily by the backend):

==========================  ================================================
ENVELOPE / BODYSTRUCTURE    ``info.envelope_wire`` / ``info.bodystructure_wire``
BODY                        ``info.body_wire`` (all ready wire bytes: ``Raw``)
RFC822.SIZE                 ``info.size``
BODY[] / RFC822             ``raw``
BODY[HEADER]/RFC822.HEADER  ``info.header`` (includes the blank line)
BODY[<p>.]TEXT|MIME, [<p>]  ``section_range(info, part, text)`` -> slice of raw
BODY[<p>.]HEADER.FIELDS     ``header_fields(raw[slice(*part_header_range(...))],
                            fields, exclude)``; for ``()`` use ``info.header``
BINARY[<p>]                 ``decode_binary(info, part, body_bytes)``
BINARY.SIZE[<p>]            ``binary_size(info, part, body_bytes)``
<origin.count>              slice the section bytes
==========================  ================================================

A ``None`` range means the section does not exist; Dovecot answers an
empty string then (not NIL), and so does mailframe.  Every section goes as
a literal (``binary_decodes`` says when BINARY needs a ``literal8``).  SEARCH: ``header_matches``,
``body_matches``, ``text_matches``, ``info.sent_date``, ``check_charset``.
"""

from ._candidates import header_candidates
from ._crlf import CRLFStream, binary_to_base64, crlf_chunks, has_bare_lf, to_crlf
from ._decode import fold_case, text_charset
from ._headers import header_fields, info_header_fields, info_header_fields_of
from ._info import FORMAT_VERSION, MessageInfo, parse
from ._search import (
    SEARCH_CHARSETS,
    Content,
    body_matches,
    check_charset,
    header_matcher,
    header_matches,
    header_values,
    search_ranges,
    text_matches,
)
from ._sections import (
    binary_decodes,
    binary_size,
    decode_binary,
    find_part,
    part_header_range,
    section_range,
)

__all__ = [
    "to_crlf",
    "has_bare_lf",
    "binary_to_base64",
    "CRLFStream",
    "crlf_chunks",
    "FORMAT_VERSION",
    "MessageInfo",
    "parse",
    "section_range",
    "part_header_range",
    "header_fields",
    "info_header_fields",
    "info_header_fields_of",
    "decode_binary",
    "binary_size",
    "binary_decodes",
    "find_part",
    "header_matches",
    "header_values",
    "header_candidates",
    "header_matcher",
    "fold_case",
    "body_matches",
    "text_matches",
    "search_ranges",
    "Content",
    "check_charset",
    "text_charset",
    "SEARCH_CHARSETS",
]
