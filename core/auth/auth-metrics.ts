import { Counter, type Registry as PromRegistry } from 'prom-client';

/**
 * What went wrong when a request was refused: `credentials` (a wrong password, unknown user or malformed
 * header), `token` (a bearer token that does not verify), `certificate` (a client certificate no method
 * accepts), `session` (a browser session cookie that is tampered with, expired or ended), `denied`
 * (authenticated, but the policies do not allow it: a 403). Anonymous requests asked to log
 * in are not failures: every client's first request to /v2/ is one.
 */
export type AuthFailureReason = 'credentials' | 'token' | 'certificate' | 'session' | 'denied';

/** berth's authentication series (Zot has none). */
export interface AuthMetrics {
  failures: Counter<'reason'>;
  tokensIssued: Counter;
}

export function createAuthMetrics(registry: PromRegistry): AuthMetrics {
  const registers = [registry];
  return {
    failures: new Counter({ name: 'berth_auth_failures_total', help: 'Requests refused for their credentials or by the policies, by reason', labelNames: ['reason'], registers }),
    tokensIssued: new Counter({ name: 'berth_auth_tokens_issued_total', help: "Tokens issued by berth's token service", registers }),
  };
}
