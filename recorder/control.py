"""The recording controller: call events and pause/resume requests in, recording commands out.

Theory of operation
-------------------
One ``RecordingController`` follows every call it hears about and returns, for each event, the
messages to act on: commands for the PBX (``SetVariable``, ``StartRecording``, ``MuteRecording``,
``StopRecording``), the command for the post-processing queue (``ProcessRecording``) and audit facts
(``RecordingPaused``, ``RecordingResumed``). It never performs I/O and never reads a clock: ``now``
comes with each call to ``handle``.

Per call it knows the customer's channel (``CallArrived``), the queue (``CallQueued``), the campaign
(``DialAttempted``), the agent (``CallAnswered``), and at most one active recording.

Rule 1: the policy is decided when the queue is known (``CallQueued``) and again at answer (the
        queue may have overflowed). When the call may be recorded and the policy announces, the
        customer channel gets ``RECORDING_ANNOUNCE=1`` at ``CallQueued``, before any agent is
        dialled, so the dialplan can play the notice first.
Rule 2: recording starts when an agent answers (mode ALWAYS) or when someone asks (mode ON_DEMAND,
        and the call is answered; a request made earlier starts it at answer). Mode NEVER refuses.
        One MixMonitor on the customer channel writes two legs: what the customer channel reads
        (the customer's voice) and what it is sent (the agent's voice).
Rule 3: a pause (PCI: a card number is coming) mutes both directions and is audited with who asked;
        a resume unmutes. A pause belongs to the call, not to the recording: when a recording
        starts while the call is paused, it starts muted. Repeated pauses or resumes do nothing.
Rule 4: the paused spans are kept, in seconds from the recording's start, and travel with
        ``ProcessRecording`` so post-processing can silence and mark them. A span still open when
        the recording ends closes at the end.
Rule 5: a recording is stopped by the call ending (Asterisk stops MixMonitor at hangup, so no
        ``StopRecording`` is sent to a dead channel) or by a stop request in ON_DEMAND mode (then
        ``StopRecording`` is sent, and no new recording starts until this one has stopped). It is
        finished, and ``ProcessRecording`` follows exactly once, at ``RecordingStopped``
        (MixMonitorStop: Asterisk has closed the leg files) or at ``CallEnded``, whichever comes
        first; the job queue retries a leg that is not there yet.
Rule 6: the n-th recording of a call is named ``<call_id>`` (n = 1) or ``<call_id>-<n>``; its legs
        are ``<legs_dir>/<recording_id>-customer.wav`` and ``-agent.wav``.
Rule 7: the recording's clock starts at ``RecordingStarted`` (MixMonitorStart) when it comes:
        Asterisk starts writing a little after the command was sent, and the spans must line up
        with the audio. Until then it is the time ``StartRecording`` was decided.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from callcenter.events import (
    AgentId,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallId,
    CallQueued,
    CampaignId,
    ChannelId,
    DialAttempted,
    Direction,
    MuteRecording,
    PausedSpan,
    ProcessRecording,
    QueueName,
    RecordingId,
    RecordingLeg,
    RecordingPaused,
    RecordingPauseRequested,
    RecordingResumed,
    RecordingResumeRequested,
    RecordingStarted,
    RecordingStartRequested,
    RecordingStopped,
    RecordingStopRequested,
    SetVariable,
    StartRecording,
    StopRecording,
)
from recorder.policy import Mode, RecordingPolicy, decide

logger = logging.getLogger(__name__)

ANNOUNCE_VARIABLE = "RECORDING_ANNOUNCE"
# What `handle` looks at; the adapter subscribes to these only.
INPUTS = (
    CallArrived, DialAttempted, CallQueued, CallAnswered, CallEnded, RecordingStarted, RecordingStopped,
    RecordingStartRequested, RecordingStopRequested, RecordingPauseRequested, RecordingResumeRequested,
)
CUSTOMER = "customer"
AGENT = "agent"


@dataclass(slots=True)
class _Recording:
    recording_id: RecordingId
    started_at: float
    legs: tuple[RecordingLeg, ...]
    spans: list[PausedSpan] = field(default_factory=list)
    paused_at: float | None = None
    stopping: bool = False


@dataclass(slots=True)
class _Call:
    call_id: CallId
    channel_id: ChannelId | None = None
    direction: Direction = Direction.INBOUND
    queue: QueueName | None = None
    campaign_id: CampaignId | None = None
    agent_id: AgentId | None = None
    answered: bool = False
    announced: bool = False
    start_requested: bool = False
    paused: bool = False
    count: int = 0  # recordings made so far (Rule 6)
    recording: _Recording | None = None


class RecordingController:
    """Pure core of the recorder: ``handle(event, now) -> [message]``."""

    def __init__(self, policy: RecordingPolicy, *, legs_dir: str) -> None:
        self._policy = policy
        self._legs_dir = legs_dir.rstrip("/")
        self._calls: dict[CallId, _Call] = {}

    def handle(self, event: object, now: float) -> list[object]:
        match event:
            case CallArrived():
                # The dialer's DialAttempted may come first and has already named the campaign.
                call = self._call(event.call_id)
                call.channel_id, call.direction = event.channel_id, event.direction
                return []
            case DialAttempted(call_id=call_id) if call_id is not None:
                self._call(call_id).campaign_id = event.campaign_id
                return []
            case CallQueued():
                return self._on_queued(event)
            case CallAnswered():
                call = self._call(event.call_id)
                call.answered, call.agent_id = True, event.agent_id
                if self._mode(call) is Mode.ALWAYS or (call.start_requested and self._mode(call) is Mode.ON_DEMAND):
                    return self._start(call, now)
                return []
            case RecordingStartRequested():
                return self._on_start_requested(event, now)
            case RecordingStopRequested():
                return self._on_stop_requested(event, now)
            case RecordingPauseRequested():
                return self._on_pause(event, now)
            case RecordingResumeRequested():
                return self._on_resume(event, now)
            case RecordingStarted():
                live = self._calls.get(event.call_id)
                if live is not None and live.recording is not None and live.recording.recording_id == event.recording_id:
                    live.recording.started_at = now
                return []
            case RecordingStopped():
                live = self._calls.get(event.call_id)
                if live is None or live.recording is None or live.recording.recording_id != event.recording_id:
                    return []
                return self._finish(live, now)
            case CallEnded():
                ended = self._calls.pop(event.call_id, None)
                return self._finish(ended, now) if ended is not None else []
        return []

    def active_recording(self, call_id: CallId) -> RecordingId | None:
        call = self._calls.get(call_id)
        return call.recording.recording_id if call is not None and call.recording is not None else None

    # ---------------------------------------------------------------------------------------

    def _call(self, call_id: CallId) -> _Call:
        call = self._calls.get(call_id)
        if call is None:  # we joined mid-call (restart): learn what we can from later events
            call = self._calls[call_id] = _Call(call_id)
        return call

    def _mode(self, call: _Call) -> Mode:
        return decide(self._policy, direction=call.direction, queue=call.queue, campaign_id=call.campaign_id).mode

    def _on_queued(self, event: CallQueued) -> list[object]:
        call = self._call(event.call_id)
        call.queue = event.request.queue
        if call.channel_id is None:
            call.channel_id = event.channel_id
        decision = decide(self._policy, direction=call.direction, queue=call.queue, campaign_id=call.campaign_id)
        logger.info("call %s: recording mode %s by %s", call.call_id, decision.mode.value, decision.rule)
        if decision.announce and not call.announced and call.channel_id is not None:
            call.announced = True
            return [SetVariable(channel_id=call.channel_id, name=ANNOUNCE_VARIABLE, value="1")]
        return []

    def _on_start_requested(self, event: RecordingStartRequested, now: float) -> list[object]:
        call = self._call(event.call_id)
        mode = self._mode(call)
        if mode is Mode.NEVER:
            logger.warning("call %s: recording requested by %s refused: policy says never", call.call_id, event.by)
            return []
        if call.recording is not None:
            return []  # already recording, or still stopping the last one
        if not call.answered:
            call.start_requested = True
            return []
        return self._start(call, now)

    def _on_stop_requested(self, event: RecordingStopRequested, now: float) -> list[object]:
        call = self._calls.get(event.call_id)
        if call is None or call.recording is None or call.recording.stopping:
            return []
        if self._mode(call) is not Mode.ON_DEMAND:
            logger.warning("call %s: stop requested by %s refused: policy records this call", call.call_id, event.by)
            return []
        assert call.channel_id is not None  # Precondition: _start only records calls with a channel
        rec = call.recording
        rec.stopping = True
        self._close_span(rec, now)
        call.start_requested = False
        return [StopRecording(call_id=call.call_id, channel_id=call.channel_id, recording_id=rec.recording_id)]

    def _on_pause(self, event: RecordingPauseRequested, now: float) -> list[object]:
        call = self._call(event.call_id)
        if call.paused:
            return []
        call.paused = True
        if call.recording is None or call.recording.stopping:
            return []
        return self._mute(call, call.recording, True, event.by, now)

    def _on_resume(self, event: RecordingResumeRequested, now: float) -> list[object]:
        call = self._calls.get(event.call_id)
        if call is None or not call.paused:
            return []
        call.paused = False
        if call.recording is None or call.recording.stopping:
            return []
        return self._mute(call, call.recording, False, event.by, now)

    def _start(self, call: _Call, now: float) -> list[object]:
        if call.channel_id is None:
            logger.warning("call %s: cannot record, the customer channel is unknown", call.call_id)
            return []
        call.count += 1
        rid = RecordingId(call.call_id if call.count == 1 else f"{call.call_id}-{call.count}")
        customer_file = f"{self._legs_dir}/{rid}-{CUSTOMER}.wav"
        agent_file = f"{self._legs_dir}/{rid}-{AGENT}.wav"
        legs = (RecordingLeg(speaker=CUSTOMER, file=customer_file), RecordingLeg(speaker=AGENT, file=agent_file))
        call.recording = _Recording(rid, now, legs)
        logger.info("call %s: recording %s starts on %s", call.call_id, rid, call.channel_id)
        # file="" asks for no mixed stream: we mix the legs ourselves (recorder/postprocess.py).
        out: list[object] = [
            StartRecording(
                call_id=call.call_id,
                channel_id=call.channel_id,
                recording_id=rid,
                file="",
                rx_file=customer_file,
                tx_file=agent_file,
            )
        ]
        if call.paused:
            out += self._mute(call, call.recording, True, "pause-in-force", now)
        return out

    def _mute(self, call: _Call, rec: _Recording, mute: bool, by: str, now: float) -> list[object]:
        assert call.channel_id is not None  # Precondition: a recording exists only with a channel
        if mute:
            rec.paused_at = now
            audit: object = RecordingPaused(call_id=call.call_id, recording_id=rec.recording_id, by=by, at=now)
        else:
            self._close_span(rec, now)
            audit = RecordingResumed(call_id=call.call_id, recording_id=rec.recording_id, by=by, at=now)
        logger.info("call %s: recording %s %s by %s", call.call_id, rec.recording_id, "paused" if mute else "resumed", by)
        return [MuteRecording(channel_id=call.channel_id, recording_id=rec.recording_id, mute=mute), audit]

    @staticmethod
    def _close_span(rec: _Recording, now: float) -> None:
        if rec.paused_at is not None:
            rec.spans.append(PausedSpan(start_s=rec.paused_at - rec.started_at, end_s=now - rec.started_at))
            rec.paused_at = None

    def _finish(self, call: _Call, now: float) -> list[object]:
        rec = call.recording
        if rec is None:
            return []
        call.recording = None
        self._close_span(rec, now)
        return [
            ProcessRecording(
                call_id=call.call_id,
                recording_id=rec.recording_id,
                legs=rec.legs,
                started_at=rec.started_at,
                paused_spans=tuple(rec.spans),
                direction=call.direction,
                queue=call.queue,
                campaign_id=call.campaign_id,
                agent_id=call.agent_id,
            )
        ]
