"""Child side of :func:`memcollab_langgraph.verifiers.sandbox.run_python`.

The parent starts this file as ``python -I -B _bootstrap.py`` in a new session and writes a JSON
plan on its stdin. This process (single-threaded, freshly started, so no ``preexec_fn`` in a
threaded parent is needed) then isolates itself step by step, reports which layers are active on
the status pipe, and finally executes the user's program in its own ``__main__`` module.

Standard library only: it runs outside the package (``-I`` keeps its directory, which holds a
``math.py`` and a ``code.py``, off ``sys.path``). Each OS layer is best effort and recorded; the
parent decides what to tell the caller. An :class:`OSError` during setup is reported as
``{"error": ...}`` with exit status 125 instead of running the program half-isolated.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
import types
from typing import Any

SETUP_FAILED_EXIT = 125

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_KEEPCAPS = 8
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_LANDLOCK_CREATE_RULESET = 444  # same number on every Linux architecture but alpha
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
# Write-side filesystem rights (ABI 1), then REFER (ABI 2) and TRUNCATE (ABI 3).
_FS_WRITE_FILE = 1 << 1
_FS_WRITE_ABI1 = _FS_WRITE_FILE | sum(1 << b for b in range(4, 13))
_FS_REFER = 1 << 13
_FS_TRUNCATE = 1 << 14
_NET_BIND_TCP = 1
_NET_CONNECT_TCP = 2
_SCOPE_ABSTRACT_UNIX_SOCKET = 1
_SCOPE_SIGNAL = 2
# World-writable places an unprivileged uid could otherwise write to; replaced by private tmpfs.
_SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: Any) -> int:
    result = int(getattr(_libc, name)(*args))
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args[:2]!r}: {os.strerror(err)}")
    return result


def _unshare(flags: int) -> bool:
    try:
        _call("unshare", ctypes.c_int(flags))
    except OSError:
        return False
    return True


def _mount_tmpfs(target: str, size: int, mode: str) -> None:
    options = f"size={size},mode={mode}".encode()
    _call("mount", b"tmpfs", target.encode(), b"tmpfs", ctypes.c_ulong(_MS_NOSUID | _MS_NODEV), options)


def _private_mounts(workdir: str, size: int) -> None:
    """New mount namespace: private tmpfs over world-writable dirs and the workdir (disk quota)."""
    _call("mount", b"none", b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None)
    covered = False
    for path in _SHARED_WRITABLE:
        if os.path.isdir(path) and not os.path.islink(path):
            _mount_tmpfs(path, size, "1777")
            covered = covered or workdir.startswith(path.rstrip("/") + "/")
    if covered:
        os.makedirs(workdir, mode=0o700, exist_ok=True)
    else:
        _mount_tmpfs(workdir, size, "0700")


def _world_traversable(path: str) -> bool:
    """Whether a user with no special rights can read ``path`` (and every directory above it)."""
    path = os.path.realpath(path)
    parts = [path]
    while (parent := os.path.dirname(parts[-1])) != parts[-1]:
        parts.append(parent)
    try:
        return all(os.stat(p).st_mode & 0o005 == 0o005 for p in parts[1:]) and bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def _has_permitted_cap(cap: int) -> bool:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapPrm:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def _drop_to_uid(uid: int, gid: int, keep_read: bool) -> None:
    """Become ``uid``/``gid``; with ``keep_read`` keep only CAP_DAC_READ_SEARCH (also across exec)."""
    if keep_read:
        _call("prctl", ctypes.c_int(_PR_SET_KEEPCAPS), ctypes.c_ulong(1), 0, 0, 0)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if keep_read:
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        bit = 1 << _CAP_DAC_READ_SEARCH
        data[0].effective = data[0].permitted = data[0].inheritable = bit
        _call("capset", ctypes.byref(header), data)
        _call(
            "prctl",
            ctypes.c_int(_PR_CAP_AMBIENT),
            ctypes.c_ulong(_PR_CAP_AMBIENT_RAISE),
            _CAP_DAC_READ_SEARCH,
            0,
            0,
        )


def _landlock(workdir: str, extra_writable: list[str], allow_network: bool) -> list[str]:
    """Deny writes outside ``workdir`` (and TCP bind/connect unless allowed). Returns layer names."""
    abi = int(_libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION))
    if abi < 1:
        return []
    fs = _FS_WRITE_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 and not allow_network else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    ruleset = int(_call("syscall", _SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0))
    file_rights = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)
    rules = [(workdir, fs), *((p, fs) for p in extra_writable), ("/dev/null", file_rights)]
    try:
        for path, rights in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(rights, fd)
                _call(
                    "syscall",
                    _SYS_LANDLOCK_ADD_RULE,
                    ruleset,
                    _LANDLOCK_RULE_PATH_BENEATH,
                    ctypes.byref(rule),
                    0,
                )
            finally:
                os.close(fd)
        _call("syscall", _SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    return ["landlock-fs", *(["landlock-net"] if net else []), *(["landlock-scope"] if scoped else [])]


def _set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        which = getattr(resource, f"RLIMIT_{name.upper()}")
        current_hard = resource.getrlimit(which)[1]
        hard = value + 1 if name == "cpu" else value  # SIGXCPU at the soft limit, SIGKILL one second later
        if current_hard != resource.RLIM_INFINITY:  # an unprivileged process cannot raise its hard limit
            hard, value = min(hard, current_hard), min(value, current_hard)
        resource.setrlimit(which, (value, hard))


def _guard_sockets() -> None:
    """Second, Python-level network layer: only AF_UNIX sockets (asyncio's self-pipe) may be made.

    ``socket.socket.__init__`` calls ``_socket.socket.__init__`` by module attribute, so replacing
    the C base class there guards both ``socket.socket(...)`` and ``_socket.socket(...)``.
    """
    import _socket
    import socket  # first, so that socket.socket keeps subclassing the real C class

    base = _socket.socket
    del socket

    class GuardedSocket(base):  # type: ignore[misc, valid-type]
        def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: Any = None) -> None:
            base.__init__(self, family, type, proto, fileno)
            if self.family != _socket.AF_UNIX:
                base.close(self)
                raise PermissionError("network access is disabled in this sandbox")

    _socket.socket = GuardedSocket  # type: ignore[misc]


def _hide_own_frames(kind: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
    """Print tracebacks as if the program had been run directly, without the bootstrap's frames."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    sys.__excepthook__(kind, exc.with_traceback(tb), tb)  # the default hook prints exc.__traceback__


def isolate(plan: dict[str, Any]) -> list[str]:
    """Apply every isolation layer the OS allows; return the names of the active ones."""
    layers: list[str] = []
    workdir: str = plan["workdir"]
    linux = sys.platform.startswith("linux")
    root = os.geteuid() == 0
    if (
        linux
        and not plan["allow_network"]
        and (_unshare(_CLONE_NEWNET) or (not root and _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)))
    ):
        layers.append("netns")
    extra_writable: list[str] = []
    if linux and root and _unshare(_CLONE_NEWNS):
        _private_mounts(workdir, plan["disk_bytes"])
        layers.append("mountns")
        extra_writable = ["/dev/shm"] if os.path.isdir("/dev/shm") else []  # private now: multiprocessing
    os.chdir(workdir)
    main_path = os.path.join(workdir, "main.py")
    with open(main_path, "w", encoding="utf-8") as f:
        f.write(plan["code"])
    uid, gid = plan.get("uid"), plan.get("gid")
    if root and uid is not None and gid is not None:
        os.chown(workdir, uid, gid)
        os.chmod(workdir, 0o700)
        needs_read = not all(_world_traversable(p) for p in {sys.prefix, sys.base_prefix, os.__file__})
        if needs_read and not (linux and _has_permitted_cap(_CAP_DAC_READ_SEARCH)):
            layers.append("uid-skipped:interpreter-unreadable")
        else:
            _drop_to_uid(uid, gid, keep_read=needs_read)
            layers.append(f"uid:{uid}" + ("+read-all" if needs_read else ""))
    if linux:
        _call("prctl", ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), 0, 0, 0)
        layers.append("no-new-privs")
        layers += _landlock(workdir, extra_writable, plan["allow_network"])
    _set_limits(plan["limits"])
    layers.append("rlimits")
    if not plan["allow_network"]:
        _guard_sockets()
        layers.append("socket-guard")
    return layers


def main() -> None:
    plan: dict[str, Any] = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    status_fd: int = plan["status_fd"]
    try:
        layers = isolate(plan)
    except OSError as e:
        os.write(status_fd, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        os._exit(SETUP_FAILED_EXIT)
    os.write(status_fd, json.dumps({"layers": layers}).encode())
    os.close(status_fd)
    path = os.path.join(plan["workdir"], "main.py")
    module = types.ModuleType("__main__")
    module.__file__ = path
    sys.modules["__main__"] = module
    sys.argv = [path]
    sys.path.insert(0, plan["workdir"])
    sys.excepthook = _hide_own_frames
    code = compile(plan.pop("code"), path, "exec")
    exec(code, module.__dict__)


if __name__ == "__main__":
    main()
