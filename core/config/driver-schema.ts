/**
 * Driver parameter maps: `storage.storageDriver`, `storage.cacheDriver` and `http.auth.sessionDriver`.
 * Zot passes these maps to the driver untouched (keys lower-cased by viper), so the keys berth knows are
 * type-checked and the rest pass through for the driver to read. Which `name`s are fatal depends on other keys
 * (a cacheDriver with `remoteCache:false` is ignored), so those checks live with the storage schema.
 */
import { z } from 'zod';
import { lowerCaseKeys } from './canonicalize-keys';
import { zBool, zDuration, zInt, zReqStr, zStr, zStrList } from './zot-scalars';

export const CLOUD_STORAGE_DRIVERS = ['s3', 'gcs', 'azure'] as const;
export type CloudStorageDriverName = (typeof CLOUD_STORAGE_DRIVERS)[number];

export const storageDriverSchema = lowerCaseKeys(
  z
    .looseObject({
      name: zReqStr,
      rootdirectory: zStr.optional(), // object-key prefix in the bucket/container
      // s3 (distribution's driver parameters)
      bucket: zStr.optional(),
      region: zStr.optional(),
      regionendpoint: zStr.optional(),
      forcepathstyle: zBool.optional(),
      secure: zBool.optional(),
      skipverify: zBool.optional(),
      accesskey: zStr.optional(),
      secretkey: zStr.optional(),
      sessiontoken: zStr.optional(),
      v4auth: zBool.optional(),
      encrypt: zBool.optional(),
      keyid: zStr.optional(),
      storageclass: zStr.optional(),
      objectacl: zStr.optional(),
      chunksize: zInt.optional(),
      multipartcopychunksize: zInt.optional(),
      multipartcopymaxconcurrency: zInt.optional(),
      multipartcopythresholdsize: zInt.optional(),
      usedualstack: zBool.optional(),
      accelerate: zBool.optional(),
      // gcs
      keyfile: zStr.optional(),
      // azure
      accountname: zStr.optional(),
      accountkey: zStr.optional(),
      container: zStr.optional(),
    })
    // Which names are allowed depends on `extensions` (a third-party module may register a kind): cross-checks.ts.
    .superRefine((driver, ctx) => {
      if (driver.name === 's3') {
        if (!driver.bucket) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'required for the s3 driver' });
        if (!driver.region && !driver.regionendpoint) {
          ctx.addIssue({ code: 'custom', path: ['region'], message: 'required for the s3 driver unless regionendpoint is set' });
        }
        // berth's own keys (the driver reads them, untransformed): checked here so `berth verify` names them too.
        for (const key of ['connecttimeout', 'responsetimeout'] as const) {
          const value = (driver as Record<string, unknown>)[key];
          if (value === undefined || value === null || value === '') continue;
          const parsed = zDuration.safeParse(value);
          if (!parsed.success) ctx.addIssue({ code: 'custom', path: [key], message: parsed.error.issues[0]?.message ?? 'expected a duration such as "30s"' });
          else if (parsed.data <= 0) ctx.addIssue({ code: 'custom', path: [key], message: 'must be more than 0' });
        }
      }
    })
    .transform((driver) => {
      // Zot's gcs and azure drivers store under /zot when no prefix is given.
      if ((driver.name === 'gcs' || driver.name === 'azure') && driver.rootdirectory === undefined) return { ...driver, rootdirectory: '/zot' };
      return driver;
    }),
);

/** `name` is one of {@link CLOUD_STORAGE_DRIVERS}, or a kind a third-party extension registers. */
export type StorageDriverConfig = z.output<typeof storageDriverSchema>;

export function isZotStorageDriver(name: string): name is CloudStorageDriverName {
  return (CLOUD_STORAGE_DRIVERS as readonly string[]).includes(name);
}

export const CACHE_DRIVERS = ['boltdb', 'dynamodb', 'redis'] as const;

export const cacheDriverSchema = lowerCaseKeys(
  z.looseObject({
    name: zReqStr,
    // dynamodb
    endpoint: zStr.optional(),
    region: zStr.optional(),
    cachetablename: zStr.optional(),
    repometatablename: zStr.optional(),
    imagemetatablename: zStr.optional(),
    repoblobsinfotablename: zStr.optional(),
    userdatatablename: zStr.optional(),
    apikeytablename: zStr.optional(),
    versiontablename: zStr.optional(),
    // redis: `url`, or `addr` for a cluster/sentinel; pool and timeout options pass through to the client.
    url: zStr.optional(),
    addr: zStrList.optional(),
    db: zInt.optional(),
    username: zStr.optional(),
    password: zStr.optional(),
    keyprefix: zStr.optional(),
  })
    // Zot prefixes its redis keys with "zot" unless told otherwise.
    .transform((driver) => (driver.name === 'redis' && driver.keyprefix === undefined ? { ...driver, keyprefix: 'zot' } : driver)),
);

export type CacheDriverConfig = z.output<typeof cacheDriverSchema>;

export const SESSION_DRIVERS = ['redis', 'local'] as const;

export const sessionDriverSchema = lowerCaseKeys(
  z.looseObject({ name: zReqStr, url: zStr.optional(), keyprefix: zStr.optional() }).superRefine((driver, ctx) => {
    if (!(SESSION_DRIVERS as readonly string[]).includes(driver.name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `session store driver ${JSON.stringify(driver.name)} is not allowed (expected redis or local)` });
    }
  }),
);

export type SessionDriverConfig = z.output<typeof sessionDriverSchema>;
