"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from ..content import TAG_STAGES
from ..embeds import LINK_KINDS
from ..invites import BUYER_ROLES
from ..notes import VISIBILITIES as NOTE_VISIBILITIES
from ..rooms import STAGES
from ..tasks import AT_RISK_WITHIN_DAYS
from ..tasks import HEALTHS as TASK_HEALTHS
from ..tasks import STATUSES as TASK_STATUSES


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
            "template_id": {
                "type": "string",
                "pattern": "^tpl_[0-9a-z]+$",
                "description": "Only when the room was just created from a template: that template",
            },
            "skipped_documents": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only when the room was just created from a template: titles of "
                "the template's documents left out because they are archived in the library",
            },
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
            "template_id": {
                "type": ["string", "null"],
                "description": "Create the room from this room template (see GET "
                "/api/v1/templates): its sections, library documents and action plan, with due "
                "dates counted from today. A stage or welcome message not given (or empty) "
                "comes from the template. An unknown or archived template is a 422 naming "
                "`template_id`; null or empty makes a blank room.",
            },
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


# ---------------------------------------------------------------- meeting notes

NOTE_ID = {
    "name": "note_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^note_[0-9a-z]+$"},
}
VISIBILITY = {
    "type": "string",
    "enum": list(NOTE_VISIBILITIES),
    "description": "`internal`: only the seller's team; `shared`: the room's buyers see it too",
}
SCHEMAS.update(
    {
        "Note": {
            "type": "object",
            "required": [
                "id",
                "title",
                "meeting_date",
                "attendees",
                "body",
                "body_html",
                "visibility",
                "revision",
                "url",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "id": {"type": "string", "pattern": "^note_[0-9a-z]+$"},
                "title": {"type": "string"},
                "meeting_date": {"type": "string", "format": "date"},
                "attendees": {"type": "array", "items": {"type": "string"}},
                "body": {"type": "string", "description": "Markdown source"},
                "body_html": {
                    "type": "string",
                    "description": "The body as sanitized HTML (no script, no event handlers)",
                },
                "visibility": VISIBILITY,
                "revision": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Version number; every saved edit adds one",
                },
                "url": {"type": "string", "format": "uri", "description": "The note's page"},
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            },
        },
        "NoteList": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}}
            },
        },
        "NoteCreate": {
            "type": "object",
            "required": ["title", "meeting_date", "body"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "meeting_date": {"type": "string", "format": "date"},
                "attendees": {
                    "description": "Names: an array, or one comma separated string",
                    "oneOf": [
                        {"type": "array", "items": {"type": "string", "maxLength": 100}},
                        {"type": "string"},
                    ],
                },
                "body": {"type": "string", "minLength": 1, "maxLength": 50000},
                "visibility": {**VISIBILITY, "default": "internal"},
            },
        },
    }
)
NOTE_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/notes": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "listNotes",
            "summary": "List a room's meeting notes, newest meeting first",
            "parameters": [
                {
                    "name": "visibility",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(NOTE_VISIBILITIES)},
                    "description": "Only notes with this visibility",
                }
            ],
            "responses": {
                "200": _json("NoteList", "Notes"),
                **{k: ERRORS[k] for k in ("401", "404", "422")},
            },
        },
        "post": {
            "operationId": "createNote",
            "summary": "Add a meeting note (internal unless `visibility` is `shared`)",
            "requestBody": _body("NoteCreate"),
            "responses": {
                "201": _created("Note", "Created"),
                **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
            },
        },
    },
    "/api/v1/rooms/{room_id}/notes/{note_id}": {
        "parameters": [ROOM_ID, NOTE_ID],
        "get": {
            "operationId": "getNote",
            "summary": "Get one meeting note",
            "responses": {
                "200": _json("Note", "The note"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
}


# ---------------------------------------------------------------- mutual action plan

DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
SCHEMAS.update(
    {
        "Task": {
            "type": "object",
            "required": [
                "id",
                "milestone",
                "title",
                "notes",
                "status",
                "due_date",
                "overdue",
                "owner",
                "created_at",
                "updated_at",
                "completed_at",
            ],
            "properties": {
                "id": {"type": "string", "pattern": "^task_[0-9a-z]+$"},
                "milestone": {
                    "type": "object",
                    "required": ["id", "title"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^ms_[0-9a-z]+$"},
                        "title": {"type": "string"},
                    },
                },
                "title": {"type": "string"},
                "notes": {"type": "string"},
                "status": {"type": "string", "enum": list(TASK_STATUSES)},
                "due_date": DATE_OR_NULL,
                "overdue": {
                    "type": "boolean",
                    "description": "Due before today (UTC) and not done",
                },
                "owner": {
                    "type": ["object", "null"],
                    "required": ["id", "name", "side"],
                    "properties": {
                        "id": {
                            "type": "string",
                            "pattern": "^(usr|inv)_[0-9a-z]+$",
                            "description": "A seller (`usr_…`) or an invited buyer (`inv_…`)",
                        },
                        "name": {"type": "string"},
                        "side": {"type": "string", "enum": ["seller", "buyer"]},
                    },
                },
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
                "completed_at": TIMESTAMP_OR_NULL,
            },
        },
        "TaskList": {
            "type": "object",
            "required": ["data", "plan"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
                "plan": {
                    "type": "object",
                    "required": ["done", "total", "health", "overdue"],
                    "properties": {
                        "done": {"type": "integer", "minimum": 0},
                        "total": {"type": "integer", "minimum": 0},
                        "health": {
                            "type": "string",
                            "enum": list(TASK_HEALTHS),
                            "description": "`overdue`: an open task is past due; `at_risk`: a task "
                            f"is blocked or due within {AT_RISK_WITHIN_DAYS} days",
                        },
                        "overdue": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
        "TaskCreate": {
            "type": "object",
            "required": ["title"],
            "additionalProperties": False,
            "description": "Give `milestone_id`, or `milestone` (a title; created when missing).",
            "properties": {
                "milestone_id": {"type": "string", "pattern": "^ms_[0-9a-z]+$"},
                "milestone": {"type": "string", "minLength": 1, "maxLength": 200},
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "owner_id": {
                    "type": ["string", "null"],
                    "description": "A seller of your organisation (`usr_…`) or a buyer "
                    "invited to this room (`inv_…`)",
                },
                "due_date": DATE_OR_NULL,
                "notes": {"type": "string", "maxLength": 5000},
                "status": {"type": "string", "enum": list(TASK_STATUSES), "default": "todo"},
            },
        },
    }
)
TASK_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/tasks": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "listTasks",
            "summary": "List the mutual action plan's tasks, milestone by milestone",
            "responses": {
                "200": _json("TaskList", "Tasks, with the plan's progress and health"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
        "post": {
            "operationId": "createTask",
            "summary": "Add a task to the plan",
            "requestBody": _body("TaskCreate"),
            "responses": {
                "201": _json("Task", "Created"),
                "409": _error("The room is archived"),
                **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
            },
        },
    },
}


# ---------------------------------------------------------------- content

TAGS = {
    "stages": {"type": "array", "items": {"type": "string", "enum": list(TAG_STAGES)}},
    "roles": {"type": "array", "items": {"type": "string", "enum": list(BUYER_ROLES)}},
}
TAGS_IN = {
    key: {
        "oneOf": [schema, {"type": "string", "description": "A comma separated list"}],
        "description": f"Default {key} tags of the item",
    }
    for key, schema in TAGS.items()
}
SCHEMAS.update(
    {
        "ContentItem": {
            "type": "object",
            "required": [
                "id",
                "document_id",
                "kind",
                "title",
                "file_kind",
                "link_kind",
                "url",
                "pages",
                "version",
                "section",
                "stages",
                "roles",
                "allow_download",
                "in_library",
                "created_at",
            ],
            "properties": {
                "id": {
                    "type": "string",
                    "pattern": "^item_[0-9a-z]+$",
                    "description": "The room item (a document placed in this room)",
                },
                "document_id": {"type": "string", "pattern": "^doc_[0-9a-z]+$"},
                "kind": {"type": "string", "enum": ["file", "link"]},
                "title": {"type": "string"},
                "file_kind": {
                    "type": ["string", "null"],
                    "enum": ["pdf", "image", "video", "office", "text", None],
                },
                "link_kind": {
                    "type": ["string", "null"],
                    "enum": [*LINK_KINDS, None],
                    "description": "YouTube, Vimeo and Loom links play embedded in the room",
                },
                "url": {"type": ["string", "null"], "format": "uri"},
                "pages": {
                    "type": ["integer", "null"],
                    "description": "Page count of a PDF's current version",
                },
                "version": {"type": "integer", "minimum": 1},
                "section": STRING_OR_NULL,
                **TAGS,
                "allow_download": {"type": "boolean"},
                "in_library": {
                    "type": "boolean",
                    "description": "From the organisation's content library (shared by rooms)",
                },
                "created_at": TIMESTAMP,
            },
        },
        "ContentItemList": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/ContentItem"}}
            },
        },
        "ContentLinkCreate": {
            "type": "object",
            "required": ["kind", "url"],
            "additionalProperties": False,
            "properties": {
                "kind": {"const": "link"},
                "url": {"type": "string", "maxLength": 2000, "description": "http(s) only"},
                "title": {"type": "string", "maxLength": 200},
                "section": {
                    "type": "string",
                    "maxLength": 200,
                    "description": "Section title; created when the room has none by that name",
                },
                **TAGS_IN,
            },
        },
        "ContentFileUpload": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "string",
                    "contentMediaType": "application/octet-stream",
                    "description": "PDF, image, MP4/WebM video, Office or text file; its type "
                    "is read from its bytes",
                },
                "title": {"type": "string", "maxLength": 200},
                "section": {"type": "string", "maxLength": 200},
                "stages": {"type": "string", "description": "Comma separated"},
                "roles": {"type": "string", "description": "Comma separated"},
            },
        },
    }
)
CONTENT_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/content": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "listContent",
            "summary": "List a room's content, section by section",
            "responses": {
                "200": _json("ContentItemList", "The room's items"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
        "post": {
            "operationId": "addContent",
            "summary": "Upload a file (multipart/form-data) or add a link (JSON) to a room",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {"$ref": "#/components/schemas/ContentFileUpload"}
                    },
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ContentLinkCreate"}
                    },
                },
            },
            "responses": {
                "201": _json("ContentItem", "Added"),
                **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
            },
        },
    },
}


