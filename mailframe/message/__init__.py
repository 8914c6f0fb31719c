"""Sans-IO message model (RFC 5322, MIME RFC 2045-2049): see _api.py of the
helper building it.  Placeholder until the message model lands."""
