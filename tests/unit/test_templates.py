"""Route templates group generated path segments and keep words."""

from __future__ import annotations

import pytest

from app.ingest.templates import route_template


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", "/"),
        ("/users/123", "/users/:id"),
        ("/users/123/orders/98765", "/users/:id/orders/:id"),
        ("/p/9f8e2c1a7b", "/p/:hash"),
        ("/t/550e8400-e29b-41d4-a716-446655440000", "/t/:uuid"),
        ("/archive/2026-11-23", "/archive/:date"),
        ("/s/V1StGXR8_Z5jdHi6B-myT", "/s/:hash"),
        ("/blog/hello-world", "/blog/hello-world"),
        ("/blog/2024-in-review", "/blog/2024-in-review"),
        ("/docs/getting-started/", "/docs/getting-started/"),
        ("/api/v2/items", "/api/v2/items"),
        ("/cafe/decade", "/cafe/decade"),  # hex letters only: a word, not a hash
        ("/team/alice", "/team/alice"),
    ],
)
def test_route_template(path: str, route: str) -> None:
    assert route_template(path) == route
