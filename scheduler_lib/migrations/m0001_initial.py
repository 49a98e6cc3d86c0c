"""The first schema: users and tokens, API keys, schedules, header presets, jobs,
their members and results."""

NAME = "0001_initial"

STATEMENTS = [
    # Key/value store for generated server state (the JWT secret).
    """CREATE TABLE app_settings (
        key VARCHAR(100) PRIMARY KEY,
        value TEXT NOT NULL)""",

    """CREATE TABLE users (
        id AUTO_PK,
        username VARCHAR(150) NOT NULL,
        email VARCHAR(254) NOT NULL,
        password_hash VARCHAR(100) NOT NULL,
        is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
        token_version INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE UNIQUE INDEX users_username_lower ON users (lower(username))",
    "CREATE UNIQUE INDEX users_email_lower ON users (lower(email))",

    # One row per issued refresh token; family_id groups the tokens of one login.
    """CREATE TABLE refresh_tokens (
        jti VARCHAR(64) PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        family_id VARCHAR(64) NOT NULL,
        expires_at TIMESTAMP NOT NULL,
        revoked_at TIMESTAMP NULL,
        created_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id)",
    "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",

    # Access tokens revoked before their expiry (logout).
    """CREATE TABLE revoked_tokens (
        jti VARCHAR(64) PRIMARY KEY,
        expires_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at)",

    """CREATE TABLE api_keys (
        id AUTO_PK,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name VARCHAR(200) NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        prefix VARCHAR(32) NOT NULL,
        key_hash VARCHAR(128) NOT NULL UNIQUE,
        expires_at TIMESTAMP NULL,
        last_used_at TIMESTAMP NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX api_keys_user ON api_keys (user_id)",

    # Schedules ("api execute" in the original API).
    """CREATE TABLE schedules (
        id AUTO_PK,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name VARCHAR(200) NOT NULL,
        is_repeat BOOLEAN NOT NULL DEFAULT TRUE,
        type VARCHAR(16) NOT NULL,
        value BIGINT NULL,
        cron VARCHAR(200) NULL,
        timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX schedules_user ON schedules (user_id)",

    """CREATE TABLE header_presets (
        id AUTO_PK,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name VARCHAR(200) NOT NULL,
        headers TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX header_presets_user ON header_presets (user_id)",

    # Jobs ("fetch" in the original API). job_id names the next scheduled run.
    """CREATE TABLE jobs (
        id AUTO_PK,
        name VARCHAR(200) NOT NULL,
        type VARCHAR(16) NOT NULL DEFAULT 'rest',
        endpoint TEXT NOT NULL,
        method VARCHAR(10) NOT NULL DEFAULT 'get',
        topic TEXT NULL,
        payload TEXT NULL,
        description TEXT NOT NULL DEFAULT '',
        execute_id BIGINT NOT NULL REFERENCES schedules (id) ON DELETE RESTRICT,
        header_id BIGINT NULL REFERENCES header_presets (id) ON DELETE SET NULL,
        is_active BOOLEAN NOT NULL DEFAULT TRUE,
        job_id VARCHAR(36) NOT NULL,
        next_run_at TIMESTAMP NULL,
        last_run_at TIMESTAMP NULL,
        last_status VARCHAR(16) NULL,
        timeout_seconds INTEGER NOT NULL DEFAULT 10,
        max_attempts INTEGER NOT NULL DEFAULT 1,
        retry_backoff_seconds INTEGER NOT NULL DEFAULT 5,
        expected_status TEXT NOT NULL DEFAULT '["2xx"]',
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX jobs_next_run ON jobs (next_run_at)",
    "CREATE INDEX jobs_execute ON jobs (execute_id)",
    "CREATE INDEX jobs_header ON jobs (header_id)",
    "CREATE INDEX jobs_job_id ON jobs (job_id)",

    """CREATE TABLE job_members (
        fetch_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role VARCHAR(16) NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (fetch_id, user_id))""",
    "CREATE INDEX job_members_user ON job_members (user_id)",

    # One row per run attempt (or per result recorded by hand).
    """CREATE TABLE job_results (
        id AUTO_PK,
        fetch_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        job_id VARCHAR(36) NULL,
        name VARCHAR(300) NOT NULL,
        status_code INTEGER NULL,
        response TEXT NULL,
        response_headers TEXT NOT NULL DEFAULT '{}',
        response_truncated BOOLEAN NOT NULL DEFAULT FALSE,
        error TEXT NULL,
        success BOOLEAN NOT NULL DEFAULT FALSE,
        attempt INTEGER NOT NULL DEFAULT 1,
        scheduled_at TIMESTAMP NULL,
        started_at TIMESTAMP NULL,
        finished_at TIMESTAMP NULL,
        duration_ms INTEGER NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX job_results_fetch ON job_results (fetch_id, id)",
    "CREATE INDEX job_results_created ON job_results (created_at)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
