"""The OpenAPI 3.1 description of every endpoint, served at /openapi.json."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from keys.answer import AnswerJSON
from keys.record import json_schema as record_schema

from .documents_api import FileReportJSON
from .inspections.ingest import MAX_BATCH
from .inspections.record import Flag
from .inspections.record import json_schema as inspection_schema
from .store.results import RefusalsPageJSON

_COMPONENT = "#/components/schemas/{model}"

_ERROR = {"type": "object", "required": ["code", "message"],
          "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
_NULLABLE_STR = {"type": ["string", "null"]}
_CHANGE = {"type": "object", "required": ["outcome", "registration_no"], "properties": {
    "outcome": {"enum": ["created", "unchanged", "changed"]}, "registration_no": {"type": "string"},
    "version": {"type": ["integer", "null"]}, "before": _NULLABLE_STR, "after": _NULLABLE_STR}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _COMPONENT.format(model=name)}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_ref)}}}


def _record_components() -> dict[str, Any]:
    """The certificate record and its parts: docs/record.schema.json, its definitions placed as components."""
    record = record_schema(_COMPONENT)
    parts = record.pop("$defs")
    del record["$schema"]
    return {"Record": record, **parts}


def _generated(*groups: dict[str, Any]) -> dict[str, Any]:
    """Schemas generated from several sets of types: a name two of them use would silently replace one."""
    merged: dict[str, Any] = {}
    for group in groups:
        if twice := merged.keys() & group.keys():
            raise ValueError(f"OpenAPI schema names made twice: {sorted(twice)}")
        merged.update(group)
    return merged


def _answer_components() -> dict[str, Any]:
    """The answer (keys.answer.AnswerJSON, the type Answer.to_json returns) and its parts, as components."""
    answer = TypeAdapter(AnswerJSON).json_schema(ref_template=_COMPONENT, mode="serialization")
    parts = answer.pop("$defs")
    return {"Answer": answer, **parts}


def _file_components() -> dict[str, Any]:
    """What POST /api/v1/verify-file answers (verify_api.documents_api.FileReportJSON) and its own parts; its
    codes are the answers above."""
    report = TypeAdapter(FileReportJSON).json_schema(ref_template=_COMPONENT, mode="serialization")
    parts = report.pop("$defs")
    own = {"FileReport": report, "FileSignature": parts["FileSignatureJSON"], "FileSigner": parts["SignerJSON"]}
    text = json.dumps(own)
    for generated, name in (("FileSignatureJSON", "FileSignature"), ("SignerJSON", "FileSigner"), ("AnswerJSON", "Answer")):
        text = text.replace(f'"{_COMPONENT.format(model=generated)}"', f'"{_COMPONENT.format(model=name)}"')
    return json.loads(text)


def _refusal_components() -> dict[str, Any]:
    """A page of refused attempts (verify_api.store.results.RefusalsPageJSON) and one refusal."""
    page = TypeAdapter(RefusalsPageJSON).json_schema(ref_template=_COMPONENT, mode="serialization")
    parts = page.pop("$defs")
    text = json.dumps({"RefusalsPage": page, "Refusal": parts["RefusalJSON"]})
    return json.loads(text.replace(f'"{_COMPONENT.format(model="RefusalJSON")}"', f'"{_COMPONENT.format(model="Refusal")}"'))


def _file_path() -> dict[str, Any]:
    busy = {**_json("Error", "Every decoding slot busy: retry after Retry-After seconds"),
            "headers": {"Retry-After": {"schema": {"type": "string"}}}}
    upload = {"type": "object", "required": ["file"], "properties": {"file": {
        "type": "string", "format": "binary",
        "description": "an OFD e-certificate, a PDF, or a photo or screenshot (PNG, JPEG); at most 10 MB"}}}
    return {"/api/v1/verify-file": {"post": {
        "summary": "Check an e-certificate file: its seals (OFD) and the QR codes in it, resolved; the file is not kept",
        "operationId": "verifyFile",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": upload}}},
        "responses": {"200": _json("FileReport", "The file's report, each code with its answer"),
                      "415": _json("Error", "Not multipart, or not an OFD, PDF or picture"),
                      "422": _json("Error", "An OFD that cannot be read or is refused as hostile"),
                      "503": busy, **_errors(400, 413, 429)}}}}


def _inspection_components() -> dict[str, Any]:
    """The uploaded inspection record (verify_api/inspections/record.py's types), what an upload answers,
    and a record as supervisors' systems read it back."""
    record = inspection_schema(_COMPONENT)
    parts = record.pop("$defs")
    flag = {"enum": [f.value for f in Flag], "description": "; ".join(f"{f.value}: {f.zh} / {f.en}" for f in Flag)}
    read_back = {"type": "object", "description": "The record as uploaded, without its photo, and what the service "
                 "added; the inspector's name and phone numbers in the note are masked unless the token allows",
                 "required": ["id", "qr", "checked_at", "shown", "plate", "location", "note", "has_photo", "flags",
                              "received_at", "inspector", "found"],
                 "properties": {**{k: v for k, v in record["properties"].items() if k != "photo"},
                                "has_photo": {"type": "boolean"}, "flags": {"type": "array", "items": flag},
                                "received_at": {"type": "string", "format": "date-time"},
                                "inspector": {"type": "object", "required": ["token_id", "region", "name"],
                                              "properties": {"token_id": {"type": "string"},
                                                             "region": {"type": "string"},
                                                             "name": {"type": "string"}}},
                                "found": {"type": "object", "description": "what the service found at receipt",
                                          "properties": {"registration_no": {"type": "string"},
                                                         "version": {"type": ["integer", "null"]},
                                                         "issuer": {"type": "string"}, "state": _ref("State"),
                                                         "signature": _ref("SignatureResult")}}}}
    result = {"type": "object", "required": ["id", "outcome", "flags", "reason"], "properties": {
        "id": _NULLABLE_STR, "outcome": {"enum": ["stored", "duplicate", "refused"]},
        "flags": {"type": "array", "items": {"type": "object", "required": ["code", "zh", "en"], "properties": {
            "code": flag, "zh": {"type": "string"}, "en": {"type": "string"}}}},
        "reason": {"type": "string", "description": "why a record was refused, naming the field; else empty"}}}
    return {"InspectionRecord": record, **parts, "InspectionRead": read_back, "UploadResult": result,
            "InspectionBatch": {"type": "object", "required": ["inspections"], "properties": {
                "inspections": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _ref("InspectionRecord")}}},
            "UploadResults": {"type": "object", "required": ["results"], "properties": {
                "results": {"type": "array", "items": _ref("UploadResult")},
                "code": {"type": "string", "description": "all_refused, with the 422"},
                "message": {"type": "string"}}},
            "InspectionPage": {"type": "object", "required": ["inspections", "next", "more"], "properties": {
                "inspections": {"type": "array", "items": _ref("InspectionRead")}, "next": _CURSOR,
                "more": {"type": "boolean"}}},
            "Enrolment": {"type": "object", "required": ["token", "role", "region", "name", "expires_at"],
                          "properties": {"token": {"type": "string"},
                                         "role": {"enum": ["issuer", "inspector", "supervisor"]},
                                         "region": {"type": "string"}, "name": {"type": "string"},
                                         "expires_at": {"type": ["string", "null"], "format": "date-time"}}}}


