"""The composition root: `ControlPlane` builds every part from the settings and runs them on one
event loop, started and stopped in order.

    plane = ControlPlane(settings)          # or ControlPlane(settings, answerer=..., ...)
    await plane.start()                      # CRM, AMI, tracking, ACD, IVR, recorder, CTI
    ...                                      # GET /status on the CTI port says how each part is
    await plane.stop()

The parts and how they are joined (one `EventBus` carries every fact):

* CRM (`crm.service.Crm`): database created and migrated on first start, call logger + outbox;
  its `queues` table (a mirror for reports) is rewritten from the routing rules file at each start.
* AMI (`pbx.ami_client.AmiClient`) -> `pbx.tracking.TrackingRunner` -> `pbx.calls.CallTracker`
  -> facts on the bus.
* PBX commands: `CommandRouter` in front of `pbx.commands.PbxCommandPort`. It answers phones
  (`AnswerCall`, see `Answerer`) and reports each offer it carried out as `CallOffered`.
* ACD: `acd.runner.AcdRunner` over `acd.engine.AcdEngine`, configured by the routing rules file;
  its inputs come from the bus. When the core moves an agent from RESERVED to ON_CALL the root
  publishes `CallAnswered` first (the CRM's call record and the desktops need it; the runner
  translates the dial result for the core but does not publish it).
* IVR: `ivr.adapter.IvrAgiHandler` on `pbx.fastagi.FastAgiServer` route "ivr". Its route node
  hands over to `IvrHandOff`, which asks the routing rules (customer from the CRM) and queues the
  call for the ACD when the dialplan reports the caller waiting in `[acd-wait]` (`AcdWaiting`).
  The flow files are watched while running (`FlowRegistry.watch`): an edit goes into service for
  new calls and its changed text prompts are synthesised; an invalid edit is refused.
* Recorder (`recorder.adapter`): its PBX commands (MixMonitor...) come back through the bus and
  are executed here.
* CTI (`cti.app.create_app`) under uvicorn on `http.host:http.port`, with `/status`, and the
  recordings API (`cti.recordings`: play, download, search, audit, recording buttons).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from callcenter import events as ev
from callcenter.bus import EventBus
from callcenter.errors import ConfigError, DomainError
from callcenter.settings import Settings, kept_secret

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SECRET_FILE = "session.key"  # noqa: S105 (a file name, not a secret)
WAITING_EVENT = "AcdWaiting"  # the dialplan's UserEvent in [acd-wait] (asterisk_conf/extensions.conf)
TRACKED_VARIABLES = ("CC_IVR_RESULT", "CC_IVR_LANGUAGE", "DIALSTATUS")
RECORDER_COMMANDS = (ev.SetVariable, ev.StartRecording, ev.StopRecording, ev.MuteRecording)

def resolve(path: str) -> Path:
    """A configured path: as given when it exists, else relative to the checkout (the defaults
    `flows`, `routing_rules/rules` work from any working directory)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or p.exists() else REPO / p


def session_secret(settings: Settings) -> str:
    """`http.session_secret`, or one generated once and kept (mode 600) in the data directory."""
    if settings.http.session_secret:
        return settings.http.session_secret
    return kept_secret(settings.data_dir / SECRET_FILE, 32)


class Answerer(Protocol):
    """Makes an agent's ringing phone go off-hook (`AnswerCall`)."""

    async def answer(self, command: ev.AnswerCall) -> None: ...


class NotifyAnswerer:
    """Real phones: a SIP NOTIFY with `Event: talk` (Yealink, Polycom, Snom and others pick up)."""

    def __init__(self, client: Any) -> None:  # pbx.ami_client.AmiClient
        self._client = client

    async def answer(self, command: ev.AnswerCall) -> None:
        tech, _, endpoint = command.interface.partition("/")
        if tech.upper() != "PJSIP" or not endpoint:
            raise DomainError("no-phone", f"agent {command.agent_id}: cannot answer interface {command.interface!r}")
        await self._client.send_action("PJSIPNotify", Endpoint=endpoint, Variable="Event=talk")


