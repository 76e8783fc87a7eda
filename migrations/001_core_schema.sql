-- Core metadata. File contents live in the blob store keyed by sha256; these tables hold only
-- what is needed to list, order, resolve and reverse-look-up versions.

CREATE TABLE modules (
    id             bigserial PRIMARY KEY,
    name           text COLLATE "C" NOT NULL UNIQUE,
    description    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Maintained by the push transaction under the module row lock.
    latest_version text,
    version_count  bigint NOT NULL DEFAULT 0
);

-- SemVer precedence is (major, minor, patch, is_release, pre_key) with pre_key compared
-- byte-wise; see include/spoke/semver.h for the encoding.
CREATE TABLE versions (
    id          bigserial PRIMARY KEY,
    module_id   bigint NOT NULL REFERENCES modules (id) ON DELETE CASCADE,
    version     text COLLATE "C" NOT NULL,
    major       bigint NOT NULL CHECK (major >= 0),
    minor       bigint NOT NULL CHECK (minor >= 0),
    patch       bigint NOT NULL CHECK (patch >= 0),
    is_release  boolean NOT NULL,
    pre_key     text COLLATE "C" NOT NULL,
    digest      text NOT NULL,
    repository  text NOT NULL DEFAULT '',
    commit_sha  text NOT NULL DEFAULT '',
    branch      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (module_id, version)
);
CREATE INDEX versions_precedence
    ON versions (module_id, major DESC, minor DESC, patch DESC, is_release DESC, pre_key DESC,
                 version DESC);

CREATE TABLE version_files (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    path       text COLLATE "C" NOT NULL,
    sha256     char(64) NOT NULL,
    size       bigint NOT NULL CHECK (size >= 0),
    PRIMARY KEY (version_id, path)
);
-- Blob garbage collection asks "is this blob referenced?".
CREATE INDEX version_files_sha256 ON version_files (sha256);

CREATE TABLE version_dependencies (
    version_id  bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    dep_module  text COLLATE "C" NOT NULL,
    dep_version text COLLATE "C" NOT NULL,
    PRIMARY KEY (version_id, dep_module, dep_version)
);
-- Reverse lookups: who depends on module@version.
CREATE INDEX version_dependencies_reverse ON version_dependencies (dep_module, dep_version);
