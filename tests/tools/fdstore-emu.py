#!/usr/bin/env python3
# fdstore-emu.py: runs a daemon the way systemd runs a Type=notify service
# with a file descriptor store, across restarts, for tests without systemd.
#
# usage: fdstore-emu.py DIR COMMAND [ARG...]
#
# It listens on DIR/notify.sock (NOTIFY_SOCKET of the daemon) and keeps the
# fds the daemon pushes with FDSTORE=1 under their FDNAME= (FDSTOREREMOVE=1
# drops a name), as systemd does. Each start passes every stored fd from fd 3
# on with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID. It writes the daemon's
# pid to DIR/child.pid; once the daemon exits (SIGTERM it), it reads what the
# daemon sent before exiting, writes the stored names to DIR/store (one line
# each, in order), removes DIR/child.pid, and waits for DIR/start to appear
# (deleting it) to start the daemon again. SIGTERM to the emulator ends the
# daemon (SIGTERM) and then itself. Prints "fdstore-emu: ..." lines on stderr.
import array
import fcntl
import os
import signal
import socket
import sys
import time

MAX_WAIT_S = 120  # for DIR/start


def log(msg):
    sys.stderr.write("fdstore-emu: %s\n" % msg)
    sys.stderr.flush()


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: fdstore-emu.py DIR COMMAND [ARG...]\n")
        return 2
    d, cmd = sys.argv[1], sys.argv[2:]
    path = os.path.join(d, "notify.sock")
    if os.path.exists(path):
        os.unlink(path)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(0.1)
    store = []  # (name, fd)
    state = {"child": 0, "quit": False}

    def on_term(_sig, _frm):
        state["quit"] = True
        if state["child"]:
            try:
                os.kill(state["child"], signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def drain():
        while True:
            try:
                msg, anc, _flags, _addr = ns.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
            except (socket.timeout, BlockingIOError, InterruptedError):
                return
            fds = array.array("i")
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            kv = {}
            for line in msg.decode("utf-8", "replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    kv[k] = v
            name = kv.get("FDNAME", "stored")
            if kv.get("FDSTORE") == "1":
                for fd in fds:
                    store.append((name, fd))
                    log("stored %s" % name)
            else:
                for fd in fds:
                    os.close(fd)
            if kv.get("FDSTOREREMOVE") == "1":
                for n, fd in [e for e in store if e[0] == name]:
                    os.close(fd)
                    log("removed %s" % n)
                store[:] = [e for e in store if e[0] != name]

    while not state["quit"]:
        pid = os.fork()
        if pid == 0:
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for _n, fd in store]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
            env = dict(os.environ)
            env["NOTIFY_SOCKET"] = path
            if store:
                env["LISTEN_FDS"] = str(len(store))
                env["LISTEN_FDNAMES"] = ":".join(n for n, _fd in store)
                env["LISTEN_PID"] = str(os.getpid())
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(cmd[0], cmd, env)
        state["child"] = pid
        with open(os.path.join(d, "child.pid.tmp"), "w") as f:
            f.write("%d\n" % pid)
        os.rename(os.path.join(d, "child.pid.tmp"), os.path.join(d, "child.pid"))
        log("started pid %d with %d stored fds" % (pid, len(store)))
        while True:
            drain()
            try:
                r, status = os.waitpid(pid, os.WNOHANG)
            except InterruptedError:
                continue
            if r == pid:
                break
        state["child"] = 0
        drain()
        os.unlink(os.path.join(d, "child.pid"))
        with open(os.path.join(d, "store"), "w") as f:
            for n, _fd in store:
                f.write(n + "\n")
        log("pid %d exited (status %d), %d fds stored" % (pid, status, len(store)))
        start = os.path.join(d, "start")
        t0 = time.monotonic()
        while not state["quit"] and not os.path.exists(start):
            if time.monotonic() - t0 > MAX_WAIT_S:
                log("no %s: giving up" % start)
                return 1
            time.sleep(0.05)
        if os.path.exists(start):
            os.unlink(start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
