import { defineExtension, ManifestInvalid } from '../../core/extensions/api';
import { lintSchema, type LintConfig } from './schema';
import { linted, missingAnnotations } from './mandatory-annotations';

/**
 * Zot's `extensions.lint`: an OCI image manifest (not an index, not a signature) lacking any of
 * `mandatoryAnnotations` in its annotations or its config's labels is refused with 400 MANIFEST_INVALID
 * naming the missing keys, whoever writes it: a push, periodic sync or a pull-through. As in Zot, the section
 * is off unless `enable` is true, and a change takes effect after a restart.
 */
export default defineExtension<LintConfig>({
  name: 'lint',
  apiVersion: 1,
  configSchema: lintSchema,
  register(ctx) {
    const { enable, mandatoryAnnotations } = ctx.config;
    if (enable !== true || mandatoryAnnotations.length === 0) return; // Zot: nothing to check
    ctx.manifestValidators.add(async (write) => {
      if (!linted(write)) return;
      const missing = await missingAnnotations(write, mandatoryAnnotations);
      if (missing.length === 0) return;
      const config = write.manifest.config?.digest;
      ctx.logger.warn({ repo: write.repo, reference: write.reference, digest: write.digest, writer: write.writer, missing }, 'lint: manifest refused, mandatory annotations missing');
      throw ManifestInvalid({
        reason: `lint: manifest ${write.digest} or config ${config} is missing the mandatory annotations: ${missing.join(', ')}`,
        missingAnnotations: missing,
      });
    });
  },
});