def _inspection_paths() -> dict[str, Any]:
    return {
        "/api/v1/inspections": {
            "post": {"summary": "Upload inspection records; each id is stored once", "operationId": "uploadInspections",
                     "security": [{"inspectorToken": []}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref("InspectionBatch")}}},
                     "responses": {"200": _json("UploadResults", "Each record stored, a duplicate, or refused"),
                                   "422": _json("UploadResults", "Every record refused, each with its reason"),
                                   **_errors(400, 401, 403, 413, 415, 429, 503)}},
            "get": {"summary": "A supervisor's region's inspection records in order of receipt",
                    "operationId": "readInspections", "security": [{"supervisorToken": []}],
                    "parameters": [{"name": "since", "in": "query", "schema": _CURSOR},
                                   {"name": "limit", "in": "query", "schema": {
                                       "type": "integer", "description": "records per page, default 500; values "
                                                                         "outside 1-5000 are clamped"}}],
                    "responses": {"200": _json("InspectionPage", "One page"), **_errors(400, 401, 403, 429, 503)}}},
        "/api/v1/enrol": {"post": {
            "summary": "Exchange a one-time enrolment code for its token", "operationId": "enrol", "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["code"], "properties": {"code": {
                    "type": "string", "description": "the code, or the whole enrolment QR text"}}}}}},
            "responses": {"200": _json("Enrolment", "The token, once"),
                          **_errors(400, 404, 413, 415, 429, 503)}}},
    }


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Bad request", 401: "Missing or wrong token", 403: "Another issuer's certificate",
             404: "Not found", 409: "Conflict or refused transition", 413: "Too large", 415: "Not JSON",
             422: "Payload refused", 429: "Rate limited", 503: "Store unavailable"}
    return {str(c): _json("Error", words[c]) for c in codes}


