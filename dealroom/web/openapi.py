"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from ..content import TAG_STAGES
from ..dashboard import SORTS as DASHBOARD_SORTS
from ..embeds import LINK_KINDS
from ..exports import KINDS as EXPORT_KINDS
from ..exports import STATUSES as EXPORT_STATUSES
from ..invites import BUYER_ROLES
from ..notes import VISIBILITIES as NOTE_VISIBILITIES
from ..rooms import RETENTION_DAYS, STAGES
from ..scores import COMPONENTS as SCORE_COMPONENTS
from ..scores import HEALTHS as DEAL_HEALTHS
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

RETENTION = {
    "type": "integer",
    "minimum": RETENTION_DAYS[0],
    "maximum": RETENTION_DAYS[1],
    "description": "Raw viewing events older than this many days are deleted; per-viewer totals "
    "and anonymous aggregates are kept (default 365)",
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
            "retention_days",
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
            "retention_days": {"type": "integer", "description": RETENTION["description"]},
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
            "retention_days": RETENTION,
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
            "retention_days": RETENTION,
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
                    # Empty, like absent, means every note (what an HTML form's "any" sends).
                    "schema": {"type": "string", "enum": ["", *NOTE_VISIBILITIES]},
                    "description": "Only notes with this visibility (empty: all)",
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
                    "schema": {"type": "string", "pattern": "^(msg_[0-9a-z]+)?$"},
                    "description": "Messages before this one (the previous page's `earlier`); "
                    "empty: the latest page",
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


# ---------------------------------------------------------------- analytics (intent tracking)

SECONDS = {"type": "integer", "minimum": 0, "description": "Active seconds"}
SCHEMAS.update(
    {
        "ViewerItemAnalytics": {
            "type": "object",
            "required": ["content_id", "active_seconds", "completion", "pages"],
            "properties": {
                "content_id": {"type": "string", "pattern": "^item_[0-9a-z]+$"},
                "active_seconds": SECONDS,
                "completion": {
                    "type": ["number", "null"],
                    "minimum": 0,
                    "maximum": 1,
                    "description": "PDFs: pages read for at least 5 s over the page count; "
                    "videos: seconds watched over the length; null for other kinds",
                },
                "pages": {
                    "type": "object",
                    "description": "PDFs: active seconds per page, keyed by the 1-based page number",
                    "propertyNames": {"pattern": "^[1-9][0-9]*$"},
                    "additionalProperties": SECONDS,
                },
            },
        },
        "ViewerAnalytics": {
            "type": "object",
            "required": [
                "invite_id",
                "email",
                "name",
                "role",
                "active_seconds",
                "visits",
                "last_seen",
                "tracking_paused",
                "items",
            ],
            "properties": {
                "invite_id": {"type": "string", "pattern": "^inv_[0-9a-z]+$"},
                "email": {"type": "string", "format": "email"},
                "name": {"type": "string"},
                "role": {"type": ["string", "null"], "enum": [*BUYER_ROLES, None]},
                "active_seconds": SECONDS,
                "visits": {"type": "integer", "minimum": 0},
                "last_seen": TIMESTAMP_OR_NULL,
                "tracking_paused": {
                    "type": "boolean",
                    "description": "The person paused tracking: nothing is recorded about them "
                    "now (figures are what was recorded before)",
                },
                "items": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ViewerItemAnalytics"},
                },
            },
        },
        "ItemAnalytics": {
            "type": "object",
            "required": ["content_id", "title", "active_seconds", "viewers"],
            "properties": {
                "content_id": {"type": "string", "pattern": "^item_[0-9a-z]+$"},
                "title": {"type": "string"},
                "active_seconds": SECONDS,
                "viewers": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "People who opened it or spent time on it",
                },
            },
        },
        "RoomAnalytics": {
            "type": "object",
            "required": ["viewers", "items"],
            "properties": {
                "viewers": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ViewerAnalytics"},
                    "description": "Every invited person with access, most active first",
                },
                "items": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ItemAnalytics"},
                    "description": "The room's content, in the room's order",
                },
            },
        },
    }
)
ANALYTICS_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/analytics": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "getRoomAnalytics",
            "summary": "Who read what and for how long: active time per person, item and PDF "
            "page (only time with the page visible and the person interacting counts)",
            "responses": {
                "200": _json("RoomAnalytics", "The room's analytics, live to the last seconds"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
    "/api/v1/rooms/{room_id}/events.csv": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "getRoomEventsCsv",
            "summary": "Every raw tracking event kept (within the room's retention), oldest "
            "first, as CSV: UTF-8 with a byte order mark; cells starting with = + - @ are "
            "prefixed with an apostrophe",
            "responses": {
                "200": {
                    "description": "Columns: time_utc, viewer, email, role, event, item_id, item, "
                    "page, active_seconds, video_from, video_to, visit_id",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
}


# ---------------------------------------------------------------- suggestions

SCHEMAS.update(
    {
        "Suggestion": {
            "type": "object",
            "required": ["content_id", "title", "score", "reasons"],
            "properties": {
                "content_id": {"type": "string", "pattern": "^item_[0-9a-z]+$"},
                "title": {"type": "string"},
                "score": {
                    "type": "number",
                    "description": "The sum of the signals' weights (0 in the seller's order); "
                    "only the order matters",
                },
                "reasons": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string"},
                    "description": "Why it is suggested, in plain words, strongest first",
                },
            },
        },
        "Suggestions": {
            "type": "object",
            "required": ["suggestions", "mode"],
            "properties": {
                "suggestions": {
                    "type": "array",
                    "maxItems": 3,
                    "items": {"$ref": "#/components/schemas/Suggestion"},
                },
                "mode": {
                    "type": "string",
                    "enum": ["personalized", "seller_order", "paused"],
                    "description": "seller_order: suggestions off, a small room, or the holdout; "
                    "paused: tracking paused, only stage, role and pins are used",
                },
            },
        },
        "NextAction": {
            "type": "object",
            "required": ["kind", "text"],
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": ["pricing", "reread", "new_people", "overdue_task"],
                },
                "text": {"type": "string"},
                "invite_id": {"type": "string", "pattern": "^inv_[0-9a-z]+$"},
                "content_id": {"type": "string", "pattern": "^item_[0-9a-z]+$"},
                "task_id": {"type": "string", "pattern": "^task_[0-9a-z]+$"},
            },
        },
        "NextActionList": {
            "type": "array",
            "maxItems": 5,
            "items": {"$ref": "#/components/schemas/NextAction"},
        },
        "Pin": {
            "type": "object",
            "required": [
                "id",
                "content_id",
                "title",
                "invite_id",
                "role",
                "target",
                "created_at",
            ],
            "properties": {
                "id": {"type": "string", "pattern": "^pin_[0-9a-z]+$"},
                "content_id": {"type": "string", "pattern": "^item_[0-9a-z]+$"},
                "title": {"type": "string"},
                "invite_id": {
                    "type": ["string", "null"],
                    "pattern": "^inv_[0-9a-z]+$",
                    "description": "Pinned for this person (null: for a role)",
                },
                "role": {
                    "type": ["string", "null"],
                    "enum": [*BUYER_ROLES, None],
                    "description": "Pinned for everyone with this committee role (null: a person)",
                },
                "target": {
                    "type": "string",
                    "description": "The person's name or the role's label",
                },
                "created_at": TIMESTAMP_OR_NULL,
            },
        },
        "PinList": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Pin"}}
            },
        },
        "PinCreate": {
            "type": "object",
            "required": ["content_id"],
            "additionalProperties": False,
            "description": "Give `invite_id` or `role`, not both. Pinning the same item for the "
            "same target again answers the existing pin.",
            "properties": {
                "content_id": {"type": "string", "pattern": "^item_[0-9a-z]+$"},
                "invite_id": {"type": "string", "pattern": "^inv_[0-9a-z]+$"},
                "role": {"type": "string", "enum": list(BUYER_ROLES)},
            },
        },
        "LiftArm": {
            "type": "object",
            "required": [
                "viewers",
                "shown",
                "opened",
                "open_rate",
                "active_seconds",
                "active_seconds_per_viewer",
            ],
            "properties": {
                "viewers": {"type": "integer", "minimum": 0, "description": "People in the group"},
                "shown": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "(person, item) pairs shown at least once",
                },
                "opened": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "... of those, opened after they were first shown",
                },
                "open_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "active_seconds": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Active time on shown items after they were first shown",
                },
                "active_seconds_per_viewer": {"type": ["number", "null"], "minimum": 0},
            },
        },
        "SuggestionLift": {
            "type": "object",
            "required": [
                "rep_id",
                "rooms",
                "suggested",
                "holdout",
                "open_rate_lift",
                "active_time_lift",
                "enough_data",
                "clear",
                "note",
            ],
            "properties": {
                "rep_id": {
                    "type": ["string", "null"],
                    "description": "Whose rooms these are (null: the whole organisation)",
                },
                "rooms": {"type": "integer", "minimum": 0, "description": "Rooms with data"},
                "suggested": {"$ref": "#/components/schemas/LiftArm"},
                "holdout": {
                    "$ref": "#/components/schemas/LiftArm",
                    "description": "Viewers who get the seller's order instead (the holdout)",
                },
                "open_rate_lift": {
                    "type": ["number", "null"],
                    "description": "suggested / holdout open rate - 1 (null: no holdout opens)",
                },
                "active_time_lift": {
                    "type": ["number", "null"],
                    "description": "suggested / holdout active seconds per viewer - 1",
                },
                "enough_data": {
                    "type": "boolean",
                    "description": "Both groups have enough people and items shown for a "
                    "difference to mean anything; when false, read nothing into the figures",
                },
                "clear": {
                    "type": "boolean",
                    "description": "Enough data, and the open-rate difference is beyond what "
                    "chance alone would likely give",
                },
                "note": {"type": "string", "description": "What the figures allow one to say"},
            },
        },
    }
)
PIN_ID = {
    "name": "pin_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^pin_[0-9a-z]+$"},
}
SUGGESTION_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/pins": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "listPins",
            "summary": "Items the seller pinned for a person or a role (they rank first in that "
            "person's suggestions, with the reason)",
            "responses": {
                "200": _json("PinList", "Pins, oldest first"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
        "post": {
            "operationId": "createPin",
            "summary": "Pin an item for one person (`invite_id`) or everyone with a role (`role`)",
            "requestBody": _body("PinCreate"),
            "responses": {
                "201": _created("Pin", "Pinned"),
                **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
            },
        },
    },
    "/api/v1/rooms/{room_id}/pins/{pin_id}": {
        "parameters": [ROOM_ID, PIN_ID],
        "get": {
            "operationId": "getPin",
            "summary": "One pin",
            "responses": {
                "200": _json("Pin", "The pin"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
        "delete": {
            "operationId": "deletePin",
            "summary": "Unpin (answers the pin that was removed)",
            "responses": {
                "200": _json("Pin", "Removed"),
                **{k: ERRORS[k] for k in ("400", "401", "404")},
            },
        },
    },
    "/api/v1/analytics/suggestions": {
        "get": {
            "operationId": "getSuggestionLift",
            "summary": "The measured effect of suggestions: open rate and active time after an "
            "item was shown, suggested vs holdout, with the counts and whether they are enough "
            "to mean anything (a manager's or admin's token: the organisation, or one rep's "
            "rooms with `rep`; a rep's token: the rep's own rooms)",
            "parameters": [
                {
                    "name": "rep",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "A seller's public id (managers and admins; a rep always "
                    "gets own rooms)",
                }
            ],
            "responses": {
                "200": _json("SuggestionLift", "Suggested vs holdout"),
                "401": ERRORS["401"],
                "422": ERRORS["422"],
            },
        },
    },
    "/api/v1/rooms/{room_id}/suggestions": {
        "parameters": [
            ROOM_ID,
            {
                "name": "invite_id",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "pattern": "^inv_[0-9a-z]+$"},
                "description": "The person whose suggestions to show",
            },
        ],
        "get": {
            "operationId": "getSuggestions",
            "summary": "What this person's “Suggested for you” panel shows now, with the reasons "
            "(asking does not count as showing it to them)",
            "responses": {
                "200": _json("Suggestions", "Up to three suggestions"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
                "422": ERRORS["422"],
            },
        },
    },
    "/api/v1/rooms/{room_id}/next-actions": {
        "parameters": [ROOM_ID],
        "get": {
            "operationId": "getNextActions",
            "summary": "Next best actions for the seller, most important first (at most 5; "
            "dismissed ones are left out)",
            "responses": {
                "200": _json("NextActionList", "The actions"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
}


# ---------------------------------------------------------------- exports

EXPORT_ID = {
    "name": "export_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^exp_[0-9a-z]+$"},
}
SCHEMAS.update(
    {
        "Export": {
            "type": "object",
            "required": [
                "id",
                "status",
                "target",
                "room_id",
                "attempts",
                "remote_ids",
                "url",
                "created_at",
                "finished_at",
            ],
            "properties": {
                "id": {"type": "string", "pattern": "^exp_[0-9a-z]+$"},
                "status": {"type": "string", "enum": list(EXPORT_STATUSES)},
                "target": {"type": "string", "enum": list(EXPORT_KINDS)},
                "room_id": {"type": "string", "pattern": "^room_[0-9a-z]+$"},
                "attempts": {"type": "integer", "minimum": 0},
                "remote_ids": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "What exists in the CRM for this room and target, e.g. "
                    '`{"note": "8123", "task:task_…": "9001"}`; re-exports update these',
                },
                "url": {
                    "type": ["string", "null"],
                    "format": "uri",
                    "description": "The CRM record, when the target has one",
                },
                "created_at": TIMESTAMP,
                "finished_at": TIMESTAMP_OR_NULL,
                "next_attempt_at": {
                    **TIMESTAMP,
                    "description": "When a run waiting to retry tries again",
                },
                "error": {
                    "type": "object",
                    "required": ["message", "fix"],
                    "properties": {
                        "message": {"type": "string"},
                        "fix": {"type": "string", "description": "What to do about it"},
                    },
                    "description": "Why the run failed, or why the last attempt did",
                },
                "download_url": {
                    "type": "string",
                    "format": "uri",
                    "description": "File exports (csv, json, markdown): the file, with your token",
                },
            },
        },
        "ExportCreate": {
            "type": "object",
            "required": ["target"],
            "additionalProperties": False,
            "properties": {
                "target": {"type": "string", "enum": list(EXPORT_KINDS)},
                "intro": {"type": "string", "maxLength": 5000, "description": "Markdown"},
                "next_steps": {"type": "string", "maxLength": 5000, "description": "Markdown"},
            },
        },
    }
)
EXPORT_PATHS: dict[str, Any] = {
    "/api/v1/rooms/{room_id}/exports": {
        "parameters": [ROOM_ID],
        "post": {
            "operationId": "createExport",
            "summary": "Export the room's summary to a CRM, the webhook or a file (runs in the "
            "background; poll the export). While one to the same target is queued or running, "
            "that one is returned",
            "requestBody": _body("ExportCreate"),
            "responses": {
                "202": _created("Export", "Queued"),
                **{k: ERRORS[k] for k in ("400", "401", "404", "413", "422")},
            },
        },
    },
    "/api/v1/exports/{export_id}": {
        "parameters": [EXPORT_ID],
        "get": {
            "operationId": "getExport",
            "summary": "An export's status: queued, running, done or failed",
            "responses": {
                "200": _json("Export", "The export"),
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
    "/api/v1/exports/{export_id}/file": {
        "parameters": [EXPORT_ID],
        "get": {
            "operationId": "getExportFile",
            "summary": "The file of a CSV, JSON or Markdown export",
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"type": "object"}},
                        "text/markdown": {"schema": {"type": "string"}},
                    },
                },
                "401": ERRORS["401"],
                "404": ERRORS["404"],
            },
        },
    },
}

# ---------------------------------------------------------------- engagement scores and dashboards

SCORE = {"type": "integer", "minimum": 0, "maximum": 100}
SCORE_OR_NULL = {
    "type": ["integer", "null"],
    "minimum": 0,
    "maximum": 100,
    "description": "null when the part does not apply (no plan yet); it is then left out of "
    "the score and the other weights are scaled up",
}
CLOSED_COUNTS = {
    "type": "object",
    "required": ["opened", "rooms"],
    "properties": {
        "opened": {"type": "integer", "minimum": 0, "description": "Rooms where someone opened it"},
        "rooms": {"type": "integer", "minimum": 0, "description": "Rooms it was placed in"},
    },
}
SCHEMAS.update(
    {
        "RoomScore": {
            "type": "object",
            "required": [
                "room_id",
                "name",
                "owner",
                "stage",
                "score",
                "components",
                "health",
                "reasons",
                "stakeholders_engaged",
                "stakeholders_invited",
                "last_buyer_activity",
            ],
            "properties": {
                "room_id": {"type": "string", "pattern": "^room_[0-9a-z]+$"},
                "name": {"type": "string"},
                "owner": {"type": ["string", "null"], "description": "The rep's email"},
                "stage": {"type": "string", "enum": list(STAGES)},
                "score": SCORE,
                "components": {
                    "type": "object",
                    "description": "Each part 0-100; weights: recency 25, depth 20, breadth 20, "
                    "momentum 15, plan 10, conversation 10",
                    "required": list(SCORE_COMPONENTS),
                    "additionalProperties": False,
                    "properties": {
                        "recency": SCORE,
                        "depth": SCORE,
                        "breadth": SCORE,
                        "momentum": SCORE,
                        "plan": SCORE_OR_NULL,
                        "conversation": SCORE,
                    },
                },
                "health": {"type": "string", "enum": list(DEAL_HEALTHS)},
                "reasons": {
                    "type": "array",
                    "maxItems": 3,
                    "items": {"type": "string"},
                    "description": "The top reasons, in plain words in the token owner's language",
                },
                "stakeholders_engaged": {"type": "integer", "minimum": 0},
                "stakeholders_invited": {"type": "integer", "minimum": 0},
                "last_buyer_activity": TIMESTAMP_OR_NULL,
            },
        },
        "RoomScoreList": {"type": "array", "items": {"$ref": "#/components/schemas/RoomScore"}},
        "ContentEffectiveness": {
            "type": "object",
            "required": [
                "document_id",
                "title",
                "kind",
                "rooms",
                "viewers",
                "avg_active_seconds",
                "completion",
                "active_seconds_in_range",
                "closed_won",
                "closed_lost",
            ],
            "properties": {
                "document_id": {"type": "string", "pattern": "^doc_[0-9a-z]+$"},
                "title": {"type": "string"},
                "kind": {"type": "string"},
                "rooms": {"type": "integer", "minimum": 0, "description": "Rooms using it"},
                "viewers": {"type": "integer", "minimum": 0, "description": "People who opened it"},
                "avg_active_seconds": {**SECONDS, "description": "Per person who opened it"},
                "completion": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "active_seconds_in_range": {**SECONDS, "description": "Within `days`"},
                "closed_won": CLOSED_COUNTS,
                "closed_lost": CLOSED_COUNTS,
            },
        },
        "ContentEffectivenessList": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ContentEffectiveness"},
        },
    }
)
DASHBOARD_FILTERS = [
    {
        "name": "days",
        "in": "query",
        "schema": {"type": "string", "enum": ["7", "30", "90"], "default": "30"},
        "description": "Date range for activity figures",
    },
    {
        "name": "rep",
        "in": "query",
        "schema": {"type": "string"},
        "description": "A seller's public id (managers and admins; a rep always gets own rooms)",
    },
    {"name": "stage", "in": "query", "schema": {"type": "string", "enum": ["", *STAGES]}},
    {"name": "health", "in": "query", "schema": {"type": "string", "enum": ["", *DEAL_HEALTHS]}},
    {
        "name": "sort",
        "in": "query",
        "schema": {"type": "string", "enum": list(DASHBOARD_SORTS), "default": "attention"},
    },
    {"name": "dir", "in": "query", "schema": {"type": "string", "enum": ["", "asc", "desc"]}},
]
DASHBOARD_PATHS: dict[str, Any] = {
    "/api/v1/analytics/rooms": {
        "get": {
            "operationId": "listRoomScores",
            "summary": "Every room of the organisation (a rep's token: the rep's own rooms) with "
            "its engagement score, components, deal health and reasons",
            "parameters": DASHBOARD_FILTERS,
            "responses": {
                "200": _json("RoomScoreList", "Rooms, what needs attention first by default"),
                "401": ERRORS["401"],
                "422": ERRORS["422"],
            },
        },
    },
    "/api/v1/analytics/content": {
        "get": {
            "operationId": "listContentEffectiveness",
            "summary": "For each library item placed in those rooms: rooms using it, readers, "
            "average active time, completion, and how often it was opened in closed-won and "
            "closed-lost rooms (with the counts)",
            "parameters": DASHBOARD_FILTERS,
            "responses": {
                "200": _json("ContentEffectivenessList", "Library items, most read first"),
                "401": ERRORS["401"],
                "422": ERRORS["422"],
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
                    "responses": {
                        "200": _json("RoomList", "Rooms"),
                        "401": ERRORS["401"],
                        "422": ERRORS["422"],
                    },
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
            **ANALYTICS_PATHS,
            **DASHBOARD_PATHS,
            **SUGGESTION_PATHS,
            **EXPORT_PATHS,
        },
    }
