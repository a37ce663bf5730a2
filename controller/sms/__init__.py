"""Sending SMS orders: the station's own GSM modem, and an HTTPS gateway as a second channel."""
