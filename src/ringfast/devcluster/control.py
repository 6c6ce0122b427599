"""The control socket: one JSON line each way, ``{"cmd": "kill", "node": "n2"}`` ->
``{"ok", "message", "cluster"}``. The server side runs in the dev-cluster's loop; the client
side is ``ringfast dev-cluster ACTION`` in another terminal."""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import stat
import sys
import tempfile

from ..errors import ConfigError
from .formatting import format_ranges, format_table

ACTIONS = ("kill", "pause", "resume", "restart", "stop", "nodes", "quit")
NODE_ACTIONS = ("kill", "pause", "resume", "restart", "stop")


def control_dir(create: bool = True) -> str:
    """The directory of the control sockets: $XDG_RUNTIME_DIR/ringfast, else
    /tmp/ringfast-dev-cluster-<uid>; private to this user (checked)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        d = os.path.join(runtime, "ringfast")
    else:
        d = os.path.join(tempfile.gettempdir(), f"ringfast-dev-cluster-{os.getuid()}")
    if create:
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise ConfigError(f"cannot create the control directory {d}: {e.strerror}") from None
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        return d
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise ConfigError(f"control directory {d} is not a private directory of this user; remove it")
    return d


def control_socket_path(base_port: int) -> str:
    return os.path.join(control_dir(), f"dev-cluster-{base_port}.sock")


def _answers(path: str) -> bool:
    """Whether a dev-cluster listens on the control socket at path (a stale one refuses)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------- server


class ControlServerMixin:
    """DevCluster's end of the control socket (uses its base_port, ctl, ctl_path, do(), info()
    and _message)."""

    def open_control(self):
        path = control_socket_path(self.base_port)
        if len(path.encode()) > 100:
            raise ConfigError(f"control socket path too long: {path} (set XDG_RUNTIME_DIR to a shorter directory)")
        if os.path.exists(path):
            if _answers(path):
                raise ConfigError(f"a dev-cluster with --base-port {self.base_port} is already running "
                                  f"(control socket {path})")
            os.unlink(path)  # stale: its dev-cluster is gone
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.bind(path)
        os.chmod(path, 0o600)
        ctl.listen(16)
        ctl.setblocking(False)
        self.ctl, self.ctl_path = ctl, path

    def close_control(self):
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
            try:
                os.unlink(self.ctl_path)
            except OSError:
                pass

    def serve_control(self):
        while True:
            try:
                conn, _ = self.ctl.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                conn.setblocking(True)
                conn.settimeout(2.0)
                data = b""
                while b"\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                try:
                    msg = json.loads(data)
                    action, name = msg.get("cmd"), msg.get("node")
                except (ValueError, AttributeError):
                    ok, text = False, "bad request: expected one JSON line"
                else:
                    if action not in ACTIONS:
                        ok, text = False, f"unknown command {action!r}: expected one of {', '.join(ACTIONS)}"
                    else:
                        ok, text = self.do(action, name)
                        if text and action != "nodes":
                            self._message = f"(control) {text}"
                conn.sendall(json.dumps({"ok": ok, "message": text, "cluster": self.info()}).encode() + b"\n")
            except OSError:
                pass
            finally:
                conn.close()


# ---------------------------------------------------------------------------- client


def _request(path: str, msg: dict, timeout: float = 10.0) -> dict:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(json.dumps(msg).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return json.loads(data)


def _live_sockets() -> list[tuple[int, str]]:
    found = []
    for path in sorted(glob.glob(os.path.join(control_dir(create=False), "dev-cluster-*.sock"))):
        m = re.search(r"dev-cluster-(\d+)\.sock$", path)
        if m and _answers(path):
            found.append((int(m.group(1)), path))
    return found


def _node_table(info: dict) -> str:
    rows = [("NODE", "PID", "STATE", "ROLE", "EPOCH", "PORT", "HTTP", "PARTITIONS")]
    engine = info.get("engine")
    for n in info["nodes"]:
        rows.append((n["id"], str(n["pid"] or "-"), n["state"], n["role"] or "-", str(n["epoch"] or "-"),
                     "-" if engine else str(n["port"]), str(n["monitoring_port"]), format_ranges(n["partitions"])))
    lines = [f"dev-cluster pid {info['pid']}, dir {info['dir']}; leader {info['leader'] or '-'}, "
             f"epoch {info['epoch'] or '-'}, {info['partitions_owned']}/{info['num_partitions']} partitions owned"]
    if engine:
        lines.append(f"backend {engine['backend']} at {engine['endpoints']}: pid {engine['pid'] or '-'}, "
                     f"{engine['state']}")
    lines += format_table(rows)
    return "\n".join(lines)


def run_control(args) -> int:
    """``ringfast dev-cluster ACTION [NODE]``: send the action to the running dev-cluster."""
    if args.action in NODE_ACTIONS and not args.node:
        raise ConfigError(f"dev-cluster {args.action}: which node? (e.g. ringfast dev-cluster {args.action} n2)")
    if args.action not in NODE_ACTIONS and args.node:
        raise ConfigError(f"dev-cluster {args.action} takes no node")
    if args.base_port is not None:
        path = control_socket_path(args.base_port)
        if not os.path.exists(path):
            print(f"ringfast: no dev-cluster with --base-port {args.base_port} is running (no {path})", file=sys.stderr)
            return 1
    else:
        live = _live_sockets()
        if not live:
            print(f"ringfast: no dev-cluster is running (no control socket in {control_dir(create=False)})",
                  file=sys.stderr)
            return 1
        if len(live) > 1:
            ports = ", ".join(str(p) for p, _ in live)
            print(f"ringfast: several dev-clusters are running (base ports {ports}): choose one with --base-port",
                  file=sys.stderr)
            return 1
        path = live[0][1]
    try:
        reply = _request(path, {"cmd": args.action, "node": args.node})
    except (ConnectionRefusedError, FileNotFoundError):
        print(f"ringfast: no dev-cluster with --base-port {args.base_port} is running (stale {path})", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"ringfast: cannot talk to the dev-cluster at {path}: {e}", file=sys.stderr)
        return 1
    if args.action == "nodes":
        print(json.dumps(reply["cluster"], indent=2) if args.json else _node_table(reply["cluster"]))
        return 0
    if args.json:
        print(json.dumps(reply, indent=2))
    if not reply.get("ok"):
        print(f"ringfast: {reply.get('message')}", file=sys.stderr)
        return 1
    if not args.json:
        print(reply.get("message"))
    return 0
