"""Did it sound? The cluster's microphone hears the station's own plays and says whether
what came out of the horns was what was played (features.py, verdict.py: pure; capture.py,
ear.py: the microphone and the wiring). Only features leave this package, never audio."""
