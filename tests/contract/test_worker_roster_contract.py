"""One contract, every worker roster: the slots of the workers alive, as every process on
the database sees them, renewed while a worker runs and gone when it stops or falls
silent."""

from __future__ import annotations

from tests.contract.conftest import FakeClock, StoresFactory
from vodstack.ports import Stores


async def test_live_slots_add_up_every_worker_enrolled(stores: Stores) -> None:
    roster = stores.workers
    assert await roster.live_slots() == 0
    await roster.enroll("host-1-a", 1, 45.0)
    await roster.enroll("host-2-b", 4, 45.0)
    assert await roster.live_slots() == 5


async def test_another_process_sees_the_same_workers(open_stores: StoresFactory) -> None:
    clock = FakeClock()
    await open_stores(clock).workers.enroll("host-1-a", 2, 45.0)
    await open_stores(clock).workers.enroll("host-2-b", 1, 45.0)
    assert await open_stores(clock).workers.live_slots() == 3


async def test_a_renewal_replaces_the_enrolment(stores: Stores, clock: FakeClock) -> None:
    roster = stores.workers
    await roster.enroll("host-1-a", 2, 45.0)
    clock.advance(40)
    await roster.enroll("host-1-a", 2, 45.0)  # its next heartbeat
    clock.advance(40)
    assert await roster.live_slots() == 2, "renewed, not counted twice, still alive"
    await roster.enroll("host-1-a", 3, 45.0)
    assert await roster.live_slots() == 3


async def test_a_silent_worker_drops_out_when_its_enrolment_runs_out(
    stores: Stores, clock: FakeClock
) -> None:
    roster = stores.workers
    await roster.enroll("killed", 4, 45.0)
    await roster.enroll("alive", 1, 45.0)
    clock.advance(45)
    assert await roster.live_slots() == 5
    clock.advance(1)
    assert await roster.live_slots() == 0
    await roster.enroll("alive", 1, 45.0)  # renewing forgets the run-out enrolments
    assert await roster.live_slots() == 1
    await roster.enroll("killed", 4, 45.0)  # a worker back before it was forgotten counts
    assert await roster.live_slots() == 5


async def test_a_worker_that_withdraws_counts_no_more(stores: Stores) -> None:
    roster = stores.workers
    await roster.enroll("stopping", 2, 45.0)
    await roster.enroll("staying", 1, 45.0)
    await roster.withdraw("stopping")
    assert await roster.live_slots() == 1
    await roster.withdraw("stopping")  # twice, or never enrolled: nothing happens
    await roster.withdraw("unknown")
    assert await roster.live_slots() == 1
