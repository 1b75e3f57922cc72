-- A role and a database for fleetbeat. Run as a superuser, with a new password:
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v password="$(openssl rand -hex 24)" -f setup.sql
-- then put that password in DATABASE_URL (deploy/postgres/README.md). Hex
-- digits need no escaping in a URL.
-- fleetbeat creates its tables itself: the role owns the database and runs the
-- migrations at every start (or `fleetbeat migrate`); it needs no superuser rights.
CREATE ROLE fleetbeat LOGIN PASSWORD :'password';
CREATE DATABASE fleetbeat OWNER fleetbeat ENCODING 'UTF8' TEMPLATE template0;
-- Other roles may not connect to it (superusers still can).
REVOKE ALL ON DATABASE fleetbeat FROM PUBLIC;
