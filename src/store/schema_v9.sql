-- v9: the MPI scorer's learned parameters (`kadi mpi train`). Every trained table is kept (what
-- scored a past link can be looked up); at most one is in force. None in force: the a-priori
-- table of docs/mpi.md.
CREATE TABLE mpi_params (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    records      INTEGER NOT NULL,
    params_json  TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
);
CREATE UNIQUE INDEX mpi_params_in_force ON mpi_params(active) WHERE active = 1;
