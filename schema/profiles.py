"""Profiles and preferences: createProfile, updateProfile, updatePreferences, user(id)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from rapport.rate_limits import Limit
from resolvers import profiles
from resolvers.errors import ErrorCode, FieldProblem, Invalid
from schema.errors import (
    AlreadyExists,
    AuthenticationRequired,
    NotFound,
    RateLimited,
    ValidationError,
    expected_errors,
)
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


CreateProfileResult = Annotated[
    OwnProfile | ValidationError | AlreadyExists | AuthenticationRequired,
    strawberry.union("CreateProfileResult"),
]
UpdateProfileResult = Annotated[
    OwnProfile | ValidationError | NotFound | RateLimited | AuthenticationRequired,
    strawberry.union("UpdateProfileResult"),
]
UpdatePreferencesResult = Annotated[
    PreferencesType | ValidationError | NotFound | RateLimited | AuthenticationRequired,
    strawberry.union("UpdatePreferencesResult"),
]
UserResult = Annotated[
    User | NotFound | ValidationError | RateLimited | AuthenticationRequired,
    strawberry.union("UserResult"),
]


@strawberry.type
class ProfileQueries:
    @strawberry.field(description="Someone's public profile. Never their email or preferences.")
    @expected_errors
    async def user(self, info: Info, id: strawberry.ID) -> UserResult:
        viewer = await info.context.require_viewer()
        user_id = parse_id(key_of(id, *PERSON))
        if user_id is None:
            raise Invalid([FieldProblem("id", ErrorCode.INVALID_FORMAT, "Not a user id.")])
        if user_id != viewer.id:
            await info.context.resources.rate_limits.hit(
                Limit.PROFILE_VIEWS_PER_HOUR, str(viewer.id)
            )
        return User(profile=await profiles.public_profile(info.context.session, viewer, user_id))


@strawberry.type
class ProfileMutations:
    @strawberry.mutation(
        description="Create your profile (once); default preferences come with it."
    )
    @expected_errors
    async def create_profile(self, info: Info, input: CreateProfileInput) -> CreateProfileResult:
        viewer = await info.context.require_viewer()
        profile = await profiles.create_profile(
            info.context.session, info.context.resources.matcher, viewer, provided(input), today()
        )
        return OwnProfile(profile=profile)

    @strawberry.mutation(
        description="Change some fields of your profile. Your birth date is fixed once set; "
        "moves to another 2 km cell and changes of gender, height or intent are rate-limited."
    )
    @expected_errors
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfileResult:
        viewer = await info.context.require_viewer()
        r = info.context.resources
        profile = await profiles.update_profile(
            info.context.session, r.matcher, viewer, provided(input), today(), r.rate_limits
        )
        return OwnProfile(profile=profile)

    @strawberry.mutation(
        description="Change whom you want to be shown (rate-limited: maxDistanceKm with your "
        "location, the rest per day)."
    )
    @expected_errors
    async def update_preferences(
        self, info: Info, input: UpdatePreferencesInput
    ) -> UpdatePreferencesResult:
        viewer = await info.context.require_viewer()
        r = info.context.resources
        row = await profiles.update_preferences(
            info.context.session, r.matcher, viewer, provided(input), r.rate_limits
        )
        return PreferencesType(row=row)
