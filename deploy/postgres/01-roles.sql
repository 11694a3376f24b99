-- Two roles for Crewboard, so the app never owns the tables it writes: it cannot drop
-- or disable the audit tables' triggers, truncate them, or switch triggers off with
-- session_replication_role (superusers only).
--   crewboard_owner  owns the database and its tables; runs the migrations.
--   crewboard_app    what gunicorn and the workers connect as: read and write rows only.
-- Run once by the postgres image on a new data directory (docker-entrypoint-initdb.d),
-- as the superuser, in the database POSTGRES_DB names. By hand, for a database of
-- another name:  psql -v ON_ERROR_STOP=1 -U postgres -d <database> -f 01-roles.sql
-- (with CREWBOARD_OWNER_PASSWORD and CREWBOARD_APP_PASSWORD in the environment).

\getenv owner_password CREWBOARD_OWNER_PASSWORD
\getenv app_password CREWBOARD_APP_PASSWORD
SELECT current_database() AS database \gset

CREATE ROLE crewboard_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE crewboard_app LOGIN PASSWORD :'app_password';

-- The owner of the database owns its public schema (PostgreSQL 15 and later), so it
-- can create the tables; the app can only use what the owner grants.
ALTER DATABASE :"database" OWNER TO crewboard_owner;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO crewboard_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO crewboard_app;

-- Every table and sequence the migrations create from now on: rows, not structure.
-- No TRUNCATE, no REFERENCES, no TRIGGER.
ALTER DEFAULT PRIVILEGES FOR ROLE crewboard_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO crewboard_app;
ALTER DEFAULT PRIVILEGES FOR ROLE crewboard_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO crewboard_app;
