"""With tracing on, as in Lambda, a Slack post is traced without its webhook URL.

The webhook URL is a credential. The notifier traces each post as a subsegment of its own
(with Slack's answer) and patches no HTTP library, whose subsegments would record the URL.
Tracing state is process-wide, so the handler runs in a fresh interpreter here, with the
X-Ray emitter replaced by one that keeps what would be sent to the daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTIFIER = REPO / "functions" / "notifier"

SCRIPT = textwrap.dedent(
    """\
    import http.server, json, os, sys, threading

    import app  # tracing is on: LAMBDA_TASK_ROOT is set and nothing disables it
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.context import Context
    from rootwatch.adapters.slack import SlackWebhookClient

    class Keeper:
        entities = []
        def send_entity(self, entity):
            self.entities.append(entity.serialize())
        def set_daemon_address(self, address):
            pass

    class RateLimited(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(429)
            self.send_header("Retry-After", "3")
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), RateLimited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    keeper = Keeper()
    # Outside Lambda's own context object, so this test can open the segment itself.
    xray_recorder.configure(sampling=False, context=Context(), emitter=keeper)
    xray_recorder.begin_segment("notifier")
    url = f"http://127.0.0.1:{server.server_port}/services/T0/B0/{sys.argv[1]}"
    reply = app.TracedSlack(SlackWebhookClient(5)).post(url, {"text": "alert"})
    xray_recorder.end_segment()
    server.shutdown()
    print(json.dumps({"status": reply.status, "entities": keeper.entities}))
    """
)


def test_a_slack_post_is_a_subsegment_with_its_answer_and_without_its_url() -> None:
    token = "webhook-secret-token-1234"
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_TRACE", "AWS_XRAY", "_X_AMZN"))
    }
    environment.update(
        LAMBDA_TASK_ROOT=str(NOTIFIER),
        AWS_LAMBDA_FUNCTION_NAME="rootwatch-notifier",
        AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
        PYTHONPATH=os.pathsep.join([str(NOTIFIER), str(REPO / "layers" / "shared")]),
    )
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, token],
        cwd=NOTIFIER,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["status"] == 429
    entities = [json.loads(entity) for entity in result["entities"]]
    posts = [entity for entity in entities if entity["name"].endswith("TracedSlack.post")]
    assert len(posts) == 1
    assert posts[0]["annotations"] == {"slack_status": "429"}
    # Nothing sent to X-Ray names the webhook, and no subsegment is an HTTP call's.
    assert all(token not in json.dumps(entity) for entity in entities)
    assert all("http" not in entity for entity in entities)
