"""The time grid every encode keeps: a keyframe every 2 s, a segment every 6 s."""

KEYFRAME_SECONDS = 2
SEGMENT_SECONDS = 6
