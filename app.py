"""Chalice entry points only. The audit logic lives in chalicelib/pipeline.py."""

from chalice import Chalice

app = Chalice(app_name="ciswatch")