# ---------------------------------------------------------------- chat

MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^msg_[0-9a-z]+$"},
}
SCHEMAS.update(
    {
        "Message": {
            "type": "object",
            "required": [
                "id",
                "author",
                "body",
                "body_html",
                "internal",
                "mentions",
                "created_at",
            ],
            "properties": {
                "id": {"type": "string", "pattern": "^msg_[0-9a-z]+$"},
                "author": {
                    "type": "object",
                    "required": ["type", "id", "name"],
                    "properties": {
                        "type": {"type": "string", "enum": ["seller", "buyer"]},
                        "id": {
                            "type": "string",
                            "description": "A seller (`usr_…`) or an invited buyer (`inv_…`)",
                        },
                        "name": {"type": "string"},
                    },
                },
                "body": {"type": "string", "description": "Markdown source"},
                "body_html": {
                    "type": "string",
                    "description": "The body as sanitized HTML (no script, no event handlers)",
                },
                "internal": {
                    "type": "boolean",
                    "description": "A note for the seller team only; buyers never see it",
                },
                "mentions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Ids of the room members the message @mentions",
                },
                "created_at": TIMESTAMP,
            },
        },
        "MessageList": {
            "type": "object",
            "required": ["data", "earlier"],
            "properties": {
                "data": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Message"},
                    "description": "Oldest first",
                },
                "earlier": {
                    "type": ["string", "null"],
                    "description": "Pass as `before` for the previous page; null at the start",
                },
            },
        },
        "MessageCreate": {
            "type": "object",
            "required": ["body"],
            "additionalProperties": False,
            "properties": {
                "body": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 4000,
                    "description": "Markdown; `@name` or `@email` mentions notify room members",
                },
                "internal": {
                    "type": "boolean",
                    "default": False,
                    "description": "Only the seller team sees it",
                },
            },
        },
    }
)
CHAT_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/messages": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "listMessages",
            "summary": "A page of the room's chat, internal notes included (latest first page)",
            "parameters": [
                {
                    "name": "before",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^msg_[0-9a-z]+$"},
                    "description": "Messages before this one (the previous page's `earlier`)",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
            ],
            "responses": {
                "200": _json("MessageList", "Messages, oldest first"),
                **{k: ERRORS[k] for k in ("401", "404", "422")},
            },
        },
        "post": {
            "operationId": "postMessage",
            "summary": "Write in the room's chat as the token's seller (live for everyone)",
            "requestBody": _body("MessageCreate"),
            "responses": {
                "201": _created("Message", "Posted"),
                "409": _error("The room is archived"),
                "429": _error("Too many messages; `Retry-After` says when to try again"),
                **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
            },
        },
    },
    "/api/v1/rooms/{room_id}/messages/{message_id}": {
        "parameters": [ROOM_ID, MESSAGE_ID],
        "get": {
            "operationId": "getMessage",
            "summary": "One message",
            "responses": {
                "200": _json("Message", "The message"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
}


# ---------------------------------------------------------------- room templates

SCHEMAS.update(
    {
        "Template": {
            "type": "object",
            "required": [
                "id",
                "name",
                "description",
                "stage",
                "welcome_message",
                "sections",
                "documents",
                "tasks",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "id": {"type": "string", "pattern": "^tpl_[0-9a-z]+$"},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "stage": {"type": "string", "enum": list(STAGES)},
                "welcome_message": {"type": "string"},
                "sections": {"type": "integer", "minimum": 0},
                "documents": {"type": "integer", "minimum": 0},
                "tasks": {"type": "integer", "minimum": 0},
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            },
        },
        "TemplateList": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}}
            },
        },
    }
)
TEMPLATE_PATHS: dict[str, Any] = {
    "/api/v1/templates": {
        "get": {
            "operationId": "listTemplates",
            "summary": "The organisation's active room templates, by name (pass an id as "
            "`template_id` when creating a room)",
            "responses": {"200": _json("TemplateList", "Templates"), "401": ERRORS["401"]},
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
                    "summary": "Create a room, blank or from a room template",
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
            **NOTE_PATHS,
            **TASK_PATHS,
            **CONTENT_PATHS,
            **CHAT_PATHS,
            **TEMPLATE_PATHS,
        },
    }
