"""Signing in with OpenID Connect providers: the provider client and the sign-in flow state."""
