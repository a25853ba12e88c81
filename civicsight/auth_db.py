"""The layout of ``<data_dir>/auth.db``: API tokens, users, sessions and failed logins.

``TokenStore`` and ``UserStore`` open the same file, so its migrations are written once,
here. Step 1 is the layout from before schema versions; step 2 gives every token an
expiry (tokens issued before it get their creation time plus the default lifetime, so no
old token lives for ever).
"""

from __future__ import annotations

TOKEN_DAYS_DEFAULT = 30

AUTH_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS tokens (
      token_id TEXT PRIMARY KEY,
      token_sha256 TEXT NOT NULL UNIQUE,
      role TEXT NOT NULL,
      label TEXT NOT NULL,
      created_at REAL NOT NULL,
      revoked_at REAL
    );
    CREATE TABLE IF NOT EXISTS users (
      username TEXT PRIMARY KEY,
      role TEXT NOT NULL,
      password_hash TEXT NOT NULL,
      must_change INTEGER NOT NULL,
      created_at REAL NOT NULL,
      disabled_at REAL
    );
    CREATE TABLE IF NOT EXISTS sessions (
      session_sha256 TEXT PRIMARY KEY,
      username TEXT NOT NULL REFERENCES users(username),
      csrf TEXT NOT NULL,
      created_at REAL NOT NULL,
      expires_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS login_failures (
      key TEXT NOT NULL,
      at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at);
    """,
    f"""
    ALTER TABLE tokens ADD COLUMN expires_at REAL;
    UPDATE tokens SET expires_at = created_at + {TOKEN_DAYS_DEFAULT * 86400}
      WHERE expires_at IS NULL;
    """,
)
