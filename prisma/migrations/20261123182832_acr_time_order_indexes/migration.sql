-- CreateIndex
CREATE INDEX "Manifest_repositoryId_updatedAt_digest_idx" ON "Manifest"("repositoryId", "updatedAt", "digest");

-- CreateIndex
CREATE INDEX "Tag_repositoryId_updatedAt_name_idx" ON "Tag"("repositoryId", "updatedAt", "name");
