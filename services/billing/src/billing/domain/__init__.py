"""Use cases of the billing service: they own the transaction and commit it."""
