"""Use cases of the booking service: they own the transaction and commit it."""
