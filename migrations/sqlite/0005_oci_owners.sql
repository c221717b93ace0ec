-- Every OCI repository belongs to the namespace named by its first segment, and that
-- namespace has an owner: since this migration the first push claims it, as a
-- publish does. Repositories pushed before, into a namespace nobody claimed, had no
-- owner and their pushers were not recorded: their namespaces are claimed here with
-- no owner, so that only an admin may push to, delete from or publish into them until
-- an admin adds an owner (PUT /api/v1/namespaces/{ns}/owners/{user}).
INSERT INTO namespaces (name, created_at)
SELECT DISTINCT CASE WHEN instr(repository, '/') > 0 THEN substr(repository, 1, instr(repository, '/') - 1) ELSE repository END, CAST(strftime('%s', 'now') AS BIGINT) * 1000
FROM (
    SELECT repository FROM oci_manifests
    UNION SELECT repository FROM oci_tags
    UNION SELECT repository FROM oci_blob_links
    UNION SELECT repository FROM oci_uploads
) AS pushed
WHERE true
ON CONFLICT DO NOTHING;
