-- QIMEM stateful store, schema version 1.
-- The SQL that reads and writes these tables lives in component/store-sql.
-- Key material columns hold only bytes sealed by the component.

CREATE TABLE keys (
    id              uuid PRIMARY KEY,
    lineage_id      uuid NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    parent_id       uuid REFERENCES keys (id),
    algorithm       text NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('active', 'retired', 'disabled', 'destroyed')),
    -- milliseconds since the Unix epoch
    created_at      bigint NOT NULL,
    labels          jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- AES-256-GCM ciphertext under the master key named by seal_key_id;
    -- empty once the key is destroyed
    sealed_material bytea NOT NULL,
    -- fingerprint of the master key that sealed the material (never the key)
    seal_key_id     text NOT NULL,
    CONSTRAINT keys_lineage_version_unique UNIQUE (lineage_id, version)
);

-- At most one active key per lineage, whatever the concurrency.
CREATE UNIQUE INDEX keys_one_active_per_lineage ON keys (lineage_id) WHERE state = 'active';
CREATE INDEX keys_seal_key_id ON keys (seal_key_id);

-- The audit trail: lifecycle events, never key bytes.
CREATE TABLE audit_events (
    seq        bigserial PRIMARY KEY,
    at         bigint NOT NULL,
    action     text NOT NULL,
    key_id     uuid,
    lineage_id uuid,
    actor      text NOT NULL,
    outcome    text NOT NULL
);
CREATE INDEX audit_events_key_id ON audit_events (key_id, seq);
CREATE INDEX audit_events_lineage_id ON audit_events (lineage_id, seq);
