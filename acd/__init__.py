"""Automatic call distribution: a pure core (`handle(event, now) -> commands`) with skills,
levels, VIP priority with aging, relaxation, overflow, ring-no-answer and wrap-up; decision
records; metrics; and a thin asyncio runner."""
