"""How a service process is put together, the same way for every service."""
