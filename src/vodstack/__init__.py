"""vodstack: a self-hostable video-on-demand platform."""

__version__ = "0.1.0"
