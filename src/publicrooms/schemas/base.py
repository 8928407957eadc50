"""Shared model configuration: camelCase on the wire, strict about unknown shapes."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from publicrooms.errors import InvalidRequest


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


# Compact and ASCII-only, as python-socketio writes a packet's JSON (`json.dumps` with these
# separators), so a text built here is byte for byte what it would have written.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


class EncodedWire(dict):
    """A wire dict that also carries its JSON text, `json`, put together from parts encoded
    once and cached (a join's seats): the socket path writes that text as it is; everything
    else (REST, python-socketio's own path) sees an ordinary dict."""

    __slots__ = ("json",)

    def __init__(self, wire: dict[str, Any], texts: dict[str, str]) -> None:
        """`wire`, with the values of the keys in `texts` given as JSON text already (each
        exactly what COMPACT_JSON makes of that value)."""
        super().__init__(wire)
        parts: list[str] = []
        run: dict[str, Any] = {}
        for key, value in wire.items():
            if key not in texts:
                run[key] = value
                continue
            if run:
                parts.append(COMPACT_JSON.encode(run)[1:-1])
                run = {}
            parts.append(f"{COMPACT_JSON.encode(key)}:{texts[key]}")
        if run:
            parts.append(COMPACT_JSON.encode(run)[1:-1])
        self.json = "{" + ",".join(parts) + "}"


class RequestModel(WireModel):
    # Extra fields are tolerated: old clients send more than we read.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              frozen=True)


M = TypeVar("M", bound="RequestModel")


def parse(model: type[M], data: object) -> M:
    """Validate a request body/payload, turning any mismatch into INVALID_REQUEST."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidRequest("The payload must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidRequest("The request is malformed.", details={"problems": problems}) from None
