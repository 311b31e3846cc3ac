"""Object types shared by the domains: the viewer, public users, own profile, preferences.
Built from their rows (fields are attributes set once); only fields that need a loader or the
database resolve."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import ClassVar, Generic, TypeVar

import strawberry

from models import Gender, Intent, MentorshipRole, Preferences, Profile, UserStatus
from models import User as UserRow
from models.profiles import age_on
from rapport.errors import ErrorCode, FieldProblem, Invalid
from resolvers import profiles
from resolvers.pagination import Page
from schema.context import Info
from schema.ids import PERSON, Node, global_id, id_field, key_of

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


# Types are built from their rows: each field is a plain attribute, set once when the type is
# made (Strawberry reads those with its default resolver, the cheapest path it has; a method per
# field costs a resolver call per field per object). Only fields that need the database or
# the request have resolvers. A resolved field that sits among the attributes is declared in
# its place, `name: T = strawberry.field(resolver=_name)`: a decorated method would go after
# every attribute in the SDL (declaration order is SDL order).


@strawberry.type(description="Someone else's profile: public fields only.")
class User(Node):
    profile: strawberry.Private[Profile]
    _id: strawberry.ID = id_field()
    display_name: str
    age: int
    bio: str
    goals: str
    height_cm: int | None
    gender: GenderEnum  # type: ignore[valid-type]
    city: str | None = strawberry.field(description="City only: coordinates stay private.")
    photo_urls: list[str] = strawberry.field(
        description="https URLs, in the owner's order (at most 6)."
    )
    social_links: list[SocialLink]
    intent: IntentEnum  # type: ignore[valid-type]
    mentorship_role: MentorshipRoleEnum | None  # type: ignore[valid-type]
    expertise: list[str]

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._id = global_id(self._type_name, profile.user_id)
        self.display_name = profile.display_name
        self.age = age_on(profile.birth_date, today())
        self.bio = profile.bio
        self.goals = profile.goals
        self.height_cm = profile.height_cm
        self.gender = profile.gender
        self.city = profile.city
        self.photo_urls = profile.photo_urls
        self.social_links = [
            SocialLink(platform=s["platform"], url=s["url"]) for s in profile.social_links
        ]
        self.intent = profile.intent
        self.mentorship_role = profile.mentorship_role  # type: ignore[assignment]
        self.expertise = profile.expertise

    _type_name: ClassVar[str] = "User"  # its subclasses' ids name their own type

    @classmethod
    def resolve_id(cls, root: User, *, info: Info) -> str:
        return str(root.profile.user_id)

    @strawberry.field
    async def interests(self, info: Info) -> list[str]:
        return await info.context.loaders.interests.load(self.profile.user_id)


@strawberry.type(description="Your own profile, every field.")
class OwnProfile(User):
    _type_name: ClassVar[str] = "OwnProfile"
    birth_date: date
    location: Location | None
    updated_at: datetime

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.birth_date = profile.birth_date
        self.updated_at = profile.updated_at
        p = profile
        self.location = (
            None
            if p.city is None or p.latitude is None or p.longitude is None
            else Location(city=p.city, latitude=p.latitude, longitude=p.longitude)
        )


@strawberry.type(name="Preferences", description="Whom you want to be shown. Only you can read it.")
class PreferencesType(Node):
    """Keyed by its owner: one set of preferences per person."""

    row: strawberry.Private[Preferences]
    age_min: int
    age_max: int
    height_min_cm: int | None
    height_max_cm: int | None
    genders: list[GenderEnum]  # type: ignore[valid-type]
    max_distance_km: int | None = strawberry.field(description="null: any distance.")
    intents: list[IntentEnum]  # type: ignore[valid-type]

    def __init__(self, row: Preferences) -> None:
        self.row = row
        self.age_min, self.age_max = row.age_min, row.age_max
        self.height_min_cm, self.height_max_cm = row.height_min_cm, row.height_max_cm
        self.genders = [Gender(g) for g in row.genders]
        self.max_distance_km = row.max_distance_km
        self.intents = [Intent(i) for i in row.intents]

    @classmethod
    def resolve_id(cls, root: PreferencesType, *, info: Info) -> str:
        return str(root.row.user_id)


@strawberry.type(description="The signed-in account.")
class Me(Node):
    user: strawberry.Private[UserRow]
    email: str
    status: UserStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    last_active_at: datetime
    profile: OwnProfile | None = strawberry.field(description="null until createProfile.")

    def __init__(self, user: UserRow, own_profile: Profile | None) -> None:
        self.user = user
        self.email, self.status = user.email, user.status
        self.created_at, self.last_active_at = user.created_at, user.last_active_at
        self.profile = OwnProfile(own_profile) if own_profile else None

    @classmethod
    def resolve_id(cls, root: Me, *, info: Info) -> str:
        return str(root.user.id)

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
