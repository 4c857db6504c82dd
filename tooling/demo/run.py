"""One run of the demo: connect to the running system, play the month, summarize, clean up."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from dataclasses import dataclass

import aiohttp
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from schemas.api import Role
from services import bootstrap as root
from services.adapters.kafka_security import KafkaConnection, kafka_connection
from services.adapters.publisher import AiokafkaProducer, Publisher
from services.adapters.store import Store
from services.api.auth import new_key
from services.settings import Settings
from tooling.demo.errors import DemoError
from tooling.demo.observer import CONNECT_SECONDS, Observer
from tooling.demo.plan import plan_month, previous_cycle
from tooling.demo.player import MonthPlayer
from tooling.demo.read_api import ReadApi
from tooling.demo.summary import Summary, render


@dataclass(frozen=True)
class DemoOptions:
    partners: int = 60
    distributors: int = 3
    cycle: str | None = None
    api: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    seed: int | None = None


async def play(options: DemoOptions, settings: Settings, console: Console) -> Summary:
    """Play the month against the system ``settings`` point at; the summary comes from the API."""
    started = time.monotonic()
    now = root.clock()
    cycle = options.cycle or previous_cycle(now)
    seed = options.seed if options.seed is not None else secrets.randbelow(1_000_000)
    tag = secrets.token_hex(3)
    month = plan_month(tag, cycle, options.partners, options.distributors, seed, now)
    base = options.api or f"http://{settings.api_host}:{settings.api_port}"
    bootstrap = kafka_connection(settings)
    catalogue = root.catalogue(settings)
    console.print(
        f"Playing cycle [bold]{cycle}[/] for {options.partners} partners of "
        f"{options.distributors} distributors as [bold]{month.mark}[/] (seed {seed}); "
        f"Kafka {bootstrap}, read API {base}"
    )
    created_key: str | None = None
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        )
        api = ReadApi(session, base)
        await api.health()
        store = root.store(settings)
        stack.push_async_callback(store.close)
        try:
            await asyncio.wait_for(store.ping(), CONNECT_SECONDS)
        except Exception as exc:
            raise DemoError(
                f"the database ({_without_password(settings.mongodb_uri)}) does not answer: {exc!r}"
            ) from exc
        if options.api_key:
            api.key = options.api_key
            await _check_operations_key(store, options.api_key)
        else:
            api.key, stored = new_key(Role.OPERATIONS, None, f"lmp-billing demo {tag}", now)
            await store.save_api_key(stored)
            created_key = stored.key_id
            stack.push_async_callback(_revoke, store, created_key)
        await api.check_key(cycle)
        producer = await _producer(bootstrap)
        stack.push_async_callback(producer.stop)
        observer = await Observer.start(bootstrap, catalogue, month.mark)
        stack.push_async_callback(observer.stop)
        sender = AiokafkaProducer(producer)
        with _progress(console) as progress:
            player = MonthPlayer(
                month,
                options.timeout,
                catalogue,
                Publisher(lambda: sender),
                observer,
                store,
                api,
                progress,
            )
            reports = await player.play()
        summary = Summary(
            tag=tag,
            cycle=cycle,
            seed=seed,
            api=base,
            kafka=str(bootstrap),
            reports=reports,
            refusals=list(observer.refusals.values()),
            dead_letters=list(observer.dead_letters),
            automatic=len(observer.automatic),
            penalties=len(observer.penalties),
            late_usage=player.late_usage,
            billing_submissions=observer.billing_submissions,
            reminders=observer.reminders,
            messages=player.messages,
            seconds=time.monotonic() - started,
            unexpected=player.unexpected,
        )
    render(summary, console, created_key)
    return summary


async def _check_operations_key(store: Store, plaintext: str) -> None:
    """The demo reads every partner's reports, so a partner or distributor key will not do."""
    key_id = plaintext.split("_")[1] if plaintext.count("_") >= 2 else ""
    stored = await store.load_api_key(key_id)
    if stored is not None and stored.role is not Role.OPERATIONS:
        raise DemoError(
            f"--api-key: key {key_id} is a {stored.role.value} key; the demo reads every "
            "partner's reports and needs an operations key (lmp-billing keys create --role "
            "operations)"
        )


async def _revoke(store: Store, key_id: str) -> None:
    await store.revoke_api_key(key_id, root.clock())


async def _producer(bootstrap: KafkaConnection) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        **bootstrap.client_kwargs(), acks="all", enable_idempotence=True, linger_ms=5
    )
    try:
        await asyncio.wait_for(producer.start(), CONNECT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise DemoError(f"Kafka at {bootstrap} does not answer: {exc!r}") from exc
    return producer


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _without_password(uri: str) -> str:
    return re.sub(r"//[^@/]*@", "//", uri)
