"""A throwaway Request Tracker 5 (Debian's ``request-tracker5``, ``rt5-standalone``,
``rt5-db-sqlite``): its own SQLite database and site config in a temp directory,
its standalone server on a free loopback port, an auth token for REST 2. The
machine's RT config (``/etc/request-tracker5``) is never read: ``RT_SITE_CONFIG``
and ``RT_SITE_CONFIG_DIR`` point at ours.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support.harness import free_port, wait_until

RT_LIB = Path("/usr/share/request-tracker5/lib")
RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_SETUP = "/usr/sbin/rt-setup-database"

SITE_CONFIG = """
Set($rtname, 'ivrtest');
Set($Organization, 'ivrtest.example');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{root}/rt.db');
Set($MasonDataDir, '{root}/mason');
Set($MasonSessionDir, '{root}/session');
Set($LogToSTDERR, 'warning');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($DisableGraphViz, 1);
Set($DisableGD, 1);
Set($MailCommand, 'testfile');  # auto-replies to a temp file, not sendmail
1;
"""

MAKE_TOKEN = """
use strict; use warnings;
use lib '{lib}';
use RT; RT::LoadConfig(); RT::Init();
my $user = RT::User->new(RT->SystemUser); $user->Load('root') or die "no root";
my $token = RT::AuthToken->new(RT->SystemUser);
my ($ok, $msg, $text) = $token->Create(Owner => $user->Id, Description => 'ivr tests');
die "token: $msg" unless $ok;
print "$text\\n";
"""


def perl_list(items: list[dict[str, str]]) -> str:
    rows = [", ".join(f"{k} => {v!r}" for k, v in item.items()) for item in items]
    return ",\n".join("    { " + row + " }" for row in rows)


class RequestTracker:
    """RT with ``queues`` and ticket custom fields ``fields`` (global), root's token."""

    def __init__(self, root: Path, queues: list[str], fields: list[str]) -> None:
        if not RT_SERVER.exists() or shutil.which(RT_SETUP) is None:
            pytest.fail(
                "Request Tracker is not installed (make test installs the Debian packages "
                "request-tracker5 rt5-standalone rt5-db-sqlite)"
            )
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("conf.d", "mason", "session"):
            (root / sub).mkdir(exist_ok=True)
        (root / "RT_SiteConfig.pm").write_text(SITE_CONFIG.format(port=self.port, root=root))
        self.env = {
            **os.environ,
            "RT_SITE_CONFIG": str(root / "RT_SiteConfig.pm"),
            "RT_SITE_CONFIG_DIR": str(root / "conf.d"),
        }
        self._run([RT_SETUP, "--action", "init", "--skip-create"])
        queue_rows = perl_list([{"Name": q} for q in queues])
        # Queue 0: the field applies to every queue.
        field_rows = perl_list(
            [
                {
                    "Name": f,
                    "Type": "FreeformSingle",
                    "LookupType": "RT::Queue-RT::Ticket",
                    "Queue": "0",
                }
                for f in fields
            ]
        )
        data = root / "initialdata"
        data.write_text(f"@Queues = (\n{queue_rows}\n);\n@CustomFields = (\n{field_rows}\n);\n1;\n")
        self._run([RT_SETUP, "--action", "insert", "--skip-create", "--datafile", str(data)])
        script = root / "token.pl"
        script.write_text(MAKE_TOKEN.format(lib=RT_LIB))
        self.token = self._run(["perl", str(script)]).strip().splitlines()[-1]

    def _run(self, command: list[str]) -> str:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{command} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(RT_SERVER), "--server", "Standalone", "--host", "127.0.0.1"]
            + ["--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() ends whatever it forked
        )
        log.close()

        def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"rt-server exited: {(self.root / 'server.log').read_text()}")
            try:
                return self.get("rt") is not None
            except OSError:
                return False

        wait_until(answers, 60, f"RT on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: rt-server's SIGINT handler chowns the system's RT directories.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/REST/2.0/{path}{query}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def get(self, path: str, **params: str) -> Any:
        return self.call("GET", path, **params)

    def search(self, query: str, fields: str = "Subject") -> list[dict[str, Any]]:
        found = self.get("tickets", query=query, fields=fields, per_page="100", orderby="id")
        return list(found["items"])

    def comments(self, rt_id: str) -> list[dict[str, Any]]:
        """The ticket's attachments (subject and content) in order."""
        found = self.get(f"ticket/{rt_id}/attachments", fields="Subject,Content", per_page="100")
        return list(found["items"])
