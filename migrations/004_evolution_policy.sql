-- Evolution policy per module (include/spoke/registry.h, docs/evolution.md): which of buf's
-- breaking rules a push must pass, against which earlier version (SemVer or latest). A module
-- without a row follows the server-wide default (SPOKE_BREAKING_* variables), so changing the
-- default changes every module that never set its own.
CREATE TABLE module_policies (
    module_id       bigint PRIMARY KEY REFERENCES modules (id) ON DELETE CASCADE,
    breaking_use    text[] NOT NULL,
    breaking_except text[] NOT NULL DEFAULT '{}',
    breaking_ignore text[] NOT NULL DEFAULT '{}',
    semver          boolean NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
