"""Blueprints of the backend's HTTP API."""
