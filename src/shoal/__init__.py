"""shoal: massive parallelism with microthreads.

Tasklets on greenlets with explicit, voluntary scheduling; Stackless channels
and Go-style buffered channels; an atomic ``select``. ``shoal.stackless`` is
the C-Stackless API over the same scheduler.
"""

from ._bridge import await_ as await_
from ._bridge import to_thread as to_thread
from ._bridge import wait_future as wait_future
from ._channel import Case as Case
from ._channel import Channel as Channel
from ._errors import BlockingInHubError as BlockingInHubError
from ._errors import BusyError as BusyError
from ._errors import ChannelClosed as ChannelClosed
from ._errors import ClosedError as ClosedError
from ._errors import ClosedFileError as ClosedFileError
from ._errors import DeadlockError as DeadlockError
from ._errors import Error as Error
from ._errors import TaskletExit as TaskletExit
from ._errors import TimeoutError as TimeoutError
from ._errors import WouldBlock as WouldBlock
from ._hub import current_time as current_time
from ._hub import sleep as sleep
from ._introspect import Monitor as Monitor
from ._introspect import dump_tasklets as dump_tasklets
from ._introspect import monitor as monitor
from ._scheduler import schedule as schedule
from ._select import select as select
from ._server import Server as Server
from ._server import serve_tcp as serve_tcp
from ._structure import TaskGroup as TaskGroup
from ._structure import allof as allof
from ._structure import oneof as oneof
from ._sync import Event as Event
from ._sync import Lock as Lock
from ._sync import Queue as Queue
from ._sync import Semaphore as Semaphore
from ._tasklet import Tasklet as Tasklet
from ._tasklet import current as current
from ._tasklet import run as run
from ._tasklet import spawn as spawn
from ._timeouts import CancelScope as CancelScope
from ._timeouts import move_on_after as move_on_after
from ._timeouts import timeout as timeout
from ._tls import install as _install_tls

# ssl.SSLContext.wrap_socket on a shoal socket gives a cooperative SSLSocket.
_install_tls()

__all__ = [
    "BlockingInHubError",
    "BusyError",
    "CancelScope",
    "Case",
    "Channel",
    "ChannelClosed",
    "ClosedError",
    "ClosedFileError",
    "DeadlockError",
    "Error",
    "Event",
    "Lock",
    "Monitor",
    "Queue",
    "Semaphore",
    "Server",
    "TaskGroup",
    "Tasklet",
    "TaskletExit",
    "TimeoutError",
    "WouldBlock",
    "allof",
    "await_",
    "current",
    "current_time",
    "dump_tasklets",
    "monitor",
    "move_on_after",
    "oneof",
    "run",
    "schedule",
    "select",
    "serve_tcp",
    "sleep",
    "spawn",
    "timeout",
    "to_thread",
    "wait_future",
]