class CommandRouter:
    """The one command executor every room uses (see the module docstring)."""

    def __init__(self, port: Any, publish: Callable[[object], Awaitable[None]], answerer: Answerer) -> None:
        self._port = port  # pbx.commands.PbxCommandPort
        self._publish = publish
        self.answerer = answerer

    async def execute(self, command: Any) -> object:
        if isinstance(command, ev.AnswerCall):
            await self.answerer.answer(command)
            return None
        replies = await self._port.execute(command)
        if isinstance(command, ev.OfferCall):
            await self._publish(
                ev.CallOffered(
                    call_id=command.call_id,
                    agent_id=command.agent_id,
                    queue=command.queue,
                    decision_id=command.decision_id,
                    at=time.time(),
                )
            )
        return replies


class IvrHandOff:
    """The IVR's route node -> routing rules -> `CallQueued` once the caller waits in [acd-wait]."""

    def __init__(self, rules: Any, crm: Any, engine: Any, publish: Callable[[object], Awaitable[None]], *,
                 fallback_after_s: float) -> None:
        self._rules = rules  # routing_rules.rules.RuleSet
        self._fallback_after_s = fallback_after_s  # acd.fallback_after_s: for requests without a maximum wait
        self._crm = crm
        self._engine = engine  # acd.engine.AcdEngine (queue load for rules that ask for it)
        self._publish = publish
        self._pending: dict[ev.CallId, ev.CallQueued] = {}

    async def route(self, r: Any) -> dict[str, str]:  # ivr.adapter.IvrRoute
        from crm.repositories import lookup_by_ani
        from routing_rules.rules import CallContext, Customer, QueueLoad, wait_variables

        async with self._crm.sessions() as session:
            card = await lookup_by_ani(session, r.ani, tiers=self._crm.tiers)
        customer = (Customer(tier=card.tier, language=card.language, segment=card.segment,
                             priority_class=card.priority_class, priority=card.priority) if card else None)
        now = time.time()

        def load(queue: str) -> QueueLoad:
            stats = self._engine.queue_stats(ev.QueueName(queue), now)
            return QueueLoad(waiting=stats.waiting, longest_wait_s=stats.longest_wait_s,
                             ready_agents=stats.ready_agents, staffed_agents=stats.staffed_agents)

        request = self._rules.route(CallContext(dnis=r.dnis, ani=r.ani, ivr=dict(r.inputs), at=now,
                                                customer=customer, load=load))
        self._pending[r.call_id] = ev.CallQueued(
            call_id=r.call_id, channel_id=r.channel_id, request=request, ani=r.ani, dnis=r.dnis,
            customer_id=card.id if card else None, at=now,
        )
        logger.info("call %s: routed to %s by rule %s", r.call_id, request.queue, request.rule)
        # The dialplan's own fallback timer must not cut a wait the rules allow (a VIP line may
        # allow 10 minutes): ACD_FALLBACK_TIMEOUT on the channel follows the request.
        return {"CC_QUEUE": request.queue, **wait_variables(request, fallback_after_s=self._fallback_after_s)}

    async def on_fact(self, fact: object) -> None:
        if isinstance(fact, ev.UserEventReceived) and fact.name == WAITING_EVENT and fact.call_id in self._pending:
            queued = self._pending.pop(fact.call_id)
            await self._publish(ev.CallQueued(
                call_id=queued.call_id, channel_id=fact.channel_id or queued.channel_id, request=queued.request,
                ani=queued.ani, dnis=queued.dnis, customer_id=queued.customer_id, at=fact.at,
            ))
        elif isinstance(fact, ev.CallEnded):
            self._pending.pop(fact.call_id, None)


def _quiet_server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its signal handlers: whoever runs the control plane owns SIGINT/SIGTERM."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


