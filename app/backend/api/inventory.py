"""Part types and parts."""

from __future__ import annotations

import random
import string
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ApiError, bad_request
from ..models import Part, PartType, Tag
from ..state import get_state
from ..validation import json_body, part_fields, part_key, required_text, tag_names

bp = Blueprint("inventory", __name__, url_prefix="/api")


@bp.get("/types")
def list_types() -> ResponseReturnValue:
    with get_state().db.session() as session:
        counts = dict(
            session.execute(select(Part.type_id, func.count()).group_by(Part.type_id)).all()
        )
        types = session.scalars(select(PartType).order_by(PartType.name)).all()
        return jsonify([{**t.to_dict(), "part_count": counts.get(t.id, 0)} for t in types])


@bp.post("/types")
def create_type() -> ResponseReturnValue:
    name = required_text(json_body(), "name", max_length=100)
    with get_state().db.session() as session:
        part_type = add_type(session, name)
        return jsonify(part_type.to_dict()), 201


def add_type(session: Session, name: str) -> PartType:
    """Insert a part type, 409 when the name (any case) is taken."""
    taken = session.scalar(select(PartType).where(func.lower(PartType.name) == name.lower()))
    if taken is not None:
        raise ApiError(409, f"part type {name!r} already exists", id=taken.id)
    part_type = PartType(name=name)
    session.add(part_type)
    session.flush()
    return part_type


@bp.get("/parts")
def list_parts() -> ResponseReturnValue:
    query = select(Part).order_by(Part.key)
    needle = request.args.get("q", "").strip()
    if needle:
        like = f"%{needle}%"
        query = query.outerjoin(PartType).where(
            or_(
                Part.key.ilike(like),
                Part.description.ilike(like),
                Part.manufacturer.ilike(like),
                Part.manufacturer_code.ilike(like),
                PartType.name.ilike(like),
            )
        )
    with get_state().db.session() as session:
        return jsonify([part.to_dict() for part in session.scalars(query).unique()])


@bp.get("/parts/<key>")
def get_part(key: str) -> ResponseReturnValue:
    with get_state().db.session() as session:
        return jsonify(find_part(session, part_key(key)).to_dict())


@bp.delete("/parts/<key>")
def delete_part(key: str) -> ResponseReturnValue:
    with get_state().db.session() as session:
        session.delete(find_part(session, part_key(key)))
    return "", 204


@bp.post("/parts")
def create_part() -> ResponseReturnValue:
    body = json_body()
    fields = part_fields(body)
    tags = tag_names(body)
    with get_state().db.session() as session:
        return jsonify(insert_part(session, fields, tags).to_dict()), 201


def find_part(session: Session, key: str) -> Part:
    part = session.scalar(select(Part).where(Part.key == key))
    if part is None:
        raise ApiError(404, f"no part with key {key}", key=key)
    return part


def insert_part(session: Session, fields: dict[str, Any], tags: list[str]) -> Part:
    """Insert a part under a fresh key, with its tags (created as needed)."""
    type_id = fields.get("type_id")
    if type_id is not None and session.get(PartType, type_id) is None:
        raise bad_request(f"no part type with id {type_id}", field="type_id")
    code = fields.get("manufacturer_code")
    if code and session.scalar(select(Part.key).where(Part.manufacturer_code == code)):
        raise ApiError(
            409, f"a part with manufacturer code {code} exists", field="manufacturer_code"
        )
    part = Part(key=_free_key(session), **fields)
    part.tags = [_tag(session, name) for name in tags]
    session.add(part)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ApiError(
            409, "the part conflicts with an existing one", reason=str(exc.orig)
        ) from exc
    return part


def _tag(session: Session, name: str) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
    return tag


def _free_key(session: Session) -> str:
    taken = set(session.scalars(select(Part.key)))
    for _ in range(1000):
        key = "".join(random.choices(string.ascii_uppercase, k=4))
        if key not in taken:
            return key
    raise ApiError(409, "no free part key left")
