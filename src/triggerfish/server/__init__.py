"""The supervisor's HTTP server: API routes, long polls, work logs."""
