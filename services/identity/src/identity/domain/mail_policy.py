"""How long mailed tokens live and how often an address may be mailed, from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from identity.config import IdentitySettings


@dataclass(frozen=True, slots=True)
class MailPolicy:
    email_verification_ttl_s: int
    password_reset_ttl_s: int
    verification_resend_interval_s: int
    verification_mails_per_day: int
    password_reset_mails_per_hour: int
    referral_reward_tokens: int

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> MailPolicy:
        return cls(
            email_verification_ttl_s=settings.email_verification_ttl_s,
            password_reset_ttl_s=settings.password_reset_ttl_s,
            verification_resend_interval_s=settings.verification_resend_interval_s,
            verification_mails_per_day=settings.verification_mails_per_day,
            password_reset_mails_per_hour=settings.password_reset_mails_per_hour,
            referral_reward_tokens=settings.referral_reward_tokens,
        )
