"""The engine: the single writer. Commands in, transitions + events out, one transaction per batch."""
