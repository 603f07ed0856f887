"""``gateway mail-sink`` and ``gateway mail-worker``: output, Ctrl-C, one-line errors."""
from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway import ROOT
from gateway.mail import send_mail
from gateway.mail.sink import SmtpServer, format_message
from tests.conftest import DEV_KEY, free_port
from tests.fixtures_mail import run_mail_worker

#: ``gateway …`` as the console script runs it, with the mail commands registered.
GATEWAY = "import gateway.cli.mail; from gateway.cli import cli; cli(prog_name='gateway')"


def gateway_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"}
    env.update(PYTHONUNBUFFERED="1", **{f"GATEWAY_{k.upper()}": v for k, v in settings.items()})
    return env


class Running:
    """A ``gateway`` sub-command in the background, its output in a file."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.path = tmp_path / f"output-{len(list(tmp_path.glob('output-*.txt')))}.txt"  # one per command
        self.file = self.path.open("w")
        self.process = subprocess.Popen([sys.executable, "-c", GATEWAY, *args], cwd=ROOT,
                                        env=env or gateway_env(), stdout=self.file, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.path.read_text()

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output}"
            time.sleep(0.05)

    def interrupt(self) -> int:
        """Ctrl-C; returns the exit status. A process still running 15 s later fails the test with its
        Python stacks (py-spy, when installed) and its output, so a rare hang can be understood."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            spy = Path(sys.executable).with_name("py-spy")
            stacks = subprocess.run([str(spy), "dump", "--pid", str(self.process.pid)], capture_output=True,
                                    text=True, timeout=30) if spy.exists() else None
            pytest.fail(f"still running 15 s after Ctrl-C; stacks:\n"
                        f"{stacks.stdout + stacks.stderr if stacks else '(py-spy not installed)'}\n"
                        f"output:\n{self.output}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.file.close()


@pytest.fixture
def running(tmp_path):
    started: list[Running] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Running:
        started.append(Running(tmp_path, *args, env=env))
        return started[-1]

    yield start
    for command in started:
        command.close()


def smtplib_send(port: int, to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = "gateway@example.org"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(message)


def test_sink_shows_to_subject_and_code_of_a_gateway_mail(make_mail_app, mail_config):
    received: list = []
    server = SmtpServer(received.append, "127.0.0.1", free_port())
    server.start()
    try:
        app = make_mail_app({**mail_config, "mail": {**mail_config["mail"], "port": server.port}})
        with app.app_context():
            send_mail("signin_code", "jade@example.org", "fr", code="862240",
                      link="https://x.test/c?code=862240", minutes=10)
        run_mail_worker(app)
    finally:
        server.stop()
    shown = format_message(received[0])
    assert "To: jade@example.org" in shown
    assert "Subject: Votre code de connexion UNESS" in shown
    assert "862240" in shown and "https://x.test/c?code=862240" in shown
    assert "<p" not in shown  # the text part, not the HTML


def test_mail_sink_command_prints_mail_and_stops_on_ctrl_c(running):
    port = free_port()
    sink = running("mail-sink", "--port", str(port))
    sink.wait_for(f"mail sink on 127.0.0.1:{port}")
    smtplib_send(port, "kim@example.org", "Votre code de connexion UNESS", "Votre code : 551234")
    sink.wait_for("551234")
    assert "To: kim@example.org" in sink.output
    assert "Subject: Votre code de connexion UNESS" in sink.output
    assert sink.interrupt() == 0
    assert "mail sink stopped" in sink.output
    assert "Traceback" not in sink.output


def test_mail_sink_port_in_use_is_one_line(smtp):
    result = subprocess.run([sys.executable, "-c", GATEWAY, "mail-sink", "--port", str(smtp.port)], cwd=ROOT,
                            env=gateway_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    expected = f"gateway: cannot listen on 127.0.0.1:{smtp.port}: Address already in use"
    assert result.stderr.strip().splitlines() == [expected]


def worker_env(redis_url: str, smtp_port: int) -> dict[str, str]:
    return gateway_env(mode="development", secret_key=DEV_KEY, insecure_http="true", redis_url=redis_url,
                       mail_server="127.0.0.1", mail_port=str(smtp_port), mail_security="none")


def test_mail_worker_burst_delivers_what_is_queued(mail_app, smtp, redis_server):
    with mail_app.app_context():
        message_id = send_mail("password_changed", "lea@example.org", "fr")
    result = subprocess.run([sys.executable, "-c", GATEWAY, "mail-worker", "--burst"], cwd=ROOT, timeout=60,
                            env=worker_env(redis_server.url, smtp.port), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [m["Message-ID"] for m in smtp.messages] == [message_id]


def test_mail_worker_stops_on_ctrl_c(running, redis_server, redis_client, smtp):
    worker = running("mail-worker", env=worker_env(redis_server.url, smtp.port))
    worker.wait_for("Ctrl-C stops")
    worker.wait_for("Listening on")  # rq's own line: the worker is waiting for jobs
    assert worker.interrupt() == 0
    assert "mail worker stopped" in worker.output
    assert "Traceback" not in worker.output


def test_mail_worker_without_redis_is_one_line(smtp):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run([sys.executable, "-c", GATEWAY, "mail-worker"], cwd=ROOT,
                            env=worker_env(url, smtp.port), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"gateway: cannot reach Redis ({url})")
