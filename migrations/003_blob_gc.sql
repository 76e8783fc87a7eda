-- Blob garbage collection (src/blob/gc.c, docs/design.md "Blob garbage collection").
-- A push claims the blobs it is about to write or reuse before it touches the blob store; the
-- collector spares claimed blobs, so a blob a push found present cannot be deleted before that
-- push commits the version that references it. Claims older than the collector's claim TTL are
-- pruned by the collector.
CREATE TABLE blob_claims (
    sha256     char(64) PRIMARY KEY,
    claimed_at timestamptz NOT NULL DEFAULT now()
);

-- The collector also asks "is this blob some version's FileDescriptorSet?".
CREATE INDEX versions_descriptor_sha256 ON versions (descriptor_sha256)
    WHERE descriptor_sha256 IS NOT NULL;
