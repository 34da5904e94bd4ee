"""Public (/api/v1) and internal (/internal) routes of the identity service."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
