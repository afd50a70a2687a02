"""Absolute URLs that leave the app (emails, API answers), built from the base URL and signer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .security import Signer

if TYPE_CHECKING:
    from .accounts import TeamInvite
    from .invites import Invite
    from .rooms import Room


class Links:
    def __init__(self, signer: Signer, base_url: str) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")

    def invite(self, invite: Invite) -> str:
        return f"{self.base_url}/i/{self.signer.sign('invite', {'i': invite.public_id})}"

    def team_invite(self, invite: TeamInvite) -> str:
        return f"{self.base_url}/join/{self.signer.sign('team-invite', {'t': invite.public_id})}"

    def buyer_room(self, room: Room) -> str:
        return f"{self.base_url}/r/{room.public_id}"

    def seller_room(self, room: Room) -> str:
        return f"{self.base_url}/rooms/{room.public_id}"

    def login(self) -> str:
        return f"{self.base_url}/login"
