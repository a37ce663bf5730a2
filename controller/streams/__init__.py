"""The station's stream server (Icecast) and the live sources the controller feeds it."""
