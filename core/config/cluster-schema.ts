/**
 * `cluster` (scale-out: every member runs the same config; a repository's owner is chosen by SipHash of its
 * name keyed with `hashKey`) and `scheduler` (background task workers).
 */
import os from 'node:os';
import { z } from 'zod';
import { tlsSchema } from './http-schema';
import { zInt, zStr, zStrList } from './zot-scalars';

export const clusterSchema = z
  .strictObject({
    // "host:port" of every member, this node included.
    members: zStrList.default([]),
    hashKey: zStr.default(''),
    // Client TLS for node-to-node proxying.
    tls: tlsSchema.optional(),
  })
  .superRefine((cluster, ctx) => {
    if (cluster.members.length === 0) ctx.addIssue({ code: 'custom', path: ['members'], message: 'must list at least one member' });
    // SipHash takes a 128-bit key; Zot counts bytes (Go len), and so does this. The key itself is never echoed.
    const bytes = Buffer.byteLength(cluster.hashKey, 'utf8');
    if (bytes !== 16) ctx.addIssue({ code: 'custom', path: ['hashKey'], message: `must be exactly 16 characters (got ${bytes})` });
  });

export type ClusterConfig = z.output<typeof clusterSchema>;

export const schedulerSchema = z.strictObject({
  // Zot's default: four workers per CPU.
  numWorkers: zInt.refine((n) => n > 0, { message: 'must be positive' }).default(() => 4 * Math.max(1, os.availableParallelism())),
});

export type SchedulerConfig = z.output<typeof schedulerSchema>;
