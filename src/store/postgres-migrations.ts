// The PostgreSQL schema, one entry per version. Each entry moves the schema from version i to i + 1;
// never edit one that has shipped. Times are milliseconds since the epoch, as in the SQLite store.

export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE image_ids (
    id          TEXT PRIMARY KEY,
    registry_id TEXT NOT NULL,
    repository  TEXT NOT NULL,
    digest      TEXT NOT NULL
  );

  CREATE TABLE page_states (
    handle     TEXT PRIMARY KEY,
    state      BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX page_states_expires_at ON page_states (expires_at);

  CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE operations (
    -- Binary order, as in SQLite, so keyset pages and claim order match whatever the database locale.
    id                TEXT COLLATE "C" PRIMARY KEY,
    kind              TEXT NOT NULL,
    resource_id       TEXT NOT NULL,
    registry_id       TEXT NOT NULL,
    description       TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    modified_at       BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done')),
    metadata_type_url TEXT NOT NULL,
    metadata_value    BYTEA NOT NULL,
    params            TEXT NOT NULL,
    error             TEXT,
    response_type_url TEXT,
    response_value    BYTEA,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    cancel_requested  BOOLEAN NOT NULL DEFAULT false,
    dedupe_key        TEXT
  );
  CREATE INDEX operations_claim ON operations (state, created_at, id);
  CREATE INDEX operations_created ON operations (created_at, id);
  CREATE INDEX operations_resource ON operations (resource_id, created_at, id);
  CREATE INDEX operations_purge ON operations (modified_at) WHERE state = 'done';
  -- A dedupe key belongs to at most one unfinished operation; finishing frees it.
  CREATE UNIQUE INDEX operations_dedupe ON operations (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state <> 'done';

  CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    PRIMARY KEY (caller, key)
  );
  CREATE INDEX idempotency_keys_operation ON idempotency_keys (operation_id);
  `,
  // 2: the repository id index, beside the image one.
  `
  CREATE TABLE repository_ids (
    id          TEXT PRIMARY KEY,
    registry_id TEXT NOT NULL,
    repository  TEXT NOT NULL
  );
  `,
  // 3: cleanup policies of repositories, and the results of their dry runs (the images each would delete).
  `
  -- Binary order (COLLATE "C") for keyset pages, as in SQLite.
  CREATE TABLE lifecycle_policies (
    id            TEXT COLLATE "C" PRIMARY KEY,
    registry_id   TEXT NOT NULL,
    repository    TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at    BIGINT NOT NULL,
    rules         TEXT NOT NULL
  );
  CREATE INDEX lifecycle_policies_repository ON lifecycle_policies (repository_id, id);
  CREATE INDEX lifecycle_policies_registry ON lifecycle_policies (registry_id, id);

  CREATE TABLE lifecycle_dry_runs (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    policy_id           TEXT NOT NULL REFERENCES lifecycle_policies (id) ON DELETE CASCADE,
    run_at              BIGINT NOT NULL,
    affected_count      BIGINT NOT NULL,
    without_created_at  BIGINT NOT NULL
  );
  CREATE INDEX lifecycle_dry_runs_policy ON lifecycle_dry_runs (policy_id, run_at, id);

  -- An affected image as the dry run listed it (JSON of the image record), in order of digest.
  CREATE TABLE lifecycle_dry_run_images (
    result_id TEXT NOT NULL REFERENCES lifecycle_dry_runs (id) ON DELETE CASCADE,
    digest    TEXT COLLATE "C" NOT NULL,
    image     TEXT NOT NULL,
    PRIMARY KEY (result_id, digest)
  );
  `,
];
