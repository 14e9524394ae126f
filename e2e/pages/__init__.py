"""Page objects: one class per screen; methods name what a user does and return values."""

from .ai_dialog import AiDialog
from .part_detail import PartDetailPage
from .parts_list import PartsListPage

__all__ = ["AiDialog", "PartDetailPage", "PartsListPage"]
