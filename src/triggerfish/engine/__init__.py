"""The engine: the single writer. Commands in; transitions and events out, one commit per batch."""
