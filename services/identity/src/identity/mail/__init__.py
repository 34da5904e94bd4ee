"""Account mails: what they say (messages), how they leave (mailer), the dev/test sink (sink)."""
