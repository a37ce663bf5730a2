"""Notices to people: rules that find what to tell (``rules``), channels that carry it
(``channels``: e-mail, a webhook; the web UI lists every notice recorded)."""
