"""Who is calling and what they may do: roles, leads, tokens."""

from services.core.access.principal import LEAD_MUS, ROLES, Principal, validate_grant, validate_lead

__all__ = ["LEAD_MUS", "ROLES", "Principal", "validate_grant", "validate_lead"]