class AcdInputs:
    """What reaches the ACD core, with one thing the core cannot see by itself.

    NOTE(integration): the core ends an agent's call only at `CallEnded`. When the agent's own leg
    hangs up while the call goes on (a transfer: the caller now talks to someone else, or waits
    in a queue again), the agent is done with it: the core is told the call ended (submitted to
    the runner, not published: for everyone else the call goes on), and the agent goes to
    wrap-up. A `CallQueued` for a call the core still has answered (a transfer to a queue) waits
    for that moment, so the core queues it again instead of ignoring it.
    """

    def __init__(self, engine: Any, tracker: Any, submit: Callable[[object], None]) -> None:
        self._engine = engine
        self._tracker = tracker
        self._submit = submit
        self._names: dict[ev.ChannelId, str] = {}
        self._requeue: dict[ev.CallId, ev.CallQueued] = {}

    def from_bus(self, msg: object) -> None:
        if isinstance(msg, ev.CallQueued):
            call = self._engine.calls.get(msg.call_id)
            if call is not None and call.state == "answered":
                self._requeue[msg.call_id] = msg
                return
        self._submit(msg)

    def from_tracker(self, fact: object) -> None:
        if isinstance(fact, ev.ChannelCreated):
            self._names[fact.channel_id] = fact.channel
        elif isinstance(fact, ev.ChannelHungUp):
            name = self._names.pop(fact.channel_id, "")
            if self._tracker.call(fact.call_id) is None:
                self._requeue.pop(fact.call_id, None)
                return  # the whole call ended: its CallEnded reaches the core
            for agent in self._engine.agents.values():
                if (agent.call_id == fact.call_id and agent.state is ev.AgentState.ON_CALL and agent.interface
                        and name.startswith(agent.interface + "-")):
                    logger.info("call %s: agent %s left it (transfer); wrap-up starts", fact.call_id, agent.id)
                    self._submit(ev.CallEnded(call_id=fact.call_id, hangup_side=ev.HangupSide.AGENT,
                                              cause=fact.cause, at=fact.at))
                    queued = self._requeue.pop(fact.call_id, None)
                    if queued is not None:
                        self._submit(queued)
                    return


