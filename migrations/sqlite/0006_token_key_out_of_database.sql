-- The key that signed the short-lived bearer tokens of `/v2/token` was kept here, in
-- plain text, as `server_secrets.oci-token-key` (the table held nothing else). It now
-- lives in a file (`--token-key-file`, or `<data-dir>/token-key` on SQLite), never in
-- the database. The table goes, and with it the key: bearers minted before the
-- upgrade no longer verify (401); OCI clients fetch a new one from `/v2/token`, as
-- they do when one expires (they live 5 minutes).
-- secure_delete makes SQLite overwrite the freed pages with zeros, so that the old
-- key does not linger in the file's free pages.
PRAGMA secure_delete = ON;
DROP TABLE server_secrets;
