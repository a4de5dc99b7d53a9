"""The shared clock and the periodic jobs' progress: one row each, shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class ClockState(SQLModel, table=True):
    """The simulated clock's offset, shared by every process (R63)."""

    __tablename__ = "clock_state"

    id: int = Field(default=1, primary_key=True)
    offset_seconds: float = Field(default=0.0)


class SchedulerState(SQLModel, table=True):
    """When a periodic job (e.g. hourly settlement) last ran up to."""

    __tablename__ = "scheduler_state"

    name: str = Field(primary_key=True, max_length=32)
    until: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
