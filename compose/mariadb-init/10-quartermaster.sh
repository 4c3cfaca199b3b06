#!/bin/sh
# Runs once, when the tenant's MariaDB volume is first initialised: the ops
# server's own database and user, with the password from a Docker secret
# (the same value the tenant's Vault holds for database.password), and the
# backup job's read-only user for both databases (backup.wordpress.database).
set -eu
password=$(cat /run/secrets/ops_db_password)
backup_password=$(cat /run/secrets/backup_db_password)
mariadb -uroot -p"$(cat /run/secrets/db_root_password)" <<SQL
CREATE DATABASE IF NOT EXISTS quartermaster CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'qm'@'%' IDENTIFIED BY '${password}';
GRANT ALL PRIVILEGES ON quartermaster.* TO 'qm'@'%';
CREATE USER IF NOT EXISTS 'qm_backup'@'%' IDENTIFIED BY '${backup_password}';
GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT ON wordpress.* TO 'qm_backup'@'%';
GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT ON quartermaster.* TO 'qm_backup'@'%';
SQL
