"""Web-socket consumer pushing a job's progress to the browser."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from enrichment import selectors
from enrichment.events import job_group, job_progress_payload


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        snapshot = await self._snapshot(user)
        if snapshot is None:
            # Not there, or not this user's to see: the same answer, so ids cannot be probed.
            await self.close(code=4404)
            return
        self.group = job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(snapshot)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_progress(self, event):
        await self.send_json(event["payload"])

    @database_sync_to_async
    def _snapshot(self, user) -> dict | None:
        job = selectors.job_get_for_user(user=user, job_id=self.job_id)
        if job is None:
            return None
        return job_progress_payload(job)
