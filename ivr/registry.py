"""The running set of flows: chosen by DNIS, reloaded when files change, never replaced by a bad one.

Rule 1: a flow file that fails validation does not replace what was running: the last good version
of every flow defined in that file stays in service and the errors are logged (one line each, in
the `FILE:LINE:COLUMN:` form of `callcenter flows validate`).
Rule 2: a `Flow` is immutable and a session holds its own reference, so replacing a flow here never
touches a call in progress; new calls get the new version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from ivr.flow import Flow, FlowError
from ivr.prompts import SoundLibrary
from ivr.validate import flow_files, load_flows

logger = logging.getLogger(__name__)

DEFAULT_DNIS = "*"


class FlowRegistry:
    def __init__(self, paths: Sequence[Path], *, sounds: SoundLibrary | None = None) -> None:
        self._paths = tuple(paths)
        self._sounds = sounds
        self._flows: dict[str, Flow] = {}
        self._by_dnis: dict[str, Flow] = {}
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self.errors: list[FlowError] = []

    @property
    def flows(self) -> dict[str, Flow]:
        return dict(self._flows)

    def get(self, name: str) -> Flow | None:
        return self._flows.get(name)

    def for_dnis(self, dnis: str) -> Flow | None:
        """The flow serving `dnis`, else the flow that lists `*`, else None."""
        return self._by_dnis.get(dnis) or self._by_dnis.get(DEFAULT_DNIS)

    def _files_stamp(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for f in flow_files(self._paths):
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def reload(self) -> list[FlowError]:
        """Read every file again; install the valid flows, keep the last good version of the rest."""
        self._stamp = self._files_stamp()
        result = load_flows(self._paths, self._sounds)
        flows = dict(result.flows)
        for name, old in self._flows.items():
            if name not in flows and old.file in result.bad_files:
                flows[name] = old
                logger.warning("flow %s: keeping version %s; %s is invalid", name, old.version, old.file)
        for error in result.errors:
            logger.error("flow error: %s", error)
        for name, flow in flows.items():
            previous = self._flows.get(name)
            if previous is None or previous.version != flow.version:
                logger.info("flow %s: version %s in service (from %s)", name, flow.version, flow.file)
        for name in self._flows.keys() - flows.keys():
            logger.info("flow %s: removed", name)
        self._flows = flows
        self._by_dnis = {d: f for f in flows.values() for d in f.dnis}
        self.errors = result.errors
        return result.errors

    def reload_if_changed(self) -> bool:
        """Reload when any flow file was added, removed or modified; True when it reloaded."""
        if self._files_stamp() == self._stamp:
            return False
        self.reload()
        return True

    async def watch(self, interval_s: float = 2.0, on_reload: Callable[[], Awaitable[None]] | None = None) -> None:
        """Poll the flow files until cancelled (polling: no extra dependency, fine for a few files);
        `on_reload` runs after each reload (the control plane synthesises changed text prompts)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.reload_if_changed() and on_reload is not None:
                await on_reload()
