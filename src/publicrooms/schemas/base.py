"""Shared model configuration: camelCase on the wire, strict about unknown shapes."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from publicrooms.errors import InvalidRequest


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


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
