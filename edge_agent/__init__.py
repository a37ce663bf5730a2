"""Loa Làng edge agent: verifies signed commands, caches media, plays on time, reports back."""
