-- CreateEnum
CREATE TYPE "ProvisioningState" AS ENUM ('Succeeded', 'Deleting');

-- CreateEnum
CREATE TYPE "Role" AS ENUM ('AcrPull', 'AcrPush', 'AcrDelete', 'Owner');

-- CreateEnum
CREATE TYPE "WebhookStatus" AS ENUM ('enabled', 'disabled');

-- CreateTable
CREATE TABLE "Sku" (
    "name" TEXT NOT NULL,
    "tier" INTEGER NOT NULL,
    "includedStorageBytes" BIGINT NOT NULL,
    "maxWebhooks" INTEGER NOT NULL,
    "readOpsPerMinute" INTEGER NOT NULL,
    "writeOpsPerMinute" INTEGER NOT NULL,
    "maxLayerBytes" BIGINT NOT NULL,
    "maxManifestBytes" INTEGER NOT NULL,
    "maxServicePrincipals" INTEGER NOT NULL,
    "anonymousPullAllowed" BOOLEAN NOT NULL,
    "retentionPolicyAllowed" BOOLEAN NOT NULL,

    CONSTRAINT "Sku_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "Registry" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "loginServer" TEXT NOT NULL,
    "skuName" TEXT NOT NULL,
    "adminUserEnabled" BOOLEAN NOT NULL DEFAULT false,
    "anonymousPullEnabled" BOOLEAN NOT NULL DEFAULT false,
    "retentionDays" INTEGER,
    "provisioningState" "ProvisioningState" NOT NULL DEFAULT 'Succeeded',
    "storageUsedBytes" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "deletionRequestedAt" TIMESTAMP(3),

    CONSTRAINT "Registry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AdminCredential" (
    "registryId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "encryptedValue" TEXT NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AdminCredential_pkey" PRIMARY KEY ("registryId","name")
);

-- CreateTable
CREATE TABLE "ServicePrincipal" (
    "id" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "clientId" UUID NOT NULL,
    "displayName" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServicePrincipal_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ServicePrincipalSecret" (
    "id" UUID NOT NULL,
    "principalId" UUID NOT NULL,
    "hint" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServicePrincipalSecret_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RoleAssignment" (
    "id" UUID NOT NULL,
    "principalId" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "role" "Role" NOT NULL,
    "repositories" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RoleAssignment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Webhook" (
    "id" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "serviceUriEnc" TEXT NOT NULL,
    "customHeadersEnc" TEXT NOT NULL,
    "signingSecretEnc" TEXT,
    "actions" TEXT[],
    "scope" TEXT NOT NULL DEFAULT '',
    "status" "WebhookStatus" NOT NULL DEFAULT 'enabled',
    "payloadFormat" TEXT NOT NULL DEFAULT 'acr',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Webhook_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookEvent" (
    "id" UUID NOT NULL,
    "webhookId" UUID NOT NULL,
    "eventId" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL,
    "requestMethod" TEXT NOT NULL DEFAULT 'POST',
    "requestUri" TEXT NOT NULL DEFAULT '',
    "requestHeaders" JSONB NOT NULL DEFAULT '{}',
    "requestBody" TEXT NOT NULL DEFAULT '',
    "responseStatus" INTEGER,
    "responseReason" TEXT,
    "responseHeaders" JSONB,
    "responseBody" TEXT,
    "error" TEXT,
    "durationMs" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "keyHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Repository" (
    "id" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "deleteEnabled" BOOLEAN NOT NULL DEFAULT true,
    "writeEnabled" BOOLEAN NOT NULL DEFAULT true,
    "readEnabled" BOOLEAN NOT NULL DEFAULT true,
    "listEnabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Repository_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Blob" (
    "id" BIGSERIAL NOT NULL,
    "registryId" UUID NOT NULL,
    "digest" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "storageKey" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Blob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RepositoryBlob" (
    "repositoryId" UUID NOT NULL,
    "blobId" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RepositoryBlob_pkey" PRIMARY KEY ("repositoryId","blobId")
);

-- CreateTable
CREATE TABLE "Manifest" (
    "id" BIGSERIAL NOT NULL,
    "registryId" UUID NOT NULL,
    "repositoryId" UUID NOT NULL,
    "digest" TEXT NOT NULL,
    "mediaType" TEXT NOT NULL,
    "artifactType" TEXT,
    "size" INTEGER NOT NULL,
    "payload" BYTEA NOT NULL,
    "subjectDigest" TEXT,
    "configDigest" TEXT,
    "configMediaType" TEXT,
    "architecture" TEXT,
    "os" TEXT,
    "annotations" JSONB,
    "deleteEnabled" BOOLEAN NOT NULL DEFAULT true,
    "writeEnabled" BOOLEAN NOT NULL DEFAULT true,
    "readEnabled" BOOLEAN NOT NULL DEFAULT true,
    "listEnabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "untaggedAt" TIMESTAMP(3),

    CONSTRAINT "Manifest_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ManifestBlob" (
    "manifestId" BIGINT NOT NULL,
    "blobId" BIGINT NOT NULL,

    CONSTRAINT "ManifestBlob_pkey" PRIMARY KEY ("manifestId","blobId")
);

-- CreateTable
CREATE TABLE "ManifestReference" (
    "parentId" BIGINT NOT NULL,
    "childId" BIGINT NOT NULL,

    CONSTRAINT "ManifestReference_pkey" PRIMARY KEY ("parentId","childId")
);

-- CreateTable
CREATE TABLE "Tag" (
    "id" BIGSERIAL NOT NULL,
    "repositoryId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "manifestId" BIGINT NOT NULL,
    "deleteEnabled" BOOLEAN NOT NULL DEFAULT true,
    "writeEnabled" BOOLEAN NOT NULL DEFAULT true,
    "readEnabled" BOOLEAN NOT NULL DEFAULT true,
    "listEnabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Tag_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Upload" (
    "id" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "repositoryName" TEXT NOT NULL,
    "storageKey" TEXT NOT NULL,
    "offset" BIGINT NOT NULL DEFAULT 0,
    "parts" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Upload_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RetentionRule" (
    "id" UUID NOT NULL,
    "registryId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "repositoryPattern" TEXT NOT NULL,
    "tagPattern" TEXT NOT NULL DEFAULT '.*',
    "keepLatest" INTEGER,
    "olderThanSeconds" INTEGER,
    "deleteUntagged" BOOLEAN NOT NULL DEFAULT false,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RetentionRule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutboxEvent" (
    "id" BIGSERIAL NOT NULL,
    "registryId" UUID,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sentAt" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Sku_tier_key" ON "Sku"("tier");

-- CreateIndex
CREATE UNIQUE INDEX "Registry_name_key" ON "Registry"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Registry_loginServer_key" ON "Registry"("loginServer");

-- CreateIndex
CREATE UNIQUE INDEX "ServicePrincipal_clientId_key" ON "ServicePrincipal"("clientId");

-- CreateIndex
CREATE UNIQUE INDEX "ServicePrincipal_registryId_displayName_key" ON "ServicePrincipal"("registryId", "displayName");

-- CreateIndex
CREATE UNIQUE INDEX "ServicePrincipalSecret_secretHash_key" ON "ServicePrincipalSecret"("secretHash");

-- CreateIndex
CREATE INDEX "ServicePrincipalSecret_principalId_idx" ON "ServicePrincipalSecret"("principalId");

-- CreateIndex
CREATE INDEX "RoleAssignment_registryId_idx" ON "RoleAssignment"("registryId");

-- CreateIndex
CREATE UNIQUE INDEX "RoleAssignment_principalId_registryId_role_key" ON "RoleAssignment"("principalId", "registryId", "role");

-- CreateIndex
CREATE UNIQUE INDEX "Webhook_registryId_name_key" ON "Webhook"("registryId", "name");

-- CreateIndex
CREATE INDEX "WebhookEvent_webhookId_createdAt_idx" ON "WebhookEvent"("webhookId", "createdAt");

-- CreateIndex
CREATE INDEX "WebhookEvent_eventId_idx" ON "WebhookEvent"("eventId");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_prefix_key" ON "ApiKey"("prefix");

-- CreateIndex
CREATE UNIQUE INDEX "Repository_registryId_name_key" ON "Repository"("registryId", "name");

-- CreateIndex
CREATE INDEX "Blob_registryId_lastUsedAt_idx" ON "Blob"("registryId", "lastUsedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Blob_registryId_digest_key" ON "Blob"("registryId", "digest");

-- CreateIndex
CREATE INDEX "RepositoryBlob_blobId_idx" ON "RepositoryBlob"("blobId");

-- CreateIndex
CREATE INDEX "Manifest_repositoryId_subjectDigest_idx" ON "Manifest"("repositoryId", "subjectDigest");

-- CreateIndex
CREATE INDEX "Manifest_registryId_untaggedAt_idx" ON "Manifest"("registryId", "untaggedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Manifest_repositoryId_digest_key" ON "Manifest"("repositoryId", "digest");

-- CreateIndex
CREATE INDEX "ManifestBlob_blobId_idx" ON "ManifestBlob"("blobId");

-- CreateIndex
CREATE INDEX "ManifestReference_childId_idx" ON "ManifestReference"("childId");

-- CreateIndex
CREATE INDEX "Tag_manifestId_idx" ON "Tag"("manifestId");

-- CreateIndex
CREATE UNIQUE INDEX "Tag_repositoryId_name_key" ON "Tag"("repositoryId", "name");

-- CreateIndex
CREATE INDEX "Upload_registryId_idx" ON "Upload"("registryId");

-- CreateIndex
CREATE INDEX "Upload_expiresAt_idx" ON "Upload"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "RetentionRule_registryId_name_key" ON "RetentionRule"("registryId", "name");

-- CreateIndex
CREATE INDEX "OutboxEvent_sentAt_id_idx" ON "OutboxEvent"("sentAt", "id");

-- AddForeignKey
ALTER TABLE "Registry" ADD CONSTRAINT "Registry_skuName_fkey" FOREIGN KEY ("skuName") REFERENCES "Sku"("name") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AdminCredential" ADD CONSTRAINT "AdminCredential_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ServicePrincipal" ADD CONSTRAINT "ServicePrincipal_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ServicePrincipalSecret" ADD CONSTRAINT "ServicePrincipalSecret_principalId_fkey" FOREIGN KEY ("principalId") REFERENCES "ServicePrincipal"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RoleAssignment" ADD CONSTRAINT "RoleAssignment_principalId_fkey" FOREIGN KEY ("principalId") REFERENCES "ServicePrincipal"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RoleAssignment" ADD CONSTRAINT "RoleAssignment_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Webhook" ADD CONSTRAINT "Webhook_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookEvent" ADD CONSTRAINT "WebhookEvent_webhookId_fkey" FOREIGN KEY ("webhookId") REFERENCES "Webhook"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Repository" ADD CONSTRAINT "Repository_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Blob" ADD CONSTRAINT "Blob_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RepositoryBlob" ADD CONSTRAINT "RepositoryBlob_repositoryId_fkey" FOREIGN KEY ("repositoryId") REFERENCES "Repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RepositoryBlob" ADD CONSTRAINT "RepositoryBlob_blobId_fkey" FOREIGN KEY ("blobId") REFERENCES "Blob"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Manifest" ADD CONSTRAINT "Manifest_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Manifest" ADD CONSTRAINT "Manifest_repositoryId_fkey" FOREIGN KEY ("repositoryId") REFERENCES "Repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ManifestBlob" ADD CONSTRAINT "ManifestBlob_manifestId_fkey" FOREIGN KEY ("manifestId") REFERENCES "Manifest"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ManifestBlob" ADD CONSTRAINT "ManifestBlob_blobId_fkey" FOREIGN KEY ("blobId") REFERENCES "Blob"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ManifestReference" ADD CONSTRAINT "ManifestReference_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Manifest"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ManifestReference" ADD CONSTRAINT "ManifestReference_childId_fkey" FOREIGN KEY ("childId") REFERENCES "Manifest"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Tag" ADD CONSTRAINT "Tag_repositoryId_fkey" FOREIGN KEY ("repositoryId") REFERENCES "Repository"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Tag" ADD CONSTRAINT "Tag_manifestId_fkey" FOREIGN KEY ("manifestId") REFERENCES "Manifest"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Upload" ADD CONSTRAINT "Upload_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RetentionRule" ADD CONSTRAINT "RetentionRule_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "Registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;
