"""Callbacks: what a firing does. This release runs the ``qube`` language inside the engine."""
