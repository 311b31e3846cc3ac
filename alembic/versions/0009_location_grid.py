"""profiles store only the centre of a fixed 2 km location cell (issue 12, location privacy)

`location_cell(lat, lon)` is matching/grid.py's grid in SQL (the numbers are frozen here, as a
migration's must be; tests/test_location_privacy.py checks that the two agree). A BEFORE
trigger snaps every insert and update of a profile's coordinates, whoever writes them, and
the existing rows are snapped now (their match_index rows follow, by the 0003 triggers).
The exact coordinates people sent before this migration are not kept anywhere.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BANDS = 10007  # floor(pi * 6371 km / 2 km): bands of 2.0001 km
BAND_DEG = f"(CAST(180 AS float8) / {BANDS})"

CELL_FUNCTION = f"""
CREATE FUNCTION location_cell(lat float8, lon float8, OUT cell_lat float8, OUT cell_lon float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CAST(-90 AS float8) + (band + 0.5::float8) * {BAND_DEG},
           CAST(-180 AS float8)
               + (mod(floor((lon + 180::float8) / (360::float8 / cells))::bigint, cells)
                  + 0.5::float8) * (360::float8 / cells)
    FROM (SELECT LEAST(floor((lat + 90::float8) / {BAND_DEG}), {BANDS - 1}) AS band) b
    CROSS JOIN LATERAL (
        SELECT GREATEST(1, floor(360::float8 * cos(radians(GREATEST(
            abs(-90::float8 + band * {BAND_DEG}), abs(-90::float8 + (band + 1) * {BAND_DEG})
        ))) / {BAND_DEG}))::bigint AS cells
    ) c
$$
"""
SNAP_FUNCTION = """
CREATE FUNCTION profiles_snap_location() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.latitude IS NOT NULL AND NEW.longitude IS NOT NULL THEN
        SELECT c.cell_lat, c.cell_lon INTO NEW.latitude, NEW.longitude
        FROM location_cell(NEW.latitude, NEW.longitude) c;
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.execute(CELL_FUNCTION)
    op.execute(SNAP_FUNCTION)
    op.execute(
        "CREATE TRIGGER profiles_snap_location BEFORE INSERT OR UPDATE OF latitude, longitude "
        "ON profiles FOR EACH ROW EXECUTE FUNCTION profiles_snap_location()"
    )
    op.execute("UPDATE profiles SET latitude = latitude WHERE latitude IS NOT NULL")


def downgrade() -> None:
    # The exact coordinates are gone for good: downgrading keeps the snapped ones.
    op.execute("DROP TRIGGER profiles_snap_location ON profiles")
    op.execute("DROP FUNCTION profiles_snap_location()")
    op.execute("DROP FUNCTION location_cell(float8, float8)")
