"""One module per area of the web UI; each exports ``router``."""
