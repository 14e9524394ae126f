"""JSON errors for every 4xx the API gives."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """An error answered as ``{"error": message, "details": {...}}``."""

    def __init__(self, status: int, message: str, **details: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def bad_request(message: str, **details: object) -> ApiError:
    return ApiError(400, message, **details)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> ResponseReturnValue:
        return jsonify({"error": exc.message, "details": exc.details}), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        return jsonify({"error": exc.description or exc.name, "details": {}}), exc.code or 500
