"""Response models shared by several groups."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MessageResponse(BaseModel):
    success: bool = True
    message: str


class StrictBody(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 400 that names the field instead of being ignored."""

    model_config = {"extra": "forbid"}


class Page(BaseModel):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)
