"""Production settings: ``check --deploy`` is clean, TLS mode sets secure cookies, HSTS
and the HTTPS redirect, and the secret key comes from the environment only. Each runs
Django in a subprocess with a production environment (settings are read at start)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GENESYS_", "SECURE_", "DATABASE_", "REDIS_", "DEBUG", "ALLOWED_HOSTS"))}
    env.update(DJANGO_SETTINGS_MODULE="contactboard.settings", SECRET_KEY=secrets.token_urlsafe(50), DEBUG="false",
               SECURE_SSL="true", ALLOWED_HOSTS="dash.example.com", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.update(extra)
    return env


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_is_clean_once_hsts_preload_is_chosen(tmp_path):
    done = manage(production_env(tmp_path, SECURE_HSTS_PRELOAD="true"), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_check_deploy_does_complain_without_tls(tmp_path):
    done = manage(production_env(tmp_path, SECURE_SSL="false"), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr + done.stdout, warning


def test_the_secret_key_must_come_from_the_environment(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    done = manage(env, "check")
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.contrib.auth.models import User
from django.test import Client
call_command("migrate", verbosity=0)
User.objects.create_user("alice", password="pw-alice-8421")
tls = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "dash.example.com"}
plain = Client().get("/accounts/login/", HTTP_HOST="dash.example.com")
client = Client()
page = client.get("/accounts/login/", **tls)
token = page.cookies["csrftoken"].value
login = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-8421", "csrfmiddlewaretoken": token},
                    HTTP_REFERER="https://dash.example.com/accounts/login/", **tls)
cookies = {name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
           for name, m in {**page.cookies, **login.cookies}.items()}
print(json.dumps({"plain": [plain.status_code, plain.get("Location")], "login": login.status_code,
                  "hsts": page.get("Strict-Transport-Security"), "cookies": cookies,
                  "frame": page.get("X-Frame-Options"), "nosniff": page.get("X-Content-Type-Options"),
                  "referrer": page.get("Referrer-Policy")}))
"""


def test_behind_tls_cookies_are_secure_hsts_is_sent_and_http_redirects(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=production_env(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["plain"] == [301, "https://dash.example.com/accounts/login/"]
    assert seen["login"] == 302, "the login itself must work for the session cookie to be judged"
    assert seen["hsts"] and "max-age=31536000" in seen["hsts"] and "includeSubDomains" in seen["hsts"]
    assert seen["cookies"]["sessionid"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert seen["cookies"]["csrftoken"]["secure"] is True
    assert (seen["frame"], seen["nosniff"], seen["referrer"]) == ("DENY", "nosniff", "same-origin")
