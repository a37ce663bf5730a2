"""Application rules, used alike by the JSON API (``api/``), the web pages (``web/``) and the CLI.

Each module holds one area (broadcasts, devices, zones, media, alarms, accounts, audit, the
programme, live updates); services raise ``controller.domain.errors`` and return the read
models of ``views.py``, never HTTP responses.
"""
