"""`microseg serve` on a free loopback port, for the Flight benchmarks."""

import contextlib
import socket
import subprocess
import sys
import time

USER, PASSWORD = "bench", "bench-pw"


@contextlib.contextmanager
def serving(binary, lake, work, *flags):
    """Serves `lake` with one analyst user (users file and log in `work`).

    Yields the server process, its URI and the ADBC `db_kwargs` to log in
    with; stops the server on the way out. Exits with the server's log if
    it does not come up.
    """
    users = work / "users.toml"
    subprocess.run([binary, "users", "add", USER, "--role", "analyst", "--users", str(users)],
                   input=f"{PASSWORD}\n", text=True, check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = work / "serve.log"
    with open(log_path, "w+") as log:
        server = subprocess.Popen(
            [binary, "serve", "--lake", str(lake), "--users", str(users),
             "--bind", f"127.0.0.1:{port}", *flags],
            stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            while "serving" not in log_path.read_text():
                if server.poll() is not None:
                    sys.exit(log_path.read_text())
                time.sleep(0.2)
            yield server, f"grpc://127.0.0.1:{port}", {"username": USER, "password": PASSWORD}
        finally:
            server.terminate()
            server.wait(timeout=30)
