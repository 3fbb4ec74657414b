/**
 * `extensions.lint` as Zot reads it: off unless `enable`; `mandatoryAnnotations`.
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';

export const lintSchema = z.strictObject({ enable: zot.bool.optional(), mandatoryAnnotations: zot.strList.default([]) });

export type LintConfig = z.output<typeof lintSchema>;
