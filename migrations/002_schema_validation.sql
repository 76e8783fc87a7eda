-- Every version is compiled by protoc at push time. Its FileDescriptorSet (with imports) is kept as
-- a blob, and the messages, enums and services its own files define are recorded for lookups.

ALTER TABLE versions ADD COLUMN descriptor_sha256 char(64);

CREATE TABLE version_symbols (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('message', 'enum', 'service')),
    full_name  text COLLATE "C" NOT NULL,
    file       text COLLATE "C" NOT NULL,
    PRIMARY KEY (version_id, kind, full_name)
);
CREATE INDEX version_symbols_full_name ON version_symbols (full_name);
