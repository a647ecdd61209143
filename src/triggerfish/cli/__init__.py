"""The ``triggerfish`` command: submit and inspect jobs, run a supervisor, workers, a local farm."""
