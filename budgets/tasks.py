"""Celery beat tasks of the budgets app: thin shells over budgets.services."""

from __future__ import annotations

from celery import shared_task

from budgets import services


@shared_task(name="budgets.release_expired_reservations")
def release_expired_reservations() -> dict:
    """Give back reservations left by workers that stopped before settling their call."""
    return {"released": services.spend_release_expired()}


@shared_task(name="budgets.roll_periods")
def roll_periods() -> dict:
    """Start the new period of every budget whose period has ended."""
    return {"rolled": services.budgets_roll_periods()}
