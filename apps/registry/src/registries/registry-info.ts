/** What the data plane needs to know about a registry on every request (cached briefly per host). */
export interface RegistryInfo {
  id: string;
  name: string;
  /** `<name>.<domain>`, lower-case, without port: the token audience. */
  loginServer: string;
  adminUserEnabled: boolean;
  anonymousPullEnabled: boolean;
  sku: SkuLimits;
}

export interface SkuLimits {
  name: string;
  includedStorageBytes: number;
  readOpsPerMinute: number;
  writeOpsPerMinute: number;
  maxLayerBytes: number;
  maxManifestBytes: number;
}
