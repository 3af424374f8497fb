"""Running everything on one machine: embedded PostgreSQL and Redis, and the `urgence up` supervisor."""
