"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from ..invites import BUYER_ROLES
from ..rooms import STAGES


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERRORS = {
    "400": _error("Malformed request (e.g. invalid JSON)"),
    "401": _error("Missing or invalid bearer token"),
    "404": _error("No such object in your organisation"),
    "413": _error("Request body too large"),
    "422": _error("Validation failed; `error.fields` names each field"),
}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _created(schema_ref: str, description: str) -> dict[str, Any]:
    location = {
        "description": "The new object's address in this API",
        "schema": {"type": "string", "format": "uri"},
    }
    return {**_json(schema_ref, description), "headers": {"Location": location}}


def _body(schema_ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


ROOM_ID = {
    "name": "room_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^room_[0-9a-z]+$"},
}
INVITE_ID = {
    "name": "invite_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^inv_[0-9a-z]+$"},
}

STRING_OR_NULL = {"type": ["string", "null"]}
TIMESTAMP = {"type": "string", "format": "date-time"}
TIMESTAMP_OR_NULL = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    },
    "Room": {
        "type": "object",
        "required": [
            "id",
            "name",
            "buyer_company",
            "stage",
            "welcome_message",
            "allowed_domains",
            "invite_expiry_days",
            "archived",
            "url",
            "buyer_url",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "string", "pattern": "^room_[0-9a-z]+$"},
            "name": {"type": "string"},
            "buyer_company": {"type": "string"},
            "stage": {"type": "string", "enum": list(STAGES)},
            "welcome_message": {"type": "string"},
            "allowed_domains": {"type": "array", "items": {"type": "string"}},
            "invite_expiry_days": {"type": "integer"},
            "archived": {"type": "boolean"},
            "url": {"type": "string", "format": "uri", "description": "The room page for sellers"},
            "buyer_url": {
                "type": "string",
                "format": "uri",
                "description": "Where invited buyers land",
            },
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
    "RoomList": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Room"}}},
    },
    "RoomCreate": {
        "type": "object",
        "required": ["name", "buyer_company"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "buyer_company": {"type": "string", "minLength": 1, "maxLength": 200},
            "stage": {"type": "string", "enum": list(STAGES)},
            "welcome_message": {"type": "string", "maxLength": 5000},
            "allowed_domains": {"type": "array", "items": {"type": "string"}},
            "invite_expiry_days": {"type": "integer", "minimum": 1, "maximum": 365},
        },
    },
    "RoomUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "buyer_company": {"type": "string", "minLength": 1, "maxLength": 200},
            "stage": {"type": "string", "enum": list(STAGES)},
            "welcome_message": {"type": "string", "maxLength": 5000},
            "allowed_domains": {"type": "array", "items": {"type": "string"}},
            "invite_expiry_days": {"type": "integer", "minimum": 1, "maximum": 365},
        },
    },
    "Invite": {
        "type": "object",
        "required": [
            "id",
            "email",
            "name",
            "role",
            "status",
            "created_at",
            "first_opened_at",
            "last_seen_at",
        ],
        "properties": {
            "id": {"type": "string", "pattern": "^inv_[0-9a-z]+$"},
            "email": {"type": "string", "format": "email"},
            "name": {"type": "string"},
            "role": {"type": ["string", "null"], "enum": [*BUYER_ROLES, None]},
            "status": {"type": "string", "enum": ["invited", "joined", "revoked"]},
            "link": {
                "type": "string",
                "format": "uri",
                "description": "The personal invite link (only when created)",
            },
            "created_at": TIMESTAMP,
            "first_opened_at": TIMESTAMP_OR_NULL,
            "last_seen_at": TIMESTAMP_OR_NULL,
        },
    },
    "InviteList": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Invite"}}},
    },
    "InviteCreate": {
        "type": "object",
        "required": ["email"],
        "additionalProperties": False,
        "properties": {
            "email": {"type": "string", "format": "email"},
            "name": {"type": "string", "maxLength": 200},
            "role": {"type": "string", "enum": ["", *BUYER_ROLES]},
            "send_email": {
                "type": "boolean",
                "default": True,
                "description": "Email the link to the person",
            },
        },
    },
}


def spec(base_url: str) -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dealroom API",
            "version": "1",
            "description": "Create deal rooms and invite buyers. Authenticate with "
            "`Authorization: Bearer <token>` (create tokens under Settings → API tokens, "
            "or `python -m dealroom create-token`).",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "security": secured,
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
            "/api/v1/rooms": {
                "get": {
                    "operationId": "listRooms",
                    "summary": "List rooms (newest activity first)",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "Search deal or company",
                        },
                        {
                            "name": "archived",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["true", "false"]},
                        },
                    ],
                    "responses": {"200": _json("RoomList", "Rooms"), "401": ERRORS["401"]},
                },
                "post": {
                    "operationId": "createRoom",
                    "summary": "Create a room",
                    "requestBody": _body("RoomCreate"),
                    "responses": {
                        "201": _created("Room", "Created"),
                        **{k: ERRORS[k] for k in ("400", "401", "413", "422")},
                    },
                },
            },
            "/api/v1/rooms/{room_id}": {
                "parameters": [ROOM_ID],
                "get": {
                    "operationId": "getRoom",
                    "summary": "Get a room",
                    "responses": {
                        "200": _json("Room", "The room"),
                        "401": ERRORS["401"],
                        "404": ERRORS["404"],
                    },
                },
                "patch": {
                    "operationId": "updateRoom",
                    "summary": "Change a room",
                    "requestBody": _body("RoomUpdate"),
                    "responses": {
                        "200": _json("Room", "Updated"),
                        **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
                    },
                },
                "delete": {
                    "operationId": "archiveRoom",
                    "summary": "Archive a room (buyers can no longer enter)",
                    "responses": {
                        "200": _json("Room", "Archived"),
                        **{k: ERRORS[k] for k in ("400", "401", "404")},
                    },
                },
            },
            "/api/v1/rooms/{room_id}/invites": {
                "parameters": [ROOM_ID],
                "get": {
                    "operationId": "listInvites",
                    "summary": "List invited people",
                    "responses": {
                        "200": _json("InviteList", "Invites"),
                        "401": ERRORS["401"],
                        "404": ERRORS["404"],
                    },
                },
                "post": {
                    "operationId": "createInvite",
                    "summary": "Invite a buyer; returns their personal link",
                    "requestBody": _body("InviteCreate"),
                    "responses": {
                        "201": _created("Invite", "Invited"),
                        "409": {
                            "description": "Already invited, or the room is archived",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
                        **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
                    },
                },
            },
            "/api/v1/rooms/{room_id}/invites/{invite_id}": {
                "parameters": [ROOM_ID, INVITE_ID],
                "get": {
                    "operationId": "getInvite",
                    "summary": "Get one invite",
                    "responses": {
                        "200": _json("Invite", "The invite"),
                        "401": ERRORS["401"],
                        "404": ERRORS["404"],
                    },
                },
                "delete": {
                    "operationId": "revokeInvite",
                    "summary": "Revoke a person's access",
                    "responses": {
                        "200": _json("Invite", "Revoked"),
                        **{k: ERRORS[k] for k in ("400", "401", "404")},
                    },
                },
            },
        },
    }
