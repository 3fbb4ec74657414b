import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, jwtVerify } from 'jose';
import type { Logger } from 'pino';
import type { Authenticator, AuthRequest, Identity } from '../../core/extensions/api';

export interface BearerOptions {
  realm: string;
  service: string;
  /** PEM certificate (or public key) of the token issuer. */
  cert: string;
}

interface AccessClaim {
  type: string;
  name: string;
  actions: string[];
}

// Asymmetric algorithms only: the registry holds a public key, so an HMAC token "signed" with it is a forgery.
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CLOCK_TOLERANCE_S = 30;

/**
 * Docker token protocol (`http.auth.bearer`): a JWT from the token service at `realm`, signed by the key in
 * `cert`, whose audience is `service`. Its `access` claims are the grants; `sub` is the user.
 */
export function createBearerAuthenticator(opts: BearerOptions, logger: Logger): Authenticator {
  const key: KeyObject = createPublicKey(readFileSync(opts.cert));
  return {
    name: 'bearer',
    async authenticate(req: AuthRequest): Promise<Identity | { failure: string } | undefined> {
      if (req.bearer === undefined) return undefined;
      try {
        const { payload } = await jwtVerify(req.bearer, key, {
          audience: opts.service,
          algorithms: ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_S,
        });
        return { user: typeof payload.sub === 'string' ? payload.sub : '', groups: [], via: 'bearer', access: accessClaims(payload.access) };
      } catch (err) {
        const reason = err instanceof errors.JOSEError ? err.code : 'invalid token';
        logger.debug({ reason }, 'bearer token rejected');
        return { failure: reason };
      }
    },
  };
}

function accessClaims(raw: unknown): AccessClaim[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((c): AccessClaim[] => {
    const claim = c as Partial<AccessClaim>;
    if (typeof claim?.type !== 'string' || typeof claim.name !== 'string' || !Array.isArray(claim.actions)) return [];
    return [{ type: claim.type, name: claim.name, actions: claim.actions.filter((a): a is string => typeof a === 'string') }];
  });
}
