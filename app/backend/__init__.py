"""Flask backend of the parts inventory.

Kept free of imports so that ``python -m app.backend init-db`` does not pay
for Flask; the app itself is built by :func:`app.backend.factory.create_app`.
"""
