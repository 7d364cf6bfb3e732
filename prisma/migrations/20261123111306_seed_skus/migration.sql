-- Hand-written data migration: the SKU limits the code reads (see model Sku).
-- Sizes: 1 GiB = 1073741824 bytes; maxManifestBytes 4 MiB = 4194304.
INSERT INTO "Sku" (
    "name", "tier", "includedStorageBytes", "maxWebhooks", "readOpsPerMinute", "writeOpsPerMinute",
    "maxLayerBytes", "maxManifestBytes", "maxServicePrincipals", "anonymousPullAllowed", "retentionPolicyAllowed"
) VALUES
    ('Basic',    1,  10737418240,   2,  1000,  100, 214748364800, 4194304,   100, false, false),
    ('Standard', 2, 107374182400,  10,  3000,  500, 214748364800, 4194304,   500, true,  false),
    ('Premium',  3, 536870912000, 500, 10000, 2000, 214748364800, 4194304, 50000, true,  true);

-- Safety net: registry names are case-insensitive (they are DNS labels of the
-- login server), and the schema documents them as stored lower-case. Enforcing
-- that here makes the unique index on "name" case-insensitive without a second
-- index. Prisma does not model CHECK constraints and leaves them alone in diffs.
ALTER TABLE "Registry" ADD CONSTRAINT "Registry_name_lowercase_check" CHECK ("name" = lower("name"));
