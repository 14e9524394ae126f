"""SQLAlchemy models of the parts inventory."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


part_tags = Table(
    "part_tags",
    Base.metadata,
    Column("part_id", ForeignKey("parts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class PartType(Base):
    __tablename__ = "part_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name}


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


#: Optional free-text fields a part carries besides its description.
PART_TEXT_FIELDS = (
    "manufacturer",
    "manufacturer_code",
    "dimensions",
    "voltage_rating",
    "mounting_type",
    "package",
    "pin_pitch",
    "series",
    "input_voltage",
    "output_voltage",
    "product_page",
)


class Part(Base):
    __tablename__ = "parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(4), unique=True)
    description: Mapped[str] = mapped_column(Text)
    type_id: Mapped[int | None] = mapped_column(ForeignKey("part_types.id"), nullable=True)
    manufacturer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    manufacturer_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dimensions: Mapped[str | None] = mapped_column(String(200), nullable=True)
    voltage_rating: Mapped[str | None] = mapped_column(String(100), nullable=True)
    mounting_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    package: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pin_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pin_pitch: Mapped[str | None] = mapped_column(String(50), nullable=True)
    series: Mapped[str | None] = mapped_column(String(100), nullable=True)
    input_voltage: Mapped[str | None] = mapped_column(String(100), nullable=True)
    output_voltage: Mapped[str | None] = mapped_column(String(100), nullable=True)
    product_page: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[str] = mapped_column(
        String(40), default=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    type: Mapped[PartType | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=part_tags, lazy="selectin", order_by=Tag.name)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "key": self.key,
            "description": self.description,
            "type_id": self.type_id,
            "type": self.type.name if self.type else None,
            "pin_count": self.pin_count,
            "tags": [tag.name for tag in self.tags],
            "created_at": self.created_at,
        }
        for field in PART_TEXT_FIELDS:
            data[field] = getattr(self, field)
        return data
