"""Use cases of the identity service: they own the transaction and commit it."""
