"""User settings (contract 4.13): each section's fields and defaults.

The profile aggregate records a section as a whole (``SettingsChanged``); these models
validate what the SPA sends and fill in defaults when a section is read, by the settings
pages and by the contexts that honour a preference (notifications, matching, i18n).
"""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    section: ClassVar[str] = "notifications"

    pushEnabled: bool = True  # noqa: N815
    pushChat: bool = True  # noqa: N815
    pushMatching: bool = True  # noqa: N815
    pushSession: bool = True  # noqa: N815
    pushAchievements: bool = True  # noqa: N815
    emailEnabled: bool = False  # noqa: N815
    emailNewMatch: bool = False  # noqa: N815
    emailPromotions: bool = False  # noqa: N815
    emailSessionReminder: bool = False  # noqa: N815
    emailWeeklySummary: bool = False  # noqa: N815
    quietHoursEnabled: bool = False  # noqa: N815
    quietHoursStart: str = Field(default="22:00", pattern=CLOCK)  # noqa: N815
    quietHoursEnd: str = Field(default="08:00", pattern=CLOCK)  # noqa: N815
    soundEnabled: bool = True  # noqa: N815
    vibrationEnabled: bool = True  # noqa: N815

    def quiet_at(self, local: time) -> bool:
        """Whether ``local`` (the user's wall-clock time) falls in their quiet hours; a
        window that ends before it starts runs overnight (22:00-08:00)."""
        if not self.quietHoursEnabled:
            return False
        start, end = (
            time.fromisoformat(self.quietHoursStart),
            time.fromisoformat(self.quietHoursEnd),
        )
        if start <= end:
            return start <= local < end
        return local >= start or local < end


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    section: ClassVar[str] = "privacy"

    profileVisibility: str = "PUBLIC"  # noqa: N815
    showAge: bool = True  # noqa: N815
    showLocation: bool = True  # noqa: N815
    showOnlineStatus: bool = True  # noqa: N815
    showLastSeen: bool = True  # noqa: N815
    allowMatching: bool = True  # noqa: N815
    showInSearch: bool = True  # noqa: N815
    matchingRadius: int = 0  # noqa: N815
    allowDirectMessage: bool = True  # noqa: N815
    allowGroupInvite: bool = True  # noqa: N815
    showEmail: bool = False  # noqa: N815
    showPhoneNumber: bool = False  # noqa: N815
    showAchievements: bool = True  # noqa: N815
    showLearningStats: bool = True  # noqa: N815
    showSessionHistory: bool = True  # noqa: N815
    allowAnalytics: bool = True  # noqa: N815
    allowPersonalization: bool = True  # noqa: N815
    allowMarketing: bool = False  # noqa: N815
    allowThirdPartySharing: bool = False  # noqa: N815


class LanguageSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    section: ClassVar[str] = "language"

    appLanguage: str = "ko"  # noqa: N815
    nativeLanguage: str | None = None  # noqa: N815
    targetLanguages: list[str] = []  # noqa: N815
    autoTranslate: bool = False  # noqa: N815
    showRomanization: bool = False  # noqa: N815
    translationService: str = "default"  # noqa: N815
    speechLanguage: str | None = None  # noqa: N815
    speechSpeed: float = 1.0  # noqa: N815
    voiceGender: str = "ANY"  # noqa: N815


class MatchingSettings(BaseModel):
    """Validated and enforced: ``allowMatchRequests`` is checked by the request command."""

    model_config = ConfigDict(extra="ignore")
    section: ClassVar[str] = "matching"

    autoAcceptMatches: bool = False  # noqa: N815
    showOnlineStatus: bool = True  # noqa: N815
    allowMatchRequests: bool = True  # noqa: N815
    preferredAgeRange: tuple[int, int] | None = None  # noqa: N815
    preferredGenders: list[str] = []  # noqa: N815
    preferredLanguages: list[int] = []  # noqa: N815


SETTINGS_MODELS: dict[str, type[BaseModel]] = {
    model.section: model
    for model in (NotificationSettings, PrivacySettings, LanguageSettings, MatchingSettings)
}
