"""Request and response schemas shared by the server, the worker and the client."""
