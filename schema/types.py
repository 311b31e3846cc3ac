"""Object types shared by the domains: the viewer, public users, own profile, preferences.
Thin: each field reads a model attribute or asks a loader."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

import strawberry
from strawberry.types import Info

from models import Gender, Intent, MentorshipRole, Preferences, Profile, UserStatus
from models import User as UserRow
from resolvers import profiles
from resolvers.errors import ErrorCode, FieldProblem, Invalid
from resolvers.pagination import Page
from resolvers.validation import age_on
from schema.ids import PERSON, Node, key_of

GenderEnum = strawberry.enum(Gender, name="Gender")
IntentEnum = strawberry.enum(Intent, name="Intent", description="What a person is here for.")
MentorshipRoleEnum = strawberry.enum(MentorshipRole, name="MentorshipRole")
UserStatusEnum = strawberry.enum(UserStatus, name="UserStatus")

T = TypeVar("T")
R = TypeVar("R")


def today() -> date:
    return datetime.now(UTC).date()


@strawberry.type
class SocialLink:
    platform: str
    url: str


@strawberry.type(
    description="Where a person is, shown to its owner only: the city as given, and the centre "
    "of the fixed 2 km grid cell holding the point sent (nothing finer is stored)."
)
class Location:
    city: str
    latitude: float
    longitude: float


def _links(profile: Profile) -> list[SocialLink]:
    return [SocialLink(platform=link["platform"], url=link["url"]) for link in profile.social_links]


@strawberry.type(description="Someone else's profile: public fields only.")
class User(Node):
    profile: strawberry.Private[Profile]

    @classmethod
    def resolve_id(cls, root: User, *, info: Info) -> str:
        return str(root.profile.user_id)

    @strawberry.field
    def display_name(self) -> str:
        return self.profile.display_name

    @strawberry.field
    def age(self) -> int:
        return age_on(self.profile.birth_date, today())

    @strawberry.field
    def bio(self) -> str:
        return self.profile.bio

    @strawberry.field
    def goals(self) -> str:
        return self.profile.goals

    @strawberry.field
    def height_cm(self) -> int | None:
        return self.profile.height_cm

    @strawberry.field
    def gender(self) -> GenderEnum:  # type: ignore[valid-type]
        return self.profile.gender

    @strawberry.field(description="City only: coordinates stay private.")
    def city(self) -> str | None:
        return self.profile.city

    @strawberry.field(description="https URLs, in the owner's order (at most 6).")
    def photo_urls(self) -> list[str]:
        return self.profile.photo_urls

    @strawberry.field
    def social_links(self) -> list[SocialLink]:
        return _links(self.profile)

    @strawberry.field
    def intent(self) -> IntentEnum:  # type: ignore[valid-type]
        return self.profile.intent

    @strawberry.field
    def mentorship_role(self) -> MentorshipRoleEnum | None:  # type: ignore[valid-type]
        return self.profile.mentorship_role

    @strawberry.field
    def expertise(self) -> list[str]:
        return self.profile.expertise

    @strawberry.field
    async def interests(self, info: Info) -> list[str]:
        return await info.context.loaders.interests.load(self.profile.user_id)


@strawberry.type(description="Your own profile, every field.")
class OwnProfile(User):
    @strawberry.field
    def birth_date(self) -> date:
        return self.profile.birth_date

    @strawberry.field
    def location(self) -> Location | None:
        p = self.profile
        if p.city is None or p.latitude is None or p.longitude is None:
            return None
        return Location(city=p.city, latitude=p.latitude, longitude=p.longitude)

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.profile.updated_at


@strawberry.type(name="Preferences", description="Whom you want to be shown. Only you can read it.")
class PreferencesType(Node):
    """Keyed by its owner: one set of preferences per person."""

    row: strawberry.Private[Preferences]

    @classmethod
    def resolve_id(cls, root: PreferencesType, *, info: Info) -> str:
        return str(root.row.user_id)

    @strawberry.field
    def age_min(self) -> int:
        return self.row.age_min

    @strawberry.field
    def age_max(self) -> int:
        return self.row.age_max

    @strawberry.field
    def height_min_cm(self) -> int | None:
        return self.row.height_min_cm

    @strawberry.field
    def height_max_cm(self) -> int | None:
        return self.row.height_max_cm

    @strawberry.field
    def genders(self) -> list[GenderEnum]:  # type: ignore[valid-type]
        return [Gender(g) for g in self.row.genders]

    @strawberry.field(description="null: any distance.")
    def max_distance_km(self) -> int | None:
        return self.row.max_distance_km

    @strawberry.field
    def intents(self) -> list[IntentEnum]:  # type: ignore[valid-type]
        return [Intent(i) for i in self.row.intents]


@strawberry.type(description="The signed-in account.")
class Me(Node):
    user: strawberry.Private[UserRow]
    own_profile: strawberry.Private[Profile | None]

    @classmethod
    def resolve_id(cls, root: Me, *, info: Info) -> str:
        return str(root.user.id)

    @strawberry.field
    def email(self) -> str:
        return self.user.email

    @strawberry.field
    def status(self) -> UserStatusEnum:  # type: ignore[valid-type]
        return self.user.status

    @strawberry.field
    def created_at(self) -> datetime:
        return self.user.created_at

    @strawberry.field
    def last_active_at(self) -> datetime:
        return self.user.last_active_at

    @strawberry.field(description="null until createProfile.")
    def profile(self) -> OwnProfile | None:
        return OwnProfile(profile=self.own_profile) if self.own_profile else None

    @strawberry.field(description="null until createProfile.")
    async def preferences(self, info: Info) -> PreferencesType | None:
        # `Me` is only ever built for the account it belongs to (the viewer, or the account
        # that just registered or logged in), so its own preferences are readable here.
        row = await profiles.preferences_of(info.context.session, self.user.id)
        return PreferencesType(row=row) if row else None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T] = strawberry.field(description="The edges' nodes, when cursors are not needed.")
    page_info: PageInfo


def connection(page: Page[R], node: Callable[[R], T]) -> Connection[T]:
    """The one way a list reaches the API: a resolver's page, each item made a node."""
    nodes = [node(item) for item in page.items]
    cursors = page.cursors
    return Connection(
        edges=[Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)],
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
    )


async def person(info: Info, user_id: uuid.UUID) -> User | None:
    """Someone else, through the operation's profile loader (None: gone or not active)."""
    profile = await info.context.loaders.profile.load(user_id)
    return User(profile=profile) if profile else None


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_user_id(value: strawberry.ID, field: str = "userId") -> uuid.UUID:
    """A person's id: the global id of their User (or OwnProfile, or Me), or a raw uuid."""
    parsed = parse_id(key_of(value, *PERSON))
    if parsed is None:
        raise Invalid([FieldProblem(field, ErrorCode.INVALID_FORMAT, "Not a user id.")])
    return parsed


def parse_number(value: strawberry.ID, field: str, *type_names: str) -> int:
    """An integer id (matches, requests, conversations, messages): the global id of one of
    `type_names`, or its raw number."""
    key = key_of(value, *type_names)
    if not (key.isascii() and key.isdigit()) or len(key) > 18:
        raise Invalid([FieldProblem(field, ErrorCode.INVALID_FORMAT, f"Not a valid {field}.")])
    return int(key)
