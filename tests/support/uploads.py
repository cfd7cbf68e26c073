"""Uploads through the HTTP API in one part, as a client does, for tests that need a video
but are not about uploading."""

from __future__ import annotations

import httpx


async def upload_in_one_part(client: httpx.AsyncClient, body: bytes, **create: str) -> str:
    """Create an upload (``create``: more fields, such as visibility), send ``body`` as its
    one part through the part URL, complete it; the queued video's id."""
    created = await client.post(
        "/v1/uploads", json={"filename": "clip.mp4", "size": len(body), **create}
    )
    assert created.status_code == 201, created.text
    upload_id = created.json()["upload_id"]
    return await complete_in_one_part(client, upload_id, body)


async def complete_in_one_part(client: httpx.AsyncClient, upload_id: str, body: bytes) -> str:
    parts = await client.post(f"/v1/uploads/{upload_id}/parts", json={"part_numbers": [1]})
    sent = await client.put(parts.json()["parts"][0]["url"], content=body)
    done = await client.post(
        f"/v1/uploads/{upload_id}/complete",
        json={"parts": [{"part_number": 1, "etag": sent.headers["ETag"]}]},
    )
    assert done.status_code == 202, done.text
    video_id: str = done.json()["video_id"]
    return video_id
