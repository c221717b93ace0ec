-- The key that signed the short-lived bearer tokens of `/v2/token` was kept here, in
-- plain text, as `server_secrets.oci-token-key` (the table held nothing else). It now
-- lives in a file (`--token-key-file`, which every replica is given), never in the
-- database. The table goes, and with it the key: bearers minted before the upgrade no
-- longer verify (401); OCI clients fetch a new one from `/v2/token`, as they do when
-- one expires (they live 5 minutes).
-- (PostgreSQL removes a dropped table's files; SQLite needs secure_delete for that.)
DROP TABLE server_secrets;
