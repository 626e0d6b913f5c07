"""Debian's Postfix as a real MTA for tests: its own config, queue and data directories under a
temp dir, listening on 127.0.0.1 at a free port, no system service.

It accepts mail for `local_domain` (any local part: the recipient check happens at delivery,
so an unknown user becomes a DSN, as on a real mailbox server) and sends mail for
`bounce_domain` — the DSNs — to `127.0.0.1:<inbound_port>`. Stopped with
`postfix -c DIR stop` (the master process and its children are Postfix's own).

    with PostfixRelay(inbound_port, "bounces.iep.test") as mta:
        ... relay to ("127.0.0.1", mta.port) ...
"""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {dir}
maillog_file = {dir}/postfix.log
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{local_domain}
mydomain = {local_domain}
myorigin = $myhostname
mydestination = {local_domain}
mynetworks = 127.0.0.0/8
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
transport_maps = inline:{{ {bounce_domain}=smtp:[127.0.0.1]:{inbound_port} }}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
bounce_queue_lifetime = 1h
delay_warning_time = 0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostfixRelay:
    def __init__(
        self,
        inbound_port: int,
        bounce_domain: str,
        local_domain: str = "localmail.example.org",
    ) -> None:
        # Not under pytest's tmp dirs: Postfix's daemons run as `postfix` and must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="iep-postfix-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.inbound_port = inbound_port
        self.bounce_domain = bounce_domain
        self.local_domain = local_domain

    @staticmethod
    def available() -> bool:
        return Path(POSTFIX).exists() and shutil.which("postconf") is not None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> "PostfixRelay":
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        (self.dir / "queue").mkdir(exist_ok=True)
        shutil.chown(self.dir / "data", user="postfix")
        values = {
            "dir": self.dir,
            "port": self.port,
            "inbound_port": self.inbound_port,
            "bounce_domain": self.bounce_domain,
            "local_domain": self.local_domain,
        }
        (self.dir / "main.cf").write_text(MAIN_CF.format(**values))
        (self.dir / "master.cf").write_text(MASTER_CF.format(**values))
        done = self._run("start")
        if done.returncode != 0:
            raise RuntimeError(f"postfix start failed: {done.stdout}{done.stderr}{self.log()}")
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"postfix did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.dir / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self._run("stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PostfixRelay":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
