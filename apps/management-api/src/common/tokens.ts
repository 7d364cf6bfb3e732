/** Injection tokens of the app-wide providers built by createManagementApp. */
export const CONFIG = Symbol('BerthConfig');
export const DB = Symbol('Db');
/** Plain-SQL pool (SqlPool) for the transactions shared with the data plane. */
export const SQL = Symbol('SqlPool');
export const REDIS = Symbol('Redis');
export const LOGGER = Symbol('Logger');
export const SECRET_BOX = Symbol('SecretBox');
export const SECRET_HASHER = Symbol('SecretHasher');
export const METRICS = Symbol('HttpMetrics');
