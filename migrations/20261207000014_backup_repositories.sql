-- Whole-tenant backups with restic (issue 31): what each repository (the
-- local one and the offsite copy) last did, so the alerts, the dashboard and
-- Prometheus can say which half failed and how old its last good snapshot is.
-- The snapshots themselves live in restic's repositories, never here; the
-- hand-written backup folders and manifests this replaces had no table.
CREATE TABLE backup_repositories (
    name ENUM('local','offsite') NOT NULL PRIMARY KEY,
    location VARCHAR(512) NOT NULL COMMENT 'the restic repository, credentials never included',
    last_ok_at DATETIME(6) NULL COMMENT 'UTC: when a snapshot last landed (local) or was copied (offsite)',
    last_snapshot CHAR(64) NULL,
    last_error VARCHAR(1024) NULL,
    consecutive_failures INT UNSIGNED NOT NULL DEFAULT 0,
    size_bytes BIGINT UNSIGNED NULL COMMENT 'restic stats --mode raw-data',
    snapshots INT UNSIGNED NULL,
    checked_at DATETIME(6) NULL COMMENT 'UTC: the last restic check',
    check_error VARCHAR(1024) NULL COMMENT 'NULL: the last check found nothing wrong',
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
