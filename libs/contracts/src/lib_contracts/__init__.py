"""Versioned event payload contracts shared by producers and consumers (DESIGN.md: Events).

Importing this package registers every contract in `lib_messaging.envelope.registry`.
One module per producing context; each contract is `@event_contract(type, version)`.
"""

from .api_usage import ApiCallRecord, ApiUsageBatch
from .billing import (
    PaymentFailed,
    PaymentSucceeded,
    StripeEventProcessingRequested,
    SubscriptionStatus,
    SubscriptionUpdated,
    TokensPurchased,
    TokensPurchaseFailed,
)
from .booking import (
    BookingStatus,
    BookingStatusChanged,
    ExtensionApproved,
    OdooEntityType,
    OdooSyncRequested,
    PaymentStatus,
)
from .common import SubscriptionTier
from .content import (
    ContentApiUsageRecorded,
    GenerationCompleted,
    GenerationFailed,
    GenerationKind,
)
from .identity import (
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyStatus,
    ReferralCompleted,
    TrialCancelled,
    TrialConverted,
    TrialCreated,
    TrialExpired,
    TrialTier,
    UserDeleted,
    UserEmailVerified,
    UserRegistered,
    UserRole,
    UserUpdated,
)
from .market_data import MarketDataApiUsageRecorded

__all__ = [
    "ApiCallRecord",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "ApiKeyStatus",
    "ApiUsageBatch",
    "BookingStatus",
    "BookingStatusChanged",
    "ContentApiUsageRecorded",
    "ExtensionApproved",
    "GenerationCompleted",
    "GenerationFailed",
    "GenerationKind",
    "MarketDataApiUsageRecorded",
    "OdooEntityType",
    "OdooSyncRequested",
    "PaymentFailed",
    "PaymentStatus",
    "PaymentSucceeded",
    "ReferralCompleted",
    "StripeEventProcessingRequested",
    "SubscriptionStatus",
    "SubscriptionTier",
    "SubscriptionUpdated",
    "TokensPurchaseFailed",
    "TokensPurchased",
    "TrialCancelled",
    "TrialConverted",
    "TrialCreated",
    "TrialExpired",
    "TrialTier",
    "UserDeleted",
    "UserEmailVerified",
    "UserRegistered",
    "UserRole",
    "UserUpdated",
]
