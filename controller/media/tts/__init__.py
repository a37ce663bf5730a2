"""Text to speech: engines behind one small interface, Vietnamese text normalisation, and the
languages a station's people speak (most with no engine: those are recorded)."""
