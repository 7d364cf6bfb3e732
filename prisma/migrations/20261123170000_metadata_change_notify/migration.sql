-- Change notifications for the data plane's metadata cache. Every change to
-- what a manifest or blob lookup answers (tags, manifests, repositories and
-- their lock attributes, blob links, blobs) sends NOTIFY berth_metadata with
-- the registry's id, whoever makes it (data plane, worker, management API).
-- Postgres delivers notifications at commit and folds identical ones within
-- a transaction, so a bulk change costs one message per registry.
CREATE FUNCTION "berth_notify_metadata_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  registry uuid;
  repository uuid;
BEGIN
  IF TG_TABLE_NAME IN ('Tag', 'RepositoryBlob') THEN
    IF TG_OP = 'DELETE' THEN repository := OLD."repositoryId"; ELSE repository := NEW."repositoryId"; END IF;
    SELECT "registryId" INTO registry FROM "Repository" WHERE "id" = repository;
  ELSIF TG_OP = 'DELETE' THEN
    registry := OLD."registryId";
  ELSE
    registry := NEW."registryId";
  END IF;
  IF registry IS NOT NULL THEN
    PERFORM pg_notify('berth_metadata', registry::text);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "Tag_notify_metadata_change" AFTER INSERT OR UPDATE OR DELETE ON "Tag"
  FOR EACH ROW EXECUTE FUNCTION "berth_notify_metadata_change"();
CREATE TRIGGER "Manifest_notify_metadata_change" AFTER UPDATE OR DELETE ON "Manifest"
  FOR EACH ROW EXECUTE FUNCTION "berth_notify_metadata_change"();
CREATE TRIGGER "Repository_notify_metadata_change" AFTER UPDATE OR DELETE ON "Repository"
  FOR EACH ROW EXECUTE FUNCTION "berth_notify_metadata_change"();
CREATE TRIGGER "RepositoryBlob_notify_metadata_change" AFTER DELETE ON "RepositoryBlob"
  FOR EACH ROW EXECUTE FUNCTION "berth_notify_metadata_change"();
CREATE TRIGGER "Blob_notify_metadata_change" AFTER DELETE ON "Blob"
  FOR EACH ROW EXECUTE FUNCTION "berth_notify_metadata_change"();
