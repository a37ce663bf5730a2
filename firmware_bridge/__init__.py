"""Serial link to the loudspeaker cluster's microcontroller (built in the edge-hardware issue)."""
