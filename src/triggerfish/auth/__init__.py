"""Who may do what: permissions, principals and tokens (SPEC §9)."""
