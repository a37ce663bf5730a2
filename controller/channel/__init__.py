"""The station's channel (what the loudspeakers play, as one stream) and its archive."""
