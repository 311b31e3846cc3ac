"""Profiles and preferences: createProfile, updateProfile, updatePreferences, user(id)."""

from __future__ import annotations

from datetime import date

import strawberry

from rapport.errors import ErrorCode, FieldProblem, Invalid
from resolvers import profiles
from resolvers.operation import Operation
from schema.errors import AlreadyExists, NotFound, RateLimited, ValidationError
from schema.fields import viewer_field, viewer_mutation
from schema.ids import PERSON, key_of
from schema.inputs import provided
from schema.types import (
    GenderEnum,
    IntentEnum,
    MentorshipRoleEnum,
    OwnProfile,
    PreferencesType,
    User,
    parse_id,
    today,
)


@strawberry.input(
    description="Stored as the centre of the fixed 2 km grid cell holding the point: distances, "
    "limits and scores never see anything finer."
)
class LocationInput:
    city: str
    latitude: float
    longitude: float


@strawberry.input
class SocialLinkInput:
    platform: str = strawberry.field(description="e.g. 'instagram', 'linkedin' (1-30 characters).")
    url: str = strawberry.field(description="https only.")


@strawberry.input(
    description="Age 18-120, bio <= 2000 characters, goals <= 1000, height 90-250 cm."
)
class CreateProfileInput:
    display_name: str
    birth_date: date
    gender: GenderEnum  # type: ignore[valid-type]
    intent: IntentEnum  # type: ignore[valid-type]
    mentorship_role: MentorshipRoleEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    expertise: list[str] | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    goals: str | None = strawberry.UNSET
    height_cm: int | None = strawberry.UNSET
    location: LocationInput | None = strawberry.UNSET
    photo_urls: list[str] | None = strawberry.UNSET
    social_links: list[SocialLinkInput] | None = strawberry.UNSET


@strawberry.input(
    description="Only the fields you send change; send null to clear an optional one."
)
class UpdateProfileInput:
    display_name: str | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    gender: GenderEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    intent: IntentEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    mentorship_role: MentorshipRoleEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    expertise: list[str] | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    goals: str | None = strawberry.UNSET
    height_cm: int | None = strawberry.UNSET
    location: LocationInput | None = strawberry.UNSET
    photo_urls: list[str] | None = strawberry.UNSET
    social_links: list[SocialLinkInput] | None = strawberry.UNSET


@strawberry.input(description="Only the fields you send change. Ages 18-120, heights 90-250 cm.")
class UpdatePreferencesInput:
    age_min: int | None = strawberry.UNSET
    age_max: int | None = strawberry.UNSET
    height_min_cm: int | None = strawberry.UNSET
    height_max_cm: int | None = strawberry.UNSET
    genders: list[GenderEnum] | None = strawberry.UNSET  # type: ignore[valid-type]
    max_distance_km: int | None = strawberry.UNSET
    intents: list[IntentEnum] | None = strawberry.UNSET  # type: ignore[valid-type]


@strawberry.type
class ProfileQueries:
    @viewer_field(
        "UserResult",
        description="Someone's public profile. Never their email or preferences.",
    )
    async def user(
        self, op: Operation, id: strawberry.ID
    ) -> User | NotFound | ValidationError | RateLimited:
        user_id = parse_id(key_of(id, *PERSON))
        if user_id is None:
            raise Invalid([FieldProblem("id", ErrorCode.INVALID_FORMAT, "Not a user id.")])
        return User(await profiles.public_profile(op, user_id))


@strawberry.type
class ProfileMutations:
    @viewer_mutation(
        "CreateProfileResult",
        description="Create your profile (once); default preferences come with it.",
    )
    async def create_profile(
        self, op: Operation, input: CreateProfileInput
    ) -> OwnProfile | AlreadyExists:
        return OwnProfile(profile=await profiles.create_profile(op, provided(input), today()))

    @viewer_mutation(
        "UpdateProfileResult",
        description="Change some fields of your profile. Your birth date is fixed once set; "
        "moves to another 2 km cell and changes of gender, height or intent are rate-limited.",
    )
    async def update_profile(
        self, op: Operation, input: UpdateProfileInput
    ) -> OwnProfile | NotFound | RateLimited:
        return OwnProfile(profile=await profiles.update_profile(op, provided(input), today()))

    @viewer_mutation(
        "UpdatePreferencesResult",
        description="Change whom you want to be shown (rate-limited: maxDistanceKm with your "
        "location, the rest per day).",
    )
    async def update_preferences(
        self, op: Operation, input: UpdatePreferencesInput
    ) -> PreferencesType | NotFound | RateLimited:
        return PreferencesType(row=await profiles.update_preferences(op, provided(input)))
