"""The location grid: every stored coordinate is the centre of a fixed cell at least CELL_KM
on a side, so nothing computed from locations (distances, distance limits, scores, ranking)
can place a person more finely than their cell, however many requests are combined.

The grid is fixed on the globe (not relative to anyone): latitude is cut into BANDS bands of
equal height (180 / BANDS degrees, CELL_KM km or a little more), and each band into as many
equal longitude steps as fit at its poleward edge, so that no cell is narrower than CELL_KM
(a band near a pole is one cap). A point's cell is found with floor(); its centre is what is
stored. Moving within a cell changes nothing anyone can observe.

Random noise would not do: it averages out over repeated reads. Snapping is deterministic.

The same grid is written in SQL by migration 0009 (`location_cell`), which also snaps every
profile row on insert and update (a BEFORE trigger), so no write path can store finer; the
two are checked to agree by tests/test_location_privacy.py.
"""

from __future__ import annotations

import math

CELL_KM = 2.0  # the side of a cell, at least; README "Privacy" says why 2 km
EARTH_KM = 6371.0  # the radius the haversine distance uses (matching/candidates.py)
BANDS = int(math.pi * EARTH_KM // CELL_KM)  # 10,007 bands of 2.0001 km
BAND_DEG = 180.0 / BANDS


def cells_in_band(band: int) -> int:
    """How many cells band `band` holds: as many as fit CELL_KM wide at its poleward edge."""
    edge = max(abs(-90.0 + band * BAND_DEG), abs(-90.0 + (band + 1) * BAND_DEG))
    return max(1, math.floor(360.0 * math.cos(math.radians(edge)) / BAND_DEG))


def cell(latitude: float, longitude: float) -> tuple[int, int]:
    """(band, column) of the cell holding a point; longitude 180 is longitude -180."""
    band = min(math.floor((latitude + 90.0) / BAND_DEG), BANDS - 1)
    count = cells_in_band(band)
    return band, math.floor((longitude + 180.0) / (360.0 / count)) % count


def snap(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the point's cell: the only coordinates Rapport stores."""
    band, column = cell(latitude, longitude)
    step = 360.0 / cells_in_band(band)
    return -90.0 + (band + 0.5) * BAND_DEG, -180.0 + (column + 0.5) * step
