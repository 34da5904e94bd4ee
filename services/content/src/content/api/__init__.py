"""Public (/api/v1) and internal (/internal) routes of the content service."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
