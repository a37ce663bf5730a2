"""OASIS CAP 1.2 alerts: parsed and checked (``alert.py``), turned into an action by the
station's rules (``rules.py``); pure, no I/O. ``services/cap.py`` acts on them."""