# A cursor is "0" or a Redis stream id from a previous page.
_CURSOR = {"type": "string", "pattern": "^(0|[0-9]{1,20}-[0-9]{1,20})$"}
_REG_PATH = {"name": "registration_no", "in": "path", "required": True, "schema": {"type": "string"}}
_REASON = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S",
           "description": "Why; not blank, at most 200 characters"}
_SIGNED_RECORD: dict[str, Any] = {"type": "object", "required": ["record"], "properties": {
    "record": _ref("Record"),
    "qr_text": {"type": "string", "description": "The signed QR text; required unless paper"}}}


def spec(public_url: str) -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"issuerToken": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Crane certificate verification", "version": "1.0.0",
                 "description": "Resolve a QR code of a crane use-registration certificate (建筑起重机械使用登记证书) "
                                "to its signature validity and registry status."},
        "servers": [{"url": public_url}],
        "paths": {
            "/api/v1/verify": {
                "post": {"summary": "Resolve any QR text", "operationId": "verifyPost",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["qr"], "properties": {"qr": {"type": "string"}}}}}},
                         "responses": {"200": _json("Answer", "The answer, for any text"),
                                       **_errors(400, 413, 415, 429)}},
                "get": {"summary": "Resolve any QR text", "operationId": "verifyGet",
                        "parameters": [{"name": "qr", "in": "query", "required": True, "schema": {"type": "string"}}],
                        "responses": {"200": _json("Answer", "The answer, for any text"),
                                      **_errors(400, 413, 429)}},
            },
            "/api/v1/certificates/{registration_no}": {"get": {
                "summary": "Look a certificate up by its registration and property record numbers",
                "operationId": "certificate",
                "parameters": [_REG_PATH, {"name": "record_no", "in": "query", "required": True,
                                           "schema": {"type": "string"}}],
                "responses": {"200": _json("Answer", "Both numbers match"), **_errors(404, 429, 503)}}},
            "/api/v1/trust-list": {"get": {
                "summary": "The signed trust list", "operationId": "trustList",
                "responses": {"200": {"description": "The document", "headers": {"ETag": {"schema": {"type": "string"}}},
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "304": {"description": "Not modified"}, **_errors(429)}}},
            "/api/v1/status-feed": {"get": {
                "summary": "Signed pages of every certificate's state, then changes", "operationId": "statusFeed",
                "parameters": [{"name": "since", "in": "query", "schema": _CURSOR},
                               {"name": "limit", "in": "query", "schema": {
                                   "type": "integer", "description": "entries per page, default 500; "
                                                                     "values outside 1-5000 are clamped"}}],
                "responses": {"200": _json("FeedPage", "One signed page"), **_errors(400, 429, 503)}}},
            "/api/v1/issuer/certificates": {"post": {
                "summary": "Register a signed certificate", "operationId": "register", "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _SIGNED_RECORD}}},
                "responses": {"201": _json("Change", "Registered"), "200": _json("Change", "Already registered"),
                              **_errors(400, 401, 403, 409, 413, 415, 422, 429, 503)}}},
            "/api/v1/issuer/certificates/{registration_no}": {"get": {
                "summary": "An issuer's own certificate with its history", "operationId": "issuerShow",
                "security": bearer, "parameters": [_REG_PATH],
                "responses": {"200": {"description": "The certificate",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **_errors(401, 403, 404, 429, 503)}}},
            "/api/v1/issuer/certificates/{registration_no}/status": {"post": {
                "summary": "Suspend, revoke, reinstate or end", "operationId": "changeStatus", "security": bearer,
                "parameters": [_REG_PATH],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["state", "reason"], "properties": {
                        "state": {"enum": ["valid", "suspended", "revoked", "ended"]},
                        "reason": _REASON}}}}},
                "responses": {"200": _json("Change", "Changed"), **_errors(400, 401, 403, 404, 409, 413, 415,
                                                                              429, 503)}}},
            "/api/v1/issuer/certificates/{registration_no}/dismantling": {"post": {
                "summary": "A completed dismantling notice (拆卸告知) ends the certificate",
                "operationId": "dismantling", "security": bearer, "parameters": [_REG_PATH],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["completed_at", "notice_no"], "properties": {
                        "completed_at": {"type": "string", "format": "date-time"},
                        "notice_no": {"type": "string", "minLength": 1, "maxLength": 64,
                                      "description": "拆卸告知编号 / the dismantling notice's number"}}}}}},
                "responses": {"200": _json("Change", "Ended"), **_errors(400, 401, 403, 404, 409, 413, 415,
                                                                            429, 503)}}},
            "/api/v1/issuer/certificates/{registration_no}/corrections": {"post": {
                "summary": "Register version N+1 and supersede N atomically", "operationId": "correction",
                "security": bearer, "parameters": [_REG_PATH],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    **_SIGNED_RECORD, "required": ["record", "reason"],
                    "properties": {**_SIGNED_RECORD["properties"], "reason": _REASON}}}}},
                "responses": {"201": _json("Change", "Corrected"), "200": _json("Change", "Already corrected (a retry)"),
                              **_errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)}}},
            "/api/v1/issuer/audit": {"get": {
                "summary": "The issuer's audit entries", "operationId": "audit", "security": bearer,
                "parameters": [{"name": "since", "in": "query", "schema": _CURSOR}],
                "responses": {"200": {"description": "Entries", "content": {"application/json": {
                    "schema": {"type": "object"}}}}, **_errors(400, 401, 429, 503)}}},
            "/api/v1/issuer/refusals": {"get": {
                "summary": "Refused attempts on the issuer's certificates, and its own, within the retention",
                "operationId": "refusals", "security": bearer,
                "parameters": [{"name": "since", "in": "query", "schema": _CURSOR}],
                "responses": {"200": _json("RefusalsPage", "Refusals"), **_errors(400, 401, 429, 503)}}},
            **_inspection_paths(),
            **_file_path(),
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                                 "responses": {"200": {"description": "Alive"}}}},
            "/readyz": {"get": {"summary": "Readiness (store and trust list)", "operationId": "readyz",
                                "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics",
                                 "responses": {"200": {"description": "Text exposition",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
        "components": {
            "schemas": {**_generated(_record_components(), _answer_components(), _inspection_components(), _file_components(),
                                  _refusal_components()),
                        "Error": _ERROR, "Change": _CHANGE, "FeedPage": {
                "type": "object", "required": ["page", "kid", "alg", "sig"], "properties": {
                    "page": {"type": "object", "required": ["entries", "next", "more"], "properties": {
                        "entries": {"type": "array", "items": {"type": "object"}}, "next": {"type": "string"},
                        "more": {"type": "boolean"}, "since": {"type": "string"}, "format": {"type": "integer"},
                        "generated_at": {"type": "string"}}},
                    "kid": {"type": "string"}, "alg": {"type": "string"}, "sig": {"type": "string"}}}},
            "securitySchemes": {"issuerToken": {"type": "http", "scheme": "bearer"},
                                "inspectorToken": {"type": "http", "scheme": "bearer"},
                                "supervisorToken": {"type": "http", "scheme": "bearer"}},
        },
    }
