"""The contract's pagination of lists: `?limit=` (default 50, at most 500) and an opaque `?cursor=`."""

from __future__ import annotations

DEFAULT_PAGE = 50
MAX_PAGE = 500