class ControlPlane:
    def __init__(
        self,
        settings: Settings,
        *,
        answerer: Callable[[Any], Answerer] = NotifyAnswerer,
        http_port: int | None = None,
        fastagi_port: int | None = None,
        with_recorder: bool = True,
        ivr_clock: Callable[[], float] = time.time,
        flow_poll_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self._ivr_clock = ivr_clock
        self._make_answerer = answerer
        self._http_port = settings.http.port if http_port is None else http_port
        self._fastagi_port = settings.fastagi.port if fastagi_port is None else fastagi_port
        self._with_recorder = with_recorder
        self._flow_poll_s = flow_poll_s
        self.bus = EventBus()
        self._subs: list[Any] = []  # "block" subscriptions: dropped at stop, or a late publish would wait
        self._tasks: list[asyncio.Task[None]] = []
        self._stack = contextlib.AsyncExitStack()
        self.started_at = 0.0
        self.crm: Any = None
        self.client: Any = None
        self.tracker: Any = None
        self.tracking: Any = None
        self.router: CommandRouter | None = None
        self.engine: Any = None
        self.runner: Any = None
        self.fastagi: Any = None
        self.flows: Any = None  # ivr.registry.FlowRegistry, watched for edits while running
        self.recorder: Any = None
        self.dialer: Any = None  # dialer.runner.CampaignSupervisor
        self.cti: Any = None
        self.app: Any = None
        self._uvicorn: Any = None

    # -- start and stop -----------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        from acd.config import AgentProfile
        from acd.decision import DecisionLog, default_log_path
        from acd.engine import AcdEngine
        from acd.runner import AcdRunner, is_acd_input
        from crm.repositories import load_agents, write_queue_mirror
        from crm.service import Crm
        from pbx.ami_client import AmiClient
        from pbx.calls import CallTracker
        from pbx.commands import PbxCommandPort
        from pbx.tracking import TrackingRunner
        from routing_rules.loader import load_rules

        s = self.settings
        s.ensure_dirs()
        self.started_at = time.time()
        rules_files = sorted(resolve(s.paths.routing_rules_dir).glob("*.yaml"))
        if len(rules_files) != 1:
            raise ConfigError(
                f"setting paths.routing_rules_dir has value {s.paths.routing_rules_dir!r}; expected a directory "
                f"with exactly one rules file, found {len(rules_files)}"
            )
        rules = load_rules(rules_files[0])

        # 1. the CRM (its call logger subscribes to the bus before anything publishes)
        self.crm = await Crm.start(s, self.bus)
        self._stack.push_async_callback(self.crm.stop)
        async with self.crm.sessions() as session:
            accounts = await load_agents(session)
        async with self.crm.engine.begin() as conn:  # the reports' queue mirror follows the rules (decision 0005)
            await write_queue_mirror(conn, rules.queues.values())

        # 2. AMI, the tracker and the command router
        self.client = AmiClient.from_settings(s.ami)
        await self.client.connect()
        self._stack.push_async_callback(self.client.close)
        self.tracker = CallTracker(variables=TRACKED_VARIABLES)
        self.router = CommandRouter(PbxCommandPort(self.client, self.tracker), self.bus.publish,
                                    self._make_answerer(self.client))

        # 3. the ACD, fed from the bus
        queues = tuple(rules.queues)
        profiles = [
            AgentProfile(agent_id=a.id, skills=tuple(ev.AgentSkill(skill=k, level=v) for k, v in a.skills),
                         queues=queues, interface=a.interface)
            for a in accounts if a.role == "agent"
        ]
        self.engine = AcdEngine(rules.acd_config(), agents=profiles)
        decisions = DecisionLog(default_log_path(s.data_dir))
        self._stack.callback(decisions.close)
        self.runner = AcdRunner(self.engine, self.router, publish=self._acd_publish, decisions=decisions)
        inputs = AcdInputs(self.engine, self.tracker, self.runner.submit)
        acd_inputs = self._subscribe("acd", is_acd_input)
        self._spawn(self.runner.run(), "acd.runner")
        self._spawn(self._feed(acd_inputs, inputs.from_bus), "acd.inputs")

        # 4. the IVR hand-off, then tracking (AMI facts from now on)
        handoff = IvrHandOff(rules, self.crm, self.engine, self.bus.publish, fallback_after_s=s.acd.fallback_after_s)

        async def on_fact(fact: object) -> None:
            await self.bus.publish(fact)
            inputs.from_tracker(fact)
            await handoff.on_fact(fact)

        self.tracking = TrackingRunner(self.client, self.tracker, on_fact)
        self._spawn(self.tracking.run(), "pbx.tracking")

        # 5. the recorder, whose PBX commands come back through the bus
        commands = self._subscribe("pbx.commands", lambda m: isinstance(m, RECORDER_COMMANDS))
        self._spawn(self._feed_async(commands, self._execute_quietly), "pbx.commands")
        if self._with_recorder:
            from recorder.adapter import build_recorder_service

            self.recorder = build_recorder_service(s, self.bus, journal=self.crm.outbox)
            await self.recorder.start()
            self._stack.push_async_callback(self.recorder.stop)

        # 6. outbound campaigns: their runners dial through the same command router and queue
        #    live answers to the same ACD; the CLI and the API change statuses in the CRM.
        from dialer.runner import CampaignSupervisor, CrmStore, is_runner_input

        engine = self.engine
        self.dialer = CampaignSupervisor(
            self.crm.sessions, self.router, CrmStore(self.crm.outbox, self.crm.sessions), self.bus.publish,
            agents=lambda: {agent_id: a.state for agent_id, a in engine.agents.items()},
        )
        self._stack.push_async_callback(self.dialer.close)
        self._spawn(self._feed(self._subscribe("dialer", is_runner_input), self.dialer.submit), "dialer.inputs")
        self._spawn(self._sync_campaigns(), "dialer.sync")

        # 7. FastAGI with the IVR
        await self._start_ivr(handoff)

        # 8. the CTI server
        await self._start_cti(rules, accounts)
        logger.info("control plane up: CTI on http://%s:%d, FastAGI on %s:%d, AMI %s:%d", s.http.host,
                    self.http_port, s.fastagi.bind_host, self.fastagi.port, s.ami.host, s.ami.port)

    async def _start_ivr(self, handoff: IvrHandOff) -> None:
        from ivr.adapter import IvrAgiHandler
        from ivr.directory import CrmDirectory
        from ivr.registry import FlowRegistry
        from ivr.speech import RecognitionPool, open_speech
        from pbx.fastagi import FastAgiServer

        s = self.settings
        registry = self.flows = FlowRegistry([resolve(s.paths.flows_dir)])
        errors = registry.reload()
        if errors:
            raise ConfigError("IVR flows are invalid:\n" + "\n".join(str(e) for e in errors))
        await self._build_prompts()
        # An admin's edit to the flows takes effect without a restart: an invalid edit is refused
        # (the last good version keeps serving) and calls in progress keep their version.
        self._spawn(registry.watch(self._flow_poll_s, on_reload=self._build_prompts), "ivr.flows")
        recognizer = await asyncio.to_thread(open_speech, s.speech)
        utterances = s.data_dir / "utterances"
        utterances.mkdir(parents=True, exist_ok=True)
        handler = IvrAgiHandler(
            registry,
            prompts_dir=s.prompts_dir,
            utterance_dir=utterances,
            directory=CrmDirectory(self.crm.sessions),
            publish=self.bus.publish,
            speech=RecognitionPool(recognizer) if recognizer is not None else None,
            route=handoff.route,
            confidence_thresholds=s.speech.confidence_thresholds(),
            clock=self._ivr_clock,
        )
        self.fastagi = FastAgiServer({"ivr": handler}, host=s.fastagi.bind_host, port=self._fastagi_port,
                                     header_timeout_s=s.fastagi.header_timeout_s,
                                     command_timeout_s=s.fastagi.command_timeout_s)
        await self.fastagi.start()
        self._stack.push_async_callback(self.fastagi.stop)

    async def _build_prompts(self) -> None:
        """Synthesise the flows' text prompts; each is kept while its text is unchanged, so after
        an edit only new or changed ones are made."""
        from ivr.prompts import build_prompts

        if not (shutil.which("espeak-ng") and shutil.which("sox")):
            logger.warning("espeak-ng or sox missing: text prompts are not synthesised")
            return
        report = await asyncio.to_thread(build_prompts, self.flows.flows.values(), self.settings.prompts_dir)
        for error in report.errors:
            logger.warning("prompt not built: %s", error)

    async def _start_cti(self, rules: Any, accounts: list[Any]) -> None:
        import uvicorn

        from cti.app import create_app
        from cti.auth import Authenticator, CrmAccounts, LoginLimiter, TokenSigner
        from cti.recordings import build_recordings_router
        from cti.screenpop import CrmCards
        from cti.service import CtiConfig, CtiService
        from dialer.api import BODY_LIMITS
        from dialer.api import build_router as build_campaigns_router
        from recorder.index import INDEX_FILE_NAME, RecordingIndex

        s = self.settings
        assert self.router is not None  # Precondition: _start built it
        self.cti = CtiService(
            bus=self.bus,
            commands=self.router,
            calls=self.tracker,
            cards=CrmCards(self.crm),
            config=CtiConfig(service_levels={q: c.service_level_s for q, c in rules.queues.items()},
                             ring_timeout_s=s.acd.ring_timeout_s),
            directory={a.id: a.interface for a in accounts},
        )
        auth = Authenticator(CrmAccounts(self.crm.sessions), TokenSigner(session_secret(s)),
                             LoginLimiter(s.http.login_attempts_per_minute))
        # The CTI reads the recorder's catalog and writes its access log on its own connection.
        index = RecordingIndex(s.data_dir / INDEX_FILE_NAME)
        self._stack.callback(index.close)
        recordings = build_recordings_router(self.cti, auth, index=index, recordings_dir=s.recordings_dir)
        campaigns = build_campaigns_router(self.crm.sessions, auth, control=self.dialer)
        self.app = create_app(self.cti, auth, health=self.status, routers=[recordings, campaigns],
                              body_limits=BODY_LIMITS)
        config = uvicorn.Config(self.app, host=s.http.host, port=self._http_port, log_level="warning",
                                access_log=False, lifespan="on", ws_max_size=1 << 20)
        server = _quiet_server_class()(config)
        self._uvicorn = server
        task = asyncio.create_task(server.serve(), name="cti.uvicorn")
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()  # the bind failed: raise why
                    raise ConfigError(f"the CTI server stopped at start on {s.http.host}:{self._http_port}")
                await asyncio.sleep(0.02)
        self._tasks.append(task)

    async def stop(self) -> None:
        """Stop in reverse order: the web server first (no new requests), the CRM last (it
        drains what the others logged)."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        for task in reversed(self._tasks):
            if task.get_name() != "cti.uvicorn":
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        self._tasks = []
        await self._stack.aclose()
        logger.info("control plane stopped")

    # -- plumbing -----------------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        if self._uvicorn is not None and self._uvicorn.servers:
            port: int = self._uvicorn.servers[0].sockets[0].getsockname()[1]
            return port
        return self._http_port

    def _subscribe(self, name: str, accepts: Callable[[object], bool]) -> Any:
        sub = self.bus.subscribe(name, policy="block", accepts=accepts)
        self._subs.append(sub)
        return sub

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)

    async def _sync_campaigns(self, every_s: float = 5.0) -> None:
        """`callcenter campaign start|pause|...` only writes the CRM; follow it here."""
        while True:
            try:
                await self.dialer.sync()
            except Exception:  # a database outage must not stop the campaigns already running
                logger.exception("campaigns: could not read their statuses from the CRM")
            await asyncio.sleep(every_s)

    async def _feed(self, sub: Any, submit: Callable[[object], None]) -> None:
        async for msg in sub:
            submit(msg)

    async def _feed_async(self, sub: Any, handle: Callable[[object], Awaitable[None]]) -> None:
        async for msg in sub:
            await handle(msg)

    async def _execute_quietly(self, command: object) -> None:
        assert self.router is not None  # Precondition: _start built it
        try:
            await self.router.execute(command)
        except Exception:  # a failed recording command must not stop the next ones
            logger.exception("%s failed", type(command).__name__)

    async def _acd_publish(self, msg: object) -> None:
        if (isinstance(msg, ev.AgentStateChanged) and msg.old is ev.AgentState.RESERVED
                and msg.new is ev.AgentState.ON_CALL and msg.call_id is not None):
            await self.bus.publish(ev.CallAnswered(call_id=msg.call_id, agent_id=msg.agent_id, at=msg.at))
        await self.bus.publish(msg)

    def status(self) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        if self.tracking is not None:
            parts["ami"] = self.tracking.status()
        if self.runner is not None:
            parts["acd"] = {"ok": self._task_ok("acd.runner"), "handled": self.runner.handled,
                            "refused": self.runner.refused, "failed_commands": self.runner.failed_commands,
                            "calls": len(self.engine.calls), "agents": len(self.engine.agents)}
        if self.fastagi is not None:
            parts["fastagi"] = {"ok": True, "port": self.fastagi.port}
        if self.crm is not None:
            live, dead = self.crm.outbox.counts()
            parts["crm"] = {"ok": True, "outbox_waiting": live, "outbox_dead": dead}
        if self.cti is not None:
            parts["cti"] = self.cti.status()
        parts["bus"] = {"ok": True, "published": self.bus.published}
        return {"ok": bool(parts) and all(p.get("ok", False) for p in parts.values()),
                "uptime_s": round(time.time() - self.started_at, 1), **parts}

    def _task_ok(self, name: str) -> bool:
        return any(t.get_name() == name and not t.done() for t in self._tasks)
