/**
 * Zot's config scalars for extension schemas, exported from the extension API as `zot`: values decode as Zot's
 * loader (viper + mapstructure, weakly typed) decodes them, so a config written for Zot validates the same way
 * in an extension's own schema. `block` is a Zot extension section: `null` (how viper reports a bare key) is `{}`.
 */
import { z } from 'zod';
import { isValidGlob, isValidGoRegex } from '../config/pattern-checks';
import { zBool, zDuration, zInt, zList, zNonNegInt, zNumber, zReqStr, zStr, zStrList } from '../config/zot-scalars';

export {
  zBool as bool, zDuration as duration, zInt as int, zList as list, zNonNegInt as nonNegInt, zNumber as number,
  zReqStr as reqStr, zStr as str, zStrList as strList,
};
/** Doublestar glob syntax as Zot compiles it (accessControl repositories, sync prefixes). */
export const isGlob = isValidGlob;
/** Go RE2 syntax as Zot compiles it (tag filters). */
export const isGoRegex = isValidGoRegex;

export function block<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null ? {} : v), schema);
}
