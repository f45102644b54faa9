"""The settings refuse an unsafe production configuration (run in a fresh interpreter)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "FIELD_ENCRYPTION_KEY"}
    }
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={**clean, "ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_debug_false_with_the_development_key():
    result = _import_settings(DEBUG="False")
    assert result.returncode != 0
    assert "DEBUG=False with the development SECRET_KEY" in result.stderr


def test_it_refuses_debug_false_without_an_encryption_key():
    result = _import_settings(DEBUG="False", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_it_starts_in_production_mode_with_real_secrets():
    from cryptography.fernet import Fernet

    result = _import_settings(
        DEBUG="False", SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stderr


def test_it_reads_secrets_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("y" * 50 + "\n")
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SECRET_KEY)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECRET_KEY_FILE": str(secret_file)},
    )
    assert result.stdout.strip() == "y" * 50
