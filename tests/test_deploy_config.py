"""The example configuration in docs/deploy/ is valid as shipped, and rendered the way DEPLOY.md says.

(It also runs for real: tests/test_scaleout.py serves through nginx and gunicorn with it.)"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.loopback import ROOT, Nginx

DEPLOY = ROOT / "docs" / "deploy"


def test_the_nginx_site_rendered_with_envsubst_as_documented_is_what_the_tests_serve(tmp_path):
    if not shutil.which("envsubst"):
        pytest.skip("envsubst (gettext-base) not installed")
    nginx = Nginx(tmp_path, [8101, 8102], port=8100)
    documented = re.search(r"envsubst '([^']+)'", (ROOT / "docs" / "DEPLOY.md").read_text()).group(1)
    env = {**os.environ, "DOORSTEP_UPSTREAMS": "server 127.0.0.1:8101; server 127.0.0.1:8102;",
           "DOORSTEP_LISTEN": "127.0.0.1:8100", "DOORSTEP_SERVER_NAME": "localhost",
           "DOORSTEP_STATIC": str(ROOT / "static"), "DOORSTEP_ACCESS_LOG": str(tmp_path / "access.log")}
    rendered = subprocess.run(["envsubst", documented], input=(DEPLOY / "nginx" / "doorstep.conf.template").read_text(),
                              env=env, capture_output=True, text=True, check=True).stdout
    assert rendered == nginx.site()
    assert "$proxy_add_x_forwarded_for" in rendered and "${DOORSTEP" not in rendered.split("#")[0]


def test_the_gunicorn_config_loads_with_sync_workers():
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config", "--print-config",
                           "-c", str(DEPLOY / "gunicorn.conf.py"), "wsgi:app"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "SECRET_KEY": "test", "WEB_CONCURRENCY": "3"})
    assert done.returncode == 0, done.stderr
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", done.stdout, re.MULTILINE))
    assert settings["worker_class"] == "sync" and settings["workers"] == "3" and settings["threads"] == "1"
    assert "%(q)s" not in settings["access_log_format"] and "%(r)s" not in settings["access_log_format"]


def test_the_systemd_units_are_valid(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    units = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        text = unit.read_text().replace("/srv/doorstep", str(ROOT))
        (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / unit.name))
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if "/etc/doorstep" not in line and line.strip()]
    assert complaints == [], complaints
