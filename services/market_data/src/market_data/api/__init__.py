"""Public (/api/v1) and internal (/internal) routes of the market_data service."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
