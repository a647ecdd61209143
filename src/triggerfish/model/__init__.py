"""The pure core: statuses, the state machine, agendas and job specifications. No I/O."""
