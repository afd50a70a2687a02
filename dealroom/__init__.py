"""Dealroom: invite-only digital sales rooms for B2B buying committees."""

__version__ = "0.1.0"
