"""Who is calling and what they may do: roles, leads, tokens."""

from services.core.access.principal import ROLES, Principal, validate_grant, validate_lead

__all__ = ["ROLES", "Principal", "validate_grant", "validate_lead"]
