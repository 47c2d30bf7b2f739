"""The OpenAPI 3.1 document, generated from the routers' pydantic models (never by hand)."""

from __future__ import annotations

import html
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from maas.http import Endpoint, Router

__all__ = ["build_openapi", "render_docs", "Problem"]


class Problem(BaseModel):
    """application/problem+json (RFC 9457) with a stable `code` and the request id."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None


_ROLE_TEXT = {
    "admin": "admin key",
    "operator": "operator key",
    "gate": "gate key",
    "account": "passenger account token",
}


def build_openapi(routers: list[Router], *, version: str) -> dict[str, Any]:
    endpoints = [ep for r in routers for ep in r.endpoints]
    models: set[type[BaseModel]] = {Problem}
    for ep in endpoints:
        for m in (ep.body, ep.response):
            if m is not None:
                models.add(m)
    keyed = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
    refs, schema = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    components = schema.get("$defs", {})

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return refs[(model, "validation")]

    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "maas",
            "version": version,
            "description": "Mobility-as-a-Service: plan, book and board one journey across "
            "city bus, intercity coach, rail and air.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(ep: Endpoint, ref: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": ep.summary,
        "operationId": f"{ep.method.lower()}_{ep.path.strip('/').replace('/', '_').replace('{', '').replace('}', '').replace('.', '_')}",
        "tags": list(ep.tags),
    }
    if ep.description:
        op["description"] = ep.description
    params: list[dict[str, Any]] = []
    typed = ep.path_params.model_json_schema().get("properties", {}) if ep.path_params else {}
    for name in _path_params(ep.path):
        prop = typed.get(name, {"type": "string"})
        param = {"name": name, "in": "path", "required": True, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    if ep.query is not None:
        schema = ep.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            p = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                p["description"] = prop["description"]
            params.append(p)
    for name, text in ep.headers.items():
        params.append({"name": name, "in": "header", "description": text, "schema": {"type": "string"}})
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {"required": not ep.body_optional,
                             "content": {"application/json": {"schema": ref(ep.body)}}}
    elif ep.request_content:
        op["requestBody"] = {
            "required": True,
            "content": {ep.request_content: {"schema": {"type": "string", "format": "binary"}}},
        }
    responses: dict[str, Any] = {}
    if ep.response is not None:
        responses[str(ep.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": ref(ep.response)}},
        }
    elif ep.response_content:
        responses[str(ep.status)] = {
            "description": "OK",
            "content": {ep.response_content: {"schema": {"type": "string"}}},
        }
    else:
        responses[str(ep.status)] = {"description": "OK"}
    for status, text in ep.also.items():
        responses[str(status)] = {**responses[str(ep.status)], "description": text}
    problem = {"application/problem+json": {"schema": ref(Problem)}}
    errors = dict(ep.errors)
    if ep.auth is not None:
        errors.setdefault(401, "missing, unknown or revoked credential")
        errors.setdefault(403, "credential of the wrong role")
        op["security"] = [{"bearer": []}]
        op["description"] = (
            op.get("description", "") + "\n\nCaller: " + " or ".join(_ROLE_TEXT.get(r, r) for r in ep.auth)
        ).strip()
    if ep.query is not None:
        errors.setdefault(400, "invalid query parameter")
    if ep.body is not None:
        errors.setdefault(400, "malformed JSON")
        errors.setdefault(413, "body too large")
        errors.setdefault(415, "not application/json")
        errors.setdefault(422, "a field is invalid")
    for status, text in sorted(errors.items()):
        responses[str(status)] = {"description": text, "content": problem}
    # any other client error (404 of an id no resource has, 405, 413, 429, ...) and the 503 of
    # a backend outage come as problem+json too: a response in another shape is a bug
    responses["default"] = {"description": "any other error", "content": problem}
    op["responses"] = responses
    return op


def _path_params(path: str) -> list[str]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            out.append(part[1:-1].split(":")[0])
        elif "{" in part:  # e.g. "{id}.svg"
            out.append(part[part.index("{") + 1 : part.index("}")])
    return out


def render_docs(spec: dict[str, Any]) -> str:
    """A self-contained HTML page of the API (no CDN, works offline)."""
    esc = html.escape
    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = "".join(
                f"<li><code>{esc(p['name'])}</code> ({esc(p['in'])}{', required' if p.get('required') else ''})"
                f"{': ' + esc(p['description']) if p.get('description') else ''}</li>"
                for p in op.get("parameters", [])
            )
            responses = "".join(
                f"<li><b>{esc(code)}</b> {esc(r.get('description', ''))}</li>"
                for code, r in op["responses"].items()
            )
            desc = esc(op.get("description", "")).replace("\n", "<br>")
            rows.append(
                f"<section><h3><span class=m>{method.upper()}</span> <code>{esc(path)}</code></h3>"
                f"<p>{esc(op['summary'])}</p><p class=d>{desc}</p>"
                f"{'<h4>Parameters</h4><ul>' + params + '</ul>' if params else ''}"
                f"<h4>Responses</h4><ul>{responses}</ul></section>"
            )
    schemas = json.dumps(spec["components"]["schemas"], indent=2, ensure_ascii=False)
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>maas API</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "section{border-top:1px solid #ddd;padding:.5rem 0}.m{background:#234;color:#fff;"
        "padding:.1rem .4rem;border-radius:3px;font-size:.8em}.d{color:#555}"
        "pre{background:#f6f6f6;padding:1rem;overflow:auto;font-size:.8em}</style></head><body>"
        f"<h1>maas API {esc(spec['info']['version'])}</h1><p>{esc(spec['info']['description'])}</p>"
        "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a> (OpenAPI 3.1). Errors are "
        "<code>application/problem+json</code> with a stable <code>code</code>.</p>"
        + "".join(rows)
        + f"<h2>Schemas</h2><pre>{esc(schemas)}</pre></body></html>"
    )
