"""Use cases of the content service: they own the transaction and commit it."""
